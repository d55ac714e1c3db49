//! The compose program (v1 or v2), the allow-list every command passes, and the
//! service operations built on them.

use std::collections::BTreeMap;
use std::ffi::OsString;
use std::time::{Duration, Instant};

use config::Environment;

use crate::command::{Cmd, PgTool};
use crate::state::{ContainerState, Decision, ServiceSpec, ServiceState};
use crate::{ComposeError, DatabaseTarget};

/// Which compose implementation runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flavor {
    /// `docker compose` (the CLI plugin).
    V2,
    /// `docker-compose` (the Python tool).
    V1,
}

impl Flavor {
    /// Both flavors, v2 first.
    pub const ALL: [Flavor; 2] = [Flavor::V2, Flavor::V1];

    /// The program and its leading arguments.
    fn program(self) -> (&'static str, &'static [&'static str]) {
        match self {
            Flavor::V2 => ("docker", &["compose"]),
            Flavor::V1 => ("docker-compose", &[]),
        }
    }

    /// `docker compose` or `docker-compose`, for messages.
    pub fn command_name(self) -> &'static str {
        match self {
            Flavor::V2 => "docker compose",
            Flavor::V1 => "docker-compose",
        }
    }

    /// Does this flavor run here? For v2, the plugin file in one of the
    /// folders the docker CLI searches answers without a process (about
    /// 0.1 s saved per drydock command); otherwise `version` is asked.
    pub fn available(self) -> bool {
        if self == Flavor::V2 && v2_plugin_installed() {
            return true;
        }
        let (program, lead) = self.program();
        let mut args: Vec<&str> = lead.to_vec();
        args.push("version");
        duct::cmd(program, args).stdout_null().stderr_null().unchecked().run().is_ok_and(|o| o.status.success())
    }
}

/// The compose plugin in the folders the docker CLI searches for plugins
/// (`$DOCKER_CONFIG/cli-plugins`, `~/.docker/cli-plugins`, then the system folders).
fn v2_plugin_installed() -> bool {
    let config = std::env::var_os("DOCKER_CONFIG")
        .map(std::path::PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| std::path::Path::new(&h).join(".docker")));
    let system = [
        "/usr/local/lib/docker/cli-plugins",
        "/usr/local/libexec/docker/cli-plugins",
        "/usr/lib/docker/cli-plugins",
        "/usr/libexec/docker/cli-plugins",
    ];
    config.map(|c| c.join("cli-plugins")).into_iter().chain(system.iter().map(std::path::PathBuf::from)).any(|dir| {
        use std::os::unix::fs::PermissionsExt;
        std::fs::metadata(dir.join("docker-compose")).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
    })
}

/// A project name both compose versions use verbatim as their label
/// (`[a-z0-9][a-z0-9_-]*`); v1 would rewrite any other spelling.
fn is_plain_project_name(name: &str) -> bool {
    name.starts_with(|c: char| c.is_ascii_lowercase() || c.is_ascii_digit())
        && name.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_' || c == '-')
}

/// The compose subcommands drydock may run. `down`, `rm`, `kill`, `restart`
/// and friends are absent on purpose; `pull` only names app services.
const ALLOWED_SUBCOMMANDS: [&str; 9] = ["config", "build", "pull", "stop", "start", "up", "ps", "logs", "version"];

/// Arguments no drydock command may carry (volume removal).
const FORBIDDEN_ARGS: [&str; 3] = ["-v", "--volumes", "--remove-orphans"];

/// Compose bound to one environment.
#[derive(Debug, Clone)]
pub struct Compose {
    flavor: Flavor,
    env: Environment,
    /// The id of the running database container last found (shared by
    /// clones): which container it is, never its state, which is inspected
    /// afresh every time (crates/compose/src/database.rs).
    pub(crate) database_id: std::sync::Arc<std::sync::Mutex<Option<String>>>,
    /// compose's resolved model, read once (shared by clones; see
    /// [`Compose::config_model`]).
    pub(crate) model: std::sync::Arc<std::sync::Mutex<Option<serde_json::Value>>>,
}

