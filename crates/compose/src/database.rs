//! The database connection, derived from the database container's compose
//! definition: `POSTGRES_USER`, `POSTGRES_PASSWORD`, `POSTGRES_DB`, and an
//! address the host can reach.

use crate::{Compose, ComposeError, ContainerState};

/// Where and as whom to reach the database. `Debug` and `Display` redact the password.
#[derive(Clone)]
pub struct DatabaseTarget {
    /// `POSTGRES_USER` (default `postgres`).
    pub user: String,
    /// `POSTGRES_DB` (default: the user name).
    pub dbname: String,
    /// Host the drydock machine can reach: the container's address on a local
    /// engine, the engine's host with the published port otherwise.
    pub host: String,
    /// Port on `host`.
    pub port: u16,
    password: Option<String>,
    /// The `ssh://` docker host whose network `host` is on: reach it through a tunnel.
    ssh: Option<String>,
    /// Id of the running database container this was read from.
    container: String,
}

impl DatabaseTarget {
    /// `postgresql://user:password@host:port/db`, percent-encoded. Contains
    /// the password: pass it through the environment, never print it.
    pub fn url(&self) -> String {
        let auth = match &self.password {
            Some(p) => format!("{}:{}", encode(&self.user), encode(p)),
            None => encode(&self.user),
        };
        format!("postgresql://{auth}@{}:{}/{}", self.host, self.port, encode(&self.dbname))
    }

    /// The password, if any (for `PGPASSWORD` of a child process).
    pub fn password(&self) -> Option<&str> {
        self.password.as_deref()
    }

    /// Id of the running database container this target was read from: the
    /// container [`Compose::exec_pg`] runs pg_dump and psql in.
    pub fn container_id(&self) -> &str {
        &self.container
    }

    /// The `ssh://` docker host this address is only reachable through (the
    /// container's own address on the remote host's networks), if any.
    pub fn ssh_host(&self) -> Option<&str> {
        self.ssh.as_deref()
    }

    /// The same database reached at `127.0.0.1:port` (a tunnel's local end).
    pub fn through_local_port(&self, port: u16) -> DatabaseTarget {
        DatabaseTarget { host: "127.0.0.1".into(), port, ssh: None, ..self.clone() }
    }
}

impl std::fmt::Debug for DatabaseTarget {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", redact_url(&self.url()))
    }
}

impl std::fmt::Display for DatabaseTarget {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", redact_url(&self.url()))
    }
}

/// Replaces with `***` every password written in a connection string inside
/// `text` (a URL, or a message that quotes one): the `user:password@` of any
/// `scheme://` URL, a `password=` query parameter, and a libpq
/// `password=value` or `password='quoted value'` pair. Passwords known by
/// value are redacted by the xtask wherever they appear.
pub fn redact_url(text: &str) -> String {
    redact_keyword_passwords(&redact_userinfo(text))
}

/// `scheme://user:password@host` → `scheme://user:***@host`, for every URL in `text`.
fn redact_userinfo(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(i) = rest.find("://") {
        let (head, tail) = rest.split_at(i + 3);
        out.push_str(head);
        // Up to where the surrounding text resumes, not where a URL's
        // authority ends: a password with an unencoded `/`, `?` or `#` is
        // malformed, yet it is still a password (the last `@` ends it).
        let end = tail.find(|c: char| c.is_whitespace() || matches!(c, '"' | '`' | '>')).unwrap_or(tail.len());
        let authority = &tail[..end];
        match authority.rfind('@') {
            Some(at) => {
                let userinfo = &authority[..at];
                match userinfo.find(':') {
                    Some(colon) => {
                        out.push_str(&userinfo[..colon]);
                        out.push_str(":***");
                    }
                    None => out.push_str(userinfo),
                }
                out.push_str(&authority[at..]);
            }
            None => out.push_str(authority),
        }
        rest = &tail[end..];
    }
    out.push_str(rest);
    out
}

/// `password=value` (URL query, libpq keyword string; bare or single-quoted) → `password=***`.
fn redact_keyword_passwords(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(i) = find_password_key(rest) {
        let (head, tail) = rest.split_at(i);
        out.push_str(head);
        let eq = tail.find('=').expect("the key ends in `=`");
        out.push_str(&tail[..=eq]);
        let value = tail[eq + 1..].trim_start_matches(' ');
        let skipped = tail.len() - eq - 1 - value.len();
        out.push_str(&tail[eq + 1..eq + 1 + skipped]);
        let len = if let Some(quoted) = value.strip_prefix('\'') {
            let mut chars = quoted.char_indices();
            let mut close = quoted.len();
            while let Some((j, c)) = chars.next() {
                match c {
                    '\\' => {
                        chars.next();
                    }
                    '\'' => {
                        close = j + 1;
                        break;
                    }
                    _ => {}
                }
            }
            1 + close
        } else {
            let mut end = value.len();
            let mut chars = value.char_indices();
            while let Some((j, c)) = chars.next() {
                if c == '\\' {
                    chars.next();
                } else if c.is_whitespace() || matches!(c, '&' | '#' | '"' | '`') {
                    end = j;
                    break;
                }
            }
            end
        };
        out.push_str("***");
        rest = &value[len.min(value.len())..];
    }
    out.push_str(rest);
    out
}

