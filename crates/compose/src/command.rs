//! `Cmd`: every compose and docker command drydock runs, and the one place
//! their argv is rendered. There is no free-form argv: a command that is not
//! a variant here cannot be run through [`Compose`](crate::Compose).
//!
//! ```compile_fail,E0624
//! // No argv of the caller's choosing reaches compose.
//! fn anything(compose: &compose::Compose) {
//!     let _ = compose.run(&["down", "-v"]);
//! }
//! ```

/// The PostgreSQL client programs that run inside the database container
/// (`docker exec`): no other program is ever exec'ed there.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PgTool {
    /// `pg_dump`, for backups.
    PgDump,
    /// `psql`, for one read-only query or the scratch database of a restore test.
    Psql,
}

impl PgTool {
    /// The program's name.
    pub fn program(self) -> &'static str {
        match self {
            PgTool::PgDump => "pg_dump",
            PgTool::Psql => "psql",
        }
    }
}

/// One compose (`docker compose` / `docker-compose`) or `docker` command.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Cmd<'a> {
    /// `config`: the resolved model as YAML.
    Config,
    /// `config --format json` (v2).
    ConfigJson,
    /// `config --hash=*`: each service's configuration hash.
    ConfigHashes,
    /// `build SERVICE...`.
    Build(&'a [String]),
    /// `stop SERVICE...`.
    Stop(&'a [String]),
    /// `up -d --no-deps --no-build [--force-recreate] SERVICE...`.
    Up { force_recreate: bool, services: &'a [String] },
    /// `pull SERVICE...`.
    Pull(&'a [String]),
    /// `start SERVICE` of an existing stopped container.
    Start(&'a str),
    /// `up -d --no-deps --no-build SERVICE` of a service with no container yet.
    Create(&'a str),
    /// `ps -a -q SERVICE`.
    Ps(&'a str),
    /// `logs --no-color [--follow] [--tail N] SERVICE...`.
    Logs { follow: bool, tail: Option<usize>, services: &'a [String] },
    /// `docker exec [-e NAME]... CONTAINER TOOL ARG...`: the database
    /// container by id (the one whose address drydock connects to), without
    /// compose's start-up and file parsing (about 0.15 s a call, more in v1).
    Exec { container: &'a str, env_names: &'a [&'a str], tool: PgTool, args: &'a [&'a str] },
    /// `docker version --format {{.Server.Version}}`.
    ServerVersion,
    /// `docker version --format {{.Server.APIVersion}}`.
    ServerApiVersion,
    /// `docker ps -a -q --no-trunc` filtered by compose's project label and,
    /// when given, its service label.
    PsByLabels { project: &'a str, service: Option<&'a str> },
    /// `docker inspect ID...`.
    Inspect(&'a [String]),
    /// `docker logs --tail N ID`.
    ContainerLogs { tail: usize, id: &'a str },
    /// `docker image inspect --format {{.Id}} REFERENCE`.
    ImageId(&'a str),
    /// `docker tag IMAGE_ID TAG`.
    Tag { image_id: &'a str, tag: &'a str },
}

impl Cmd<'_> {
    /// Is this a compose command (else a `docker` one)?
    pub(crate) fn is_compose(&self) -> bool {
        !matches!(
            self,
            Cmd::ServerVersion
                | Cmd::ServerApiVersion
                | Cmd::Exec { .. }
                | Cmd::PsByLabels { .. }
                | Cmd::Inspect(_)
                | Cmd::ContainerLogs { .. }
                | Cmd::ImageId(_)
                | Cmd::Tag { .. }
        )
    }

    /// Commands that take services down or bring them back, and `exec` (a
    /// backup's pg_dump), run in their own process group: a Ctrl-C meant for
    /// drydock must not kill them halfway; drydock decides.
    pub(crate) fn own_process_group(&self) -> bool {
        matches!(self, Cmd::Stop(_) | Cmd::Start(_) | Cmd::Create(_) | Cmd::Up { .. } | Cmd::Exec { .. })
    }

    /// The arguments after `docker`, or after compose's program, `-f` files and `-p` project.
    pub(crate) fn args(&self) -> Vec<String> {
        let own = |v: &[&str]| v.iter().map(|s| (*s).to_owned()).collect::<Vec<String>>();
        let with = |mut v: Vec<String>, rest: &[String]| {
            v.extend(rest.iter().cloned());
            v
        };
        match *self {
            Cmd::Config => own(&["config"]),
            Cmd::ConfigJson => own(&["config", "--format", "json"]),
            Cmd::ConfigHashes => own(&["config", "--hash=*"]),
            Cmd::Build(services) => with(own(&["build"]), services),
            Cmd::Stop(services) => with(own(&["stop"]), services),
            Cmd::Up { force_recreate, services } => {
                let mut v = own(&["up", "-d", "--no-deps", "--no-build"]);
                if force_recreate {
                    v.push("--force-recreate".to_owned());
                }
                with(v, services)
            }
            Cmd::Pull(services) => with(own(&["pull"]), services),
            Cmd::Start(service) => own(&["start", service]),
            Cmd::Create(service) => own(&["up", "-d", "--no-deps", "--no-build", service]),
            Cmd::Ps(service) => own(&["ps", "-a", "-q", service]),
            Cmd::Logs { follow, tail, services } => {
                let mut v = own(&["logs", "--no-color"]);
                if follow {
                    v.push("--follow".to_owned());
                }
                if let Some(n) = tail {
                    v.extend(["--tail".to_owned(), n.to_string()]);
                }
                with(v, services)
            }
            Cmd::Exec { container, env_names, tool, args } => {
                let mut v = own(&["exec"]);
                for name in env_names {
                    v.extend(["-e".to_owned(), (*name).to_owned()]);
                }
                v.extend([container.to_owned(), tool.program().to_owned()]);
                v.extend(own(args));
                v
            }
            Cmd::ServerVersion => own(&["version", "--format", "{{.Server.Version}}"]),
            Cmd::ServerApiVersion => own(&["version", "--format", "{{.Server.APIVersion}}"]),
            Cmd::PsByLabels { project, service } => {
                let mut v = own(&[
                    "ps",
                    "-a",
                    "-q",
                    "--no-trunc",
                    "--filter",
                    &format!("label=com.docker.compose.project={project}"),
                ]);
                if let Some(service) = service {
                    v.extend(own(&["--filter", &format!("label=com.docker.compose.service={service}")]));
                }
                v
            }
            Cmd::Inspect(ids) => with(own(&["inspect"]), ids),
            Cmd::ContainerLogs { tail, id } => own(&["logs", "--tail", &tail.to_string(), id]),
            Cmd::ImageId(reference) => own(&["image", "inspect", "--format", "{{.Id}}", reference]),
            Cmd::Tag { image_id, tag } => own(&["tag", image_id, tag]),
        }
    }

    /// How the command is named in errors (no operands beyond the subcommand).
    pub(crate) fn shown(&self, compose: &str) -> String {
        let args = self.args();
        match self {
            Cmd::ServerVersion | Cmd::ServerApiVersion => "docker version".to_owned(),
            Cmd::PsByLabels { .. } => "docker ps".to_owned(),
            Cmd::Inspect(_) => "docker inspect".to_owned(),
            Cmd::ContainerLogs { .. } => "docker logs".to_owned(),
            Cmd::ImageId(_) => "docker image inspect".to_owned(),
            Cmd::Tag { .. } => "docker tag".to_owned(),
            Cmd::Exec { .. } => format!("docker {}", args.join(" ")),
            _ => format!("{compose} {}", args.join(" ")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_command_renders_the_argv_drydock_always_ran() {
        let apps = ["api".to_owned(), "web".to_owned()];
        let ids = ["abc".to_owned()];
        let cases: [(Cmd<'_>, &str); 12] = [
            (Cmd::ConfigHashes, "config --hash=*"),
            (Cmd::Stop(&apps), "stop api web"),
            (Cmd::Up { force_recreate: true, services: &apps }, "up -d --no-deps --no-build --force-recreate api web"),
            (Cmd::Up { force_recreate: false, services: &apps[..1] }, "up -d --no-deps --no-build api"),
            (Cmd::Start("postgres"), "start postgres"),
            (Cmd::Create("postgres"), "up -d --no-deps --no-build postgres"),
            (Cmd::Ps("api"), "ps -a -q api"),
            (Cmd::Logs { follow: true, tail: Some(5), services: &apps }, "logs --no-color --follow --tail 5 api web"),
            (
                Cmd::Exec { container: "abc", env_names: &["PGUSER"], tool: PgTool::PgDump, args: &["--no-owner"] },
                "exec -e PGUSER abc pg_dump --no-owner",
            ),
            (Cmd::Inspect(&ids), "inspect abc"),
            (Cmd::ContainerLogs { tail: 10, id: "abc" }, "logs --tail 10 abc"),
            (Cmd::Tag { image_id: "sha256:1", tag: "api:drydock-previous" }, "tag sha256:1 api:drydock-previous"),
        ];
        for (cmd, argv) in cases {
            assert_eq!(cmd.args().join(" "), argv, "{cmd:?}");
        }
        assert!(!Cmd::Tag { image_id: "a", tag: "b" }.is_compose());
        assert!(Cmd::Stop(&apps).own_process_group() && !Cmd::Ps("api").own_process_group());
    }
}