impl Compose {
    /// Detects the flavor: `DRYDOCK_COMPOSE` (`v1`/`v2`) if set, else v2 when
    /// `docker compose version` works, else v1.
    pub fn detect(env: &Environment) -> Result<Compose, ComposeError> {
        let flavor = match std::env::var("DRYDOCK_COMPOSE").ok().as_deref() {
            Some("v2") | Some("docker compose") => Flavor::V2,
            Some("v1") | Some("docker-compose") => Flavor::V1,
            Some(other) if !other.is_empty() => {
                return Err(ComposeError::NotInstalled {
                    detail: format!("DRYDOCK_COMPOSE={other} is neither v1 nor v2"),
                })
            }
            _ if Flavor::V2.available() => Flavor::V2,
            _ if Flavor::V1.available() => Flavor::V1,
            _ => return Err(ComposeError::NotInstalled { detail: "`docker compose version` failed".into() }),
        };
        Ok(Compose::with_flavor(env, flavor))
    }

    /// Compose with a given flavor (tests run both).
    pub fn with_flavor(env: &Environment, flavor: Flavor) -> Compose {
        Compose { flavor, env: env.clone(), database_id: Default::default(), model: Default::default() }
    }

    /// The flavor in use.
    pub fn flavor(&self) -> Flavor {
        self.flavor
    }

    /// The environment this compose is bound to.
    pub fn environment(&self) -> &Environment {
        &self.env
    }

    /// The allow-list every rendered compose argv passes: known subcommands
    /// only, no volume-removing flag, `pull` of app services only.
    fn admit(&self, args: &[&str]) -> Result<(), ComposeError> {
        let sub = args.first().copied().unwrap_or_default();
        if !ALLOWED_SUBCOMMANDS.contains(&sub) {
            return Err(ComposeError::Refused {
                reason: format!("compose subcommand `{sub}` is not one drydock runs"),
            });
        }
        if let Some(bad) = args.iter().find(|a| FORBIDDEN_ARGS.contains(a)) {
            return Err(ComposeError::Refused { reason: format!("compose flag `{bad}` would remove data") });
        }
        if sub == "pull" {
            // Only app services are pulled: a new database image is never
            // fetched behind the operator's back, and no flag rides along.
            let apps = self.env.app_services().names();
            let operands = &args[1..];
            if operands.is_empty() {
                return Err(ComposeError::Refused { reason: "`pull` must name the app services to pull".into() });
            }
            if let Some(bad) = operands.iter().find(|a| !apps.iter().any(|s| s == *a)) {
                return Err(ComposeError::Refused {
                    reason: format!("`pull {bad}`: only app services are pulled ({})", apps.join(", ")),
                });
            }
        }
        Ok(())
    }

    /// The command `cmd` as an expression: `docker ARGS`, or compose's
    /// program, `-f` files, `-p` project, then the args. As a second lock
    /// behind [`Cmd`], refuses compose subcommands outside the allow-list and
    /// volume-removing flags.
    fn command(&self, cmd: &Cmd<'_>) -> Result<duct::Expression, ComposeError> {
        if !cmd.is_compose() {
            return Ok(self.docker(cmd));
        }
        let rendered = cmd.args();
        let args: Vec<&str> = rendered.iter().map(String::as_str).collect();
        self.admit(&args)?;
        let (program, lead) = self.flavor.program();
        let mut argv: Vec<OsString> = lead.iter().map(OsString::from).collect();
        for file in self.env.compose_files() {
            argv.push("-f".into());
            argv.push(file.as_os_str().to_owned());
        }
        if let Some(project) = self.env.project_name() {
            argv.push("-p".into());
            argv.push(project.into());
        }
        argv.extend(args.iter().map(OsString::from));
        let mut expr = duct::cmd(program, argv).dir(self.env.root());
        if cmd.own_process_group() {
            // A Ctrl-C meant for drydock must not kill these halfway; drydock
            // decides (stops between steps, brings the app back).
            expr = expr.before_spawn(|cmd| {
                use std::os::unix::process::CommandExt;
                cmd.process_group(0);
                Ok(())
            });
        }
        Ok(self.with_docker_host(expr))
    }