/// Where a `password=` (spaces allowed before `=`) starts, as a whole word.
fn find_password_key(text: &str) -> Option<usize> {
    let lower = text.to_ascii_lowercase();
    let mut from = 0;
    while let Some(i) = lower[from..].find("password") {
        let start = from + i;
        let after = &lower[start + 8..];
        // `password=`, `?password=`, `POSTGRES_PASSWORD=`; not `mypassword=`.
        let word_start = start == 0 || !lower.as_bytes()[start - 1].is_ascii_alphanumeric();
        if word_start && after.trim_start_matches(' ').starts_with('=') {
            return Some(start);
        }
        from = start + 8;
    }
    None
}

/// Secret values an environment's compose files declare, read from the files
/// themselves (so that they are known even when `compose config` fails and
/// echoes one): the value of every service `environment` key whose name
/// contains `PASSWORD`, `SECRET` or `TOKEN`, the `${VAR:-default}` default of
/// such a value and `VAR`'s value in this process, and the same keys of the
/// project's `.env` file. For the xtask to redact wherever text leaves drydock.
fn declared_secrets(env: &config::Environment) -> Vec<String> {
    let secretish = |key: &str| {
        let key = key.to_ascii_uppercase();
        ["PASSWORD", "SECRET", "TOKEN"].iter().any(|w| key.contains(w))
    };
    let mut raw = Vec::new();
    for file in env.compose_files() {
        let Ok(text) = std::fs::read_to_string(file) else { continue };
        let Ok(doc) = serde_yaml::from_str::<serde_yaml::Value>(&text) else { continue };
        let Some(services) = doc.get("services").and_then(|s| s.as_mapping()) else { continue };
        for service in services.values() {
            match service.get("environment") {
                Some(serde_yaml::Value::Mapping(map)) => {
                    for (k, v) in map {
                        if let (Some(k), Some(v)) = (k.as_str(), scalar(v)) {
                            if secretish(k) {
                                raw.push(v);
                            }
                        }
                    }
                }
                Some(serde_yaml::Value::Sequence(list)) => {
                    for item in list.iter().filter_map(|i| i.as_str()) {
                        if let Some((k, v)) = item.split_once('=') {
                            if secretish(k) {
                                raw.push(v.to_owned());
                            }
                        }
                    }
                }
                _ => {}
            }
        }
    }
    if let Some(dir) = env.compose_files().first().and_then(|f| f.parent()) {
        for line in std::fs::read_to_string(dir.join(".env")).unwrap_or_default().lines() {
            if let Some((k, v)) = line.trim().split_once('=') {
                if secretish(k) {
                    raw.push(v.trim().trim_matches(|c| c == '"' || c == '\'').to_owned());
                }
            }
        }
    }
    let mut out = Vec::new();
    for value in raw {
        // `${VAR:-default}`, `${VAR-default}`, `${VAR}`, `$VAR`: the default and VAR's value.
        if let Some(inner) = value.strip_prefix("${").and_then(|v| v.strip_suffix('}')) {
            let (var, default) = match inner.split_once(":-").or_else(|| inner.split_once('-')) {
                Some((var, default)) => (var, Some(default)),
                None => (inner.split_once(":?").map_or(inner, |(v, _)| v), None),
            };
            out.extend(default.map(str::to_owned));
            out.extend(std::env::var(var).ok());
        } else if let Some(var) =
            value.strip_prefix('$').filter(|v| v.chars().all(|c| c.is_ascii_alphanumeric() || c == '_'))
        {
            out.extend(std::env::var(var).ok());
        }
        // Compose's `$$` stands for `$`.
        out.push(value.replace("$$", "$"));
        out.push(value);
    }
    out.retain(|v| !v.is_empty());
    out.sort();
    out.dedup();
    out
}

