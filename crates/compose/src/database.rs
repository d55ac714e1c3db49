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

/// Replaces the password of a `postgres://user:password@...` URL with `***`.
pub fn redact_url(url: &str) -> String {
    let Some(scheme_end) = url.find("://") else { return url.to_owned() };
    let rest = &url[scheme_end + 3..];
    let Some(at) = rest.rfind('@') else { return url.to_owned() };
    let auth = &rest[..at];
    match auth.find(':') {
        Some(colon) => format!("{}{}:***{}", &url[..scheme_end + 3], &auth[..colon], &rest[at..]),
        None => url.to_owned(),
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
        let db = &self.environment().database_service;
        let containers = self.containers(db)?;
        containers.into_iter().find(|c| c.status == "running").ok_or_else(|| ComposeError::CommandFailed {
            command: format!("{} ps {db}", self.flavor().command_name()),
            detail: format!(
                "the database service `{db}` is not running: `cargo xtask deploy-{}` starts it (never recreating it), or start its existing container with `{} -p <project> start {db}`",
                self.environment().name,
                self.flavor().command_name(),
            ),
        })
    }

    /// The connection target of the running database container.
    pub fn database_target(&self) -> Result<DatabaseTarget, ComposeError> {
        let c = self.database_container()?;
        let user = c.env_var("POSTGRES_USER").unwrap_or("postgres").to_owned();
        let dbname = c.env_var("POSTGRES_DB").map(str::to_owned).unwrap_or_else(|| user.clone());
        let password = c.env_var("POSTGRES_PASSWORD").map(str::to_owned);
        // The engine drydock talks to: the environment's `docker-host`, else
        // an ambient DOCKER_HOST.
        let ambient = std::env::var("DOCKER_HOST").ok();
        let docker_host = self.environment().docker_host.clone().or(ambient);
        let (host, port) = match docker_host.as_deref() {
            None | Some("") => local_address(&c)?,
            Some(h) if h.starts_with("unix://") => local_address(&c)?,
            Some(remote) => {
                let port = c.ports.get("5432/tcp").ok_or_else(|| ComposeError::Unexpected {
                    detail: "the database container publishes no port for 5432/tcp on the remote engine: publish one, or set DATABASE_URL".into(),
                })?;
                (remote_host(remote), port.parse().unwrap_or(5432))
            }
        };
        Ok(DatabaseTarget { user, dbname, host, port, password })
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
        };
        assert_eq!(t.url(), "postgresql://app:p%40ss%3Aw%2Frd@172.18.0.2:5432/my%20db");
        assert_eq!(t.to_string(), "postgresql://app:***@172.18.0.2:5432/my%20db");
        assert!(!format!("{t:?}").contains("p%40ss"));
        assert_eq!(redact_url("postgres://u@h/d"), "postgres://u@h/d");
    }

    #[test]
    fn remote_host_is_taken_from_docker_host() {
        assert_eq!(remote_host("ssh://deploy@prod.example:2222"), "prod.example");
        assert_eq!(remote_host("tcp://10.1.2.3:2376"), "10.1.2.3");
    }
}