    /// `docker ARGS` of a docker (not compose) command, with `DOCKER_HOST` set.
    fn docker(&self, cmd: &Cmd<'_>) -> duct::Expression {
        debug_assert!(!cmd.is_compose(), "{cmd:?} is a compose command");
        let mut expr = duct::cmd("docker", cmd.args());
        if cmd.own_process_group() {
            expr = expr.before_spawn(|cmd| {
                use std::os::unix::process::CommandExt;
                cmd.process_group(0);
                Ok(())
            });
        }
        self.with_docker_host(expr)
    }

    fn with_docker_host(&self, expr: duct::Expression) -> duct::Expression {
        match self.env.docker_host() {
            Some(host) => expr.env("DOCKER_HOST", host),
            None => expr,
        }
    }

    /// Runs an expression to completion, returning stdout; on failure, the
    /// error carries the last lines of stderr.
    fn capture(&self, expr: duct::Expression, shown: &str) -> Result<String, ComposeError> {
        let out = expr
            .stdin_null()
            .stdout_capture()
            .stderr_capture()
            .unchecked()
            .run()
            .map_err(|e| ComposeError::CommandFailed { command: shown.to_owned(), detail: e.to_string() })?;
        if out.status.success() {
            return Ok(String::from_utf8_lossy(&out.stdout).into_owned());
        }
        let stderr = String::from_utf8_lossy(&out.stderr);
        Err(self.classify(shown, &stderr))
    }

    /// Turns a failed command's stderr into the most useful error.
    fn classify(&self, shown: &str, stderr: &str) -> ComposeError {
        let lower = stderr.to_lowercase();
        if lower.contains("cannot connect to the docker daemon")
            || lower.contains("is the docker daemon running")
            || lower.contains("couldn't connect to docker daemon")
            || lower.contains("error while fetching server api version")
        {
            return ComposeError::EngineUnreachable {
                docker_host: self.env.docker_host().map(str::to_owned),
                detail: last_lines(stderr, 1),
            };
        }
        ComposeError::CommandFailed { command: shown.to_owned(), detail: last_lines(stderr, 15) }
    }

    /// Runs `cmd` to completion and returns its stdout.
    pub(crate) fn run(&self, cmd: &Cmd<'_>) -> Result<String, ComposeError> {
        self.capture(self.command(cmd)?, &cmd.shown(self.flavor.command_name()))
    }

    /// Checks that the engine answers; the error says how to start it.
    pub fn ping(&self) -> Result<(), ComposeError> {
        self.run(&Cmd::ServerVersion).map(drop)
    }

    /// The engine's API version (`1.41`, `1.47`, ...).
    pub fn server_api_version(&self) -> Result<String, ComposeError> {
        let out = self.run(&Cmd::ServerApiVersion)?;
        Ok(out.trim().to_owned())
    }

    /// The services the compose files define (the keys of `services` in
    /// [`Compose::config_model`]); also validates the compose files.
    pub fn services(&self) -> Result<Vec<String>, ComposeError> {
        let model = self.config_model()?;
        let services = model.get("services").and_then(|s| s.as_object()).ok_or_else(|| ComposeError::Unexpected {
            detail: "compose config: the resolved model has no `services` mapping".into(),
        })?;
        Ok(services.keys().cloned().collect())
    }