fn scalar(v: &serde_yaml::Value) -> Option<String> {
    match v {
        serde_yaml::Value::String(s) => Some(s.clone()),
        serde_yaml::Value::Number(n) => Some(n.to_string()),
        serde_yaml::Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

fn encode(s: &str) -> String {
    let mut out = String::new();
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

impl Compose {
    /// The running database container, or an error saying how to start it.
    pub fn database_container(&self) -> Result<ContainerState, ComposeError> {
        self.running_database()?.map_err(|_| {
            let db = self.environment().database_service();
            ComposeError::CommandFailed {
                command: format!("{} ps {db}", self.flavor().command_name()),
                detail: format!(
                    "the database service `{db}` is not running: `cargo xtask deploy-{}` starts it (never recreating it), or start its existing container with `{} -p <project> start {db}`",
                    self.environment().name(),
                    self.flavor().command_name(),
                ),
            }
        })
    }

    /// The one lookup of the database container: `Ok` the running one, else
    /// `Err` the service's containers, none running (empty: none exists).
    /// The container found last is inspected first, alone (one `docker
    /// inspect`, no `ps`), and kept only while it runs: its state (and so
    /// its address) is always of this moment. One that stopped or vanished
    /// sends the lookup to the service's containers again, so "not running"
    /// is always the engine's answer of this moment; only the id is remembered.
    pub(crate) fn running_database(&self) -> Result<Result<ContainerState, Vec<ContainerState>>, ComposeError> {
        let db = self.environment().database_service();
        let mut known = self.database_id.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(id) = known.take() {
            let found = self.inspect(&[id]).ok().and_then(|mut found| found.pop());
            // What `containers(db)` would keep, checked again: this service's, not a one-off.
            if let Some(c) = found.filter(|c| c.status == "running" && c.service == db && !c.oneoff) {
                *known = Some(c.id.clone());
                return Ok(Ok(c));
            }
        }
        let (running, stopped): (Vec<_>, Vec<_>) =
            self.containers(db)?.into_iter().partition(|c| c.status == "running");
        match running.into_iter().next() {
            Some(c) => {
                *known = Some(c.id.clone());
                Ok(Ok(c))
            }
            None => Ok(Err(stopped)),
        }
    }

    /// The connection target of the running database container, its state
    /// asked of the engine each time: "not running" must be seen when it is
    /// so (a per-run cache of the target hid a stopped database from the
    /// backup's refusal); only the container's id is remembered.
    pub fn database_target(&self) -> Result<DatabaseTarget, ComposeError> {
        let c = self.database_container()?;
        let user = c.env_var("POSTGRES_USER").unwrap_or("postgres").to_owned();
        let dbname = c.env_var("POSTGRES_DB").map(str::to_owned).unwrap_or_else(|| user.clone());
        let password = c.env_var("POSTGRES_PASSWORD").map(str::to_owned);
        // The engine drydock talks to: the environment's `docker-host`, else
        // an ambient DOCKER_HOST.
        let ambient = std::env::var("DOCKER_HOST").ok();
        let docker_host = self.environment().docker_host().map(str::to_owned).or(ambient);
        let mut ssh = None;
        let (host, port) = match docker_host.as_deref() {
            None | Some("") => local_address(&c)?,
            Some(h) if h.starts_with("unix://") => local_address(&c)?,
            // Over SSH the container's own address is reached through a tunnel:
            // nothing needs to be published on the remote host.
            Some(h) if h.starts_with("ssh://") => {
                let ip = c.networks.values().next().ok_or_else(|| ComposeError::Unexpected {
                    detail: format!(
                        "container {} has no network address on the remote engine: set DATABASE_URL",
                        c.name
                    ),
                })?;
                ssh = Some(h.to_owned());
                (ip.clone(), 5432)
            }
            Some(remote) => {
                let port = c.ports.get("5432/tcp").ok_or_else(|| ComposeError::Unexpected {
                    detail: "the database container publishes no port for 5432/tcp on the remote engine: publish one, or set DATABASE_URL".into(),
                })?;
                (remote_host(remote), port.parse().unwrap_or(5432))
            }
        };
        Ok(DatabaseTarget { user, dbname, host, port, password, ssh, container: c.id.clone() })
    }

    /// Secret values the environment's compose files (and `.env`) declare, read
    /// from the files, never from `compose config`: `PASSWORD`/`SECRET`/`TOKEN`
    /// keys of service environments, with `${VAR:-default}` resolved both ways.
    pub fn declared_secrets(&self) -> Vec<String> {
        declared_secrets(self.environment())
    }

    /// The database URL (see [`DatabaseTarget::url`]).
    pub fn database_url(&self) -> Result<String, ComposeError> {
        Ok(self.database_target()?.url())
    }
}

fn local_address(c: &ContainerState) -> Result<(String, u16), ComposeError> {
    if let Some(ip) = c.networks.values().next() {
        return Ok((ip.clone(), 5432));
    }
    if let Some(port) = c.ports.get("5432/tcp") {
        return Ok(("127.0.0.1".to_owned(), port.parse().unwrap_or(5432)));
    }
    Err(ComposeError::Unexpected { detail: format!("container {} has no network address: set DATABASE_URL", c.name) })
}

/// `ssh://user@host:22` → `host`.
fn remote_host(docker_host: &str) -> String {
    let rest = docker_host.split("://").nth(1).unwrap_or(docker_host);
    let rest = rest.rsplit('@').next().unwrap_or(rest);
    rest.split([':', '/']).next().unwrap_or(rest).to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn url_is_encoded_and_redacted() {
        let t = DatabaseTarget {
            user: "app".into(),
            dbname: "my db".into(),
            host: "172.18.0.2".into(),
            port: 5432,
            password: Some("p@ss:w/rd".into()),
            ssh: None,
            container: "0123456789ab".into(),
        };
        assert_eq!(t.url(), "postgresql://app:p%40ss%3Aw%2Frd@172.18.0.2:5432/my%20db");
        assert_eq!(t.to_string(), "postgresql://app:***@172.18.0.2:5432/my%20db");
        assert!(!format!("{t:?}").contains("p%40ss"));
        assert_eq!(redact_url("postgres://u@h/d"), "postgres://u@h/d");
    }

    #[test]
    fn passwords_are_redacted_in_any_text() {
        let cases = [
            ("postgresql://u:p%24w@h:5432/db?schema=public", "postgresql://u:***@h:5432/db?schema=public"),
            (
                "cannot reach postgres://u:p@ss@h/db: refused; mail me@example.com",
                "cannot reach postgres://u:***@h/db: refused; mail me@example.com",
            ),
            ("a postgres://u:x@h and b mysql://v:y@k/d", "a postgres://u:***@h and b mysql://v:***@k/d"),
            ("postgres://app:pa/ss@db/app", "postgres://app:***@db/app"),
            ("postgres://app:p#s?s@db/app?x=1", "postgres://app:***@db/app?x=1"),
            ("see https://example.com/a@b", "see https://example.com/a@b"),
            (
                "postgresql://h/db?sslmode=disable&password=s3cr%24t&x=1",
                "postgresql://h/db?sslmode=disable&password=***&x=1",
            ),
            ("host=h password=s3c\\ ret dbname=d", "host=h password=*** dbname=d"),
            ("host=h password = 'p$a{s}s w\\'rd' dbname=d", "host=h password = *** dbname=d"),
            ("PASSWORD=abc", "PASSWORD=***"),
            ("POSTGRES_PASSWORD=p$a{s}s", "POSTGRES_PASSWORD=***"),
            ("a password is needed", "a password is needed"),
            ("no_password_here=1 mypassword=x", "no_password_here=1 mypassword=x"),
        ];
        for (text, want) in cases {
            assert_eq!(redact_url(text), want, "{text}");
        }
    }

    #[test]
    fn secrets_declared_in_compose_files() {
        let dir = std::env::temp_dir().join(format!("drydock-secrets-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let root = camino::Utf8PathBuf::from_path_buf(dir.clone()).unwrap();
        std::fs::write(
            dir.join("c.yml"),
            "services:\n  db:\n    environment:\n      POSTGRES_PASSWORD: \"p$$a{s}s w'rd\"\n      POSTGRES_USER: u\n  api:\n    environment:\n      - API_TOKEN=${DRYDOCK_TEST_UNSET_VAR:-tok-default}\n",
        )
        .unwrap();
        std::fs::write(dir.join(".env"), "DB_PASSWORD='from env file'\nOTHER=x\n").unwrap();
        let text = "[workspace.metadata.deploy.environments.t]\ncompose-files = [\"c.yml\"]\ndatabase-service = \"db\"\napp-services = [\"api\"]\n";
        let env = config::Config::parse(&root, &format!("[workspace]\n{text}")).unwrap().environment("t").unwrap();
        let found = declared_secrets(&env);
        for want in ["p$a{s}s w'rd", "p$$a{s}s w'rd", "tok-default", "from env file"] {
            assert!(found.iter().any(|f| f == want), "{want} not in {found:?}");
        }
        assert!(!found.iter().any(|f| f == "u" || f == "x"), "{found:?}");
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn remote_host_is_taken_from_docker_host() {
        assert_eq!(remote_host("ssh://deploy@prod.example:2222"), "prod.example");
        assert_eq!(remote_host("tcp://10.1.2.3:2376"), "10.1.2.3");
    }
}