    /// Validates the compose files and that every configured service is defined.
    pub fn check(&self) -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
        let defined = self.services()?;
        self.env.check_services_defined(&defined)?;
        Ok(())
    }

    /// Starts the database service only if it is not running: `start` an
    /// existing stopped container (never recreate it), or create it when none
    /// exists (first deploy). Returns whether anything was started.
    pub fn start_database_if_stopped(&self) -> Result<bool, ComposeError> {
        let db = self.env.database_service();
        match self.running_database()? {
            Ok(_) => return Ok(false),
            Err(stopped) if stopped.is_empty() => self.run(&Cmd::Create(db))?,
            Err(_) => self.run(&Cmd::Start(db))?,
        };
        Ok(true)
    }

    /// Ids of the service's containers, running or not (one-off `run`
    /// containers excluded).
    /// With a configured project name, `docker ps` by compose's labels answers
    /// what `compose ps` would, without compose loading the files (0.1 s less).
    pub fn container_ids(&self, service: &str) -> Result<Vec<String>, ComposeError> {
        let project = self.env.project_name().filter(|p| is_plain_project_name(p));
        let out = match project {
            Some(project) => self.run(&Cmd::PsByLabels { project, service: Some(service) })?,
            None => self.run(&Cmd::Ps(service))?,
        };
        Ok(out.lines().map(str::trim).filter(|l| !l.is_empty()).map(str::to_owned).collect())
    }

    /// The service's containers, read with `docker inspect`.
    pub fn containers(&self, service: &str) -> Result<Vec<ContainerState>, ComposeError> {
        let ids = self.container_ids(service)?;
        let mut all = self.inspect(&ids)?;
        all.retain(|c| !c.oneoff);
        Ok(all)
    }

    /// The containers of each of `services` (one-off `run` containers left
    /// out): under a plain project name one `docker ps` and one `docker
    /// inspect` for all of them, else [`containers`](Self::containers) per service.
    pub fn containers_of(&self, services: &[String]) -> Result<BTreeMap<String, Vec<ContainerState>>, ComposeError> {
        let mut of: BTreeMap<String, Vec<ContainerState>> = services.iter().map(|s| (s.clone(), Vec::new())).collect();
        let Some(project) = self.env.project_name().filter(|p| is_plain_project_name(p)) else {
            for service in services {
                of.insert(service.clone(), self.containers(service)?);
            }
            return Ok(of);
        };
        // A container removed between the two (a one-off `run --rm`) fails
        // the inspect: ask again, twice at most.
        let mut attempt = 0;
        let all = loop {
            let out = self.run(&Cmd::PsByLabels { project, service: None })?;
            let ids: Vec<String> = out.lines().map(str::trim).filter(|l| !l.is_empty()).map(str::to_owned).collect();
            match self.inspect(&ids) {
                Err(_) if attempt < 2 => attempt += 1,
                inspected => break inspected?,
            }
        };
        for c in all {
            if let Some(list) = of.get_mut(&c.service).filter(|_| !c.oneoff) {
                list.push(c);
            }
        }
        Ok(of)
    }

    /// `docker inspect` of the given containers.
    pub fn inspect(&self, ids: &[String]) -> Result<Vec<ContainerState>, ComposeError> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let out = self.run(&Cmd::Inspect(ids))?;
        ContainerState::parse_inspect(&out)
    }

    /// State of every configured service: the database first, then the app services.
    pub fn states(&self) -> Result<Vec<ServiceState>, ComposeError> {
        let services = self.env.configured_services();
        let mut of = self.containers_of(&services)?;
        Ok(services
            .into_iter()
            .map(|service| ServiceState { containers: of.remove(&service).unwrap_or_default(), service })
            .collect())
    }

    /// Waits until every container of `services` is running and healthy (or
    /// running, where no healthcheck is defined). Fails at once on an exited
    /// or unhealthy container, and after `timeout` otherwise; the error names
    /// each container that is not ready, with its last log lines.
    pub fn wait_healthy(&self, services: &[String], timeout: Duration) -> Result<Ready, ComposeError> {
        let deadline = Instant::now() + timeout;
        // A container counts as ready when two polls in a row see it ready with
        // the same start time and restart count, so a crash loop between polls
        // (restart policies) is not mistaken for a healthy service; one without
        // a healthcheck must also have run for SETTLE.
        let mut previous: BTreeMap<String, (String, i64)> = BTreeMap::new();
        loop {
            let mut waiting = Vec::new();
            let mut failed = Vec::new();
            let mut seen = BTreeMap::new();
            let mut ready = Ready::default();
            let mut of = self.containers_of(services)?;
            for service in services {
                let containers = of.remove(service).unwrap_or_default();
                if containers.is_empty() {
                    waiting.push(format!("{service}: no container"));
                }
                let how = match () {
                    _ if containers.iter().all(|c| c.is_done()) => &mut ready.finished,
                    _ if containers.iter().all(|c| c.is_done() || c.health.is_some()) => &mut ready.healthy,
                    _ => &mut ready.settled,
                };
                how.push(service.clone());
                for c in containers {
                    let identity = (c.started_at.clone(), c.restart_count);
                    let before = previous.get(&c.id);
                    let restarted = before.is_some_and(|(_, count)| c.restart_count > *count);
                    let state = match restarted {
                        // Running again already: its exit code is the new run's (0).
                        true => format!("restarted {} time(s) during the wait (crash loop)", c.restart_count),
                        false => c.describe(),
                    };
                    let line = format!("{service} ({}): {state}", short_id(&c.id));
                    if c.has_failed() || restarted {
                        failed.push((line, c.id.clone()));
                    } else if c.is_done() {
                        // A one-shot service that finished: nothing to wait for.
                    } else if !c.is_ready() || before != Some(&identity) || !settled(&c) {
                        waiting.push(line);
                    }
                    seen.insert(c.id.clone(), identity);
                }
            }
            previous = seen;
            if !failed.is_empty() {
                return Err(ComposeError::NotHealthy { report: self.report(&failed) });
            }
            if waiting.is_empty() {
                return Ok(ready);
            }
            if Instant::now() >= deadline {
                let mut report = format!("timed out after {} s", timeout.as_secs());
                for w in &waiting {
                    report.push_str(&format!("\n  {w}"));
                }
                for service in services {
                    for c in self.containers(service).unwrap_or_default() {
                        if !c.is_ready() && !c.is_done() {
                            report.push_str(&format!(
                                "\n  last log lines of {service}:\n{}",
                                self.last_log_lines(&c.id, 10)
                            ));
                        }
                    }
                }
                return Err(ComposeError::NotHealthy { report });
            }
            std::thread::sleep(Duration::from_millis(250));
        }
    }

    fn report(&self, failed: &[(String, String)]) -> String {
        let mut report = String::new();
        for (line, id) in failed {
            if !report.is_empty() {
                report.push('\n');
            }
            report.push_str(&format!("  {line}\n  last log lines:\n{}", self.last_log_lines(id, 10)));
        }
        report
    }

    /// The last `n` log lines of a container, indented, for error reports.
    pub fn last_log_lines(&self, id: &str, n: usize) -> String {
        let out = self
            .docker(&Cmd::ContainerLogs { tail: n, id })
            .stdin_null()
            .stderr_to_stdout()
            .stdout_capture()
            .unchecked()
            .run();
        match out {
            Ok(out) => String::from_utf8_lossy(&out.stdout).lines().map(|l| format!("    | {l}\n")).collect(),
            Err(e) => format!("    (no logs: {e})\n"),
        }
    }

    /// `logs` of the given services (all configured ones when empty), for the
    /// caller to run with its own stdout.
    pub fn logs(
        &self,
        services: &[String],
        follow: bool,
        tail: Option<usize>,
    ) -> Result<duct::Expression, ComposeError> {
        self.command(&Cmd::Logs { follow, tail, services })
    }

    /// `docker exec <container> <tool> <args...>`: a PostgreSQL client program
    /// in the running database container, by the id a [`DatabaseTarget`]
    /// read a moment ago ([`DatabaseTarget::container_id`]: no other
    /// program, no other container, so pg_dump and drydock's connections
    /// reach the same server, and no second engine lookup), no TTY, no
    /// stdin (no caller sends any; older engines could hang on an attached
    /// empty one), stdout free for the caller to stream. Killing the docker
    /// client does not stop the program in the container: the engine does
    /// not signal it. Environment variables
    /// named in `env_names` are passed through from drydock's own environment
    /// (values never enter argv). A container that stopped since its lookup
    /// fails the exec with the engine's own word.
    pub fn exec_pg(
        &self,
        target: &DatabaseTarget,
        tool: PgTool,
        args: &[&str],
        env_names: &[&str],
    ) -> Result<duct::Expression, ComposeError> {
        self.command(&Cmd::Exec { container: target.container_id(), env_names, tool, args })
    }

    /// The services as `compose config` resolves them: image, build, pull
    /// policy, restart policy (for pulls and one-shot services).
    pub fn specs(&self) -> Result<Vec<ServiceSpec>, ComposeError> {
        ServiceSpec::from_model(self.config_model()?)
    }

    /// The id of the local image `reference` names, or `None` when there is none.
    pub fn image_id(&self, reference: &str) -> Result<Option<String>, ComposeError> {
        let out = self
            .docker(&Cmd::ImageId(reference))
            .stdin_null()
            .stdout_capture()
            .stderr_capture()
            .unchecked()
            .run()
            .map_err(|e| ComposeError::CommandFailed {
                command: "docker image inspect".into(),
                detail: e.to_string(),
            })?;
        if out.status.success() {
            return Ok(Some(String::from_utf8_lossy(&out.stdout).trim().to_owned()));
        }
        let stderr = String::from_utf8_lossy(&out.stderr);
        if stderr.to_lowercase().contains("no such image") {
            return Ok(None);
        }
        Err(self.classify("docker image inspect", &stderr))
    }

    /// The configuration hash compose would give each service now
    /// (`config --hash=*`), to compare with the `com.docker.compose.config-hash`
    /// label of its running container.
    pub fn config_hashes(&self) -> Result<BTreeMap<String, String>, ComposeError> {
        let out = self.run(&Cmd::ConfigHashes)?;
        Ok(out
            .lines()
            .filter_map(|l| l.trim().split_once(' '))
            .map(|(service, hash)| (service.to_owned(), hash.trim().to_owned()))
            .collect())
    }

    /// Whether a service with these containers (none: not created yet) keeps running.
    pub(crate) fn decide(
        &self,
        containers: &[ContainerState],
        hash: Option<&String>,
    ) -> Result<Decision, ComposeError> {
        if containers.is_empty() {
            return Ok(Decision::Restart("no container yet".into()));
        }
        for c in containers {
            if c.status != "running" && !c.is_done() {
                return Ok(Decision::Restart(format!("its container is {}", c.describe())));
            }
            match self.image_id(&c.image)? {
                Some(id) if id == c.image_id => {}
                Some(_) => return Ok(Decision::Restart(format!("new image for {}", c.image))),
                None => return Ok(Decision::Restart(format!("{} is no longer a local image", c.image))),
            }
            match (hash, &c.config_hash) {
                (Some(now), Some(then)) if now == then => {}
                (Some(_), Some(_)) => return Ok(Decision::Restart("compose configuration changed".into())),
                _ => return Ok(Decision::Restart("configuration hash unknown".into())),
            }
        }
        Ok(Decision::Keep)
    }

    /// Tags an image (used to keep the previous app images for rollback).
    pub fn tag_image(&self, image_id: &str, tag: &str) -> Result<(), ComposeError> {
        self.run(&Cmd::Tag { image_id, tag }).map(drop)
    }
}

/// What [`Compose::wait_healthy`] confirmed of each service it waited for.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Ready {
    /// Services whose every container reported `healthy` by its healthcheck.
    pub healthy: Vec<String>,
    /// Services without a healthcheck: running for [`SETTLE`], not restarted.
    pub settled: Vec<String>,
    /// One-shot services that exited 0.
    pub finished: Vec<String>,
}

impl std::fmt::Display for Ready {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let parts = [
            (&self.healthy, "healthy".to_owned()),
            (&self.settled, format!("running {} s, not restarted (no healthcheck)", SETTLE.as_secs())),
            (&self.finished, "finished (exit 0)".to_owned()),
        ];
        let said: Vec<String> =
            parts.iter().filter(|(s, _)| !s.is_empty()).map(|(s, how)| format!("{} {how}", s.join(", "))).collect();
        f.write_str(&said.join("; "))
    }
}

/// Without a healthcheck, "running" alone says little about a process that
/// crashes a second after its start: such a container must have run for
/// [`SETTLE`] before it counts as ready.
fn settled(c: &ContainerState) -> bool {
    c.health.is_some() || c.uptime().is_some_and(|up| up >= SETTLE)
}

/// How long a container without a healthcheck must run before it counts as ready.
pub const SETTLE: Duration = Duration::from_secs(3);

/// The first 12 characters of a container id.
pub fn short_id(id: &str) -> &str {
    &id[..id.len().min(12)]
}

/// The last `n` non-blank lines of `text` (a failed program's stderr, in
/// errors): the one helper for it, also used by crates/backup.
pub fn last_lines(text: &str, n: usize) -> String {
    let lines: Vec<&str> = text.lines().filter(|l| !l.trim().is_empty()).collect();
    lines[lines.len().saturating_sub(n)..].join("\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env() -> Environment {
        let root = camino::Utf8PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..");
        let text = r#"
[workspace.metadata.deploy.environments.t]
compose-files = ["demo/docker-compose.yml"]
database-service = "postgres"
app-services = ["api"]
"#;
        config::Config::parse(&root, text).unwrap().environment("t").unwrap()
    }

    #[test]
    fn destructive_subcommands_and_flags_are_unrepresentable() {
        let compose = Compose::with_flavor(&env(), Flavor::V2);
        for args in [
            &["down"][..],
            &["rm", "-f"],
            &["kill"],
            &["restart"],
            &["up", "-d", "--remove-orphans"],
            &["down", "-v"],
            &["stop", "-v"],
        ] {
            assert!(matches!(compose.admit(args), Err(ComposeError::Refused { .. })), "{args:?}");
        }
        assert!(compose.admit(&["stop", "api"]).is_ok());
    }

    #[test]
    fn a_subset_names_app_services_only() {
        let compose = Compose::with_flavor(&env(), Flavor::V2);
        let apps = compose.app_services();
        assert_eq!(apps.subset(&["api".into()]).unwrap().names(), ["api"]);
        for names in [&["postgres".to_owned()][..], &["api".into(), "postgres".into()], &["API".into()]] {
            assert!(matches!(apps.subset(names), Err(ComposeError::Refused { .. })), "{names:?}");
        }
        // An empty list would make compose act on every service: refused when it runs.
        assert!(matches!(apps.subset(&[]).unwrap().stop(), Err(ComposeError::Refused { .. })));
    }

    #[test]
    fn pull_names_app_services_only() {
        let compose = Compose::with_flavor(&env(), Flavor::V2);
        for args in [
            &["pull"][..],
            &["pull", "postgres"],
            &["pull", "api", "postgres"],
            &["pull", "--include-deps", "api"],
            &["pull", "-q", "api"],
            &["pull", "API"],
            &["pull", "api "],
        ] {
            assert!(matches!(compose.admit(args), Err(ComposeError::Refused { .. })), "{args:?}");
        }
        assert!(compose.admit(&["pull", "api"]).is_ok());
    }

    /// Only names both compose versions keep verbatim are looked up by label.
    #[test]
    fn plain_project_names() {
        assert!(super::is_plain_project_name("drydock-demo-prod"));
        assert!(super::is_plain_project_name("app_2"));
        assert!(!super::is_plain_project_name("My.App"));
        assert!(!super::is_plain_project_name("-x"));
        assert!(!super::is_plain_project_name(""));
    }
}
