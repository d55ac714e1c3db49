//! `PgClient`: how PostgreSQL's client programs reach the database, inside
//! the database container or on the host, with the connection in the
//! environment and never in argv.
//!
//! The programs are a closed set, [`PgTool`]; the argv is drydock's own
//! (`dump` and [`PgClient::query`] build it), so no caller can run another
//! program, or another psql command line, in the database container:
//!
//! ```compile_fail,E0624
//! fn anything(client: &backup::PgClient) {
//!     let _ = client.command("sh", &["-c", "dropdb app"]);
//! }
//! ```

pub use compose::PgTool;
use compose::{Compose, DatabaseTarget};

use crate::BackupError;

/// Who and where to connect. `Debug` never shows the password.
#[derive(Clone, PartialEq, Eq)]
pub struct Database {
    /// Host name or address; `None` inside the container (the local socket).
    pub host: Option<String>,
    /// Port on `host`.
    pub port: Option<u16>,
    /// Role to connect as.
    pub user: String,
    /// Database name.
    pub dbname: String,
    /// `sslmode` from the URL, if any.
    pub sslmode: Option<String>,
    password: Option<String>,
}

impl std::fmt::Debug for Database {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Database")
            .field("host", &self.host)
            .field("port", &self.port)
            .field("user", &self.user)
            .field("dbname", &self.dbname)
            .field("password", &self.password.as_ref().map(|_| "***"))
            .finish()
    }
}

impl Database {
    /// Parses `postgres[ql]://user:password@host:port/dbname?sslmode=...`
    /// (percent-encoded parts). The error never contains the URL.
    pub fn from_url(url: &str) -> Result<Database, BackupError> {
        let bad = |why: &str| BackupError::Url { reason: why.to_owned() };
        let rest = url
            .strip_prefix("postgresql://")
            .or_else(|| url.strip_prefix("postgres://"))
            .ok_or_else(|| bad("it does not start with postgres:// or postgresql://"))?;
        let (rest, query) = rest.split_once('?').unwrap_or((rest, ""));
        let (authority, path) = rest.split_once('/').unwrap_or((rest, ""));
        let (auth, hostport) = match authority.rsplit_once('@') {
            Some((auth, hostport)) => (Some(auth), hostport),
            None => (None, authority),
        };
        let (user, password) = match auth {
            Some(auth) => match auth.split_once(':') {
                Some((u, p)) => (decode(u)?, Some(decode(p)?)),
                None => (decode(auth)?, None),
            },
            None => (String::new(), None),
        };
        let (host, port) = if let Some(v6) = hostport.strip_prefix('[') {
            let (h, after) = v6.split_once(']').ok_or_else(|| bad("an IPv6 host lacks its closing `]`"))?;
            (h.to_owned(), after.strip_prefix(':'))
        } else {
            match hostport.rsplit_once(':') {
                Some((h, p)) => (h.to_owned(), Some(p)),
                None => (hostport.to_owned(), None),
            }
        };
        let port = match port {
            Some(p) if !p.is_empty() => Some(p.parse().map_err(|_| bad("the port is not a number"))?),
            _ => None,
        };
        let mut sslmode = None;
        for pair in query.split('&').filter(|p| !p.is_empty()) {
            if let Some(v) = pair.strip_prefix("sslmode=") {
                sslmode = Some(decode(v)?);
            }
        }
        let user = if user.is_empty() { "postgres".to_owned() } else { user };
        let dbname = if path.is_empty() { user.clone() } else { decode(path)? };
        let host = decode(&host)?;
        Ok(Database { host: (!host.is_empty()).then_some(host), port, user, dbname, sslmode, password })
    }

    /// The password, if any.
    pub fn password(&self) -> Option<&str> {
        self.password.as_deref()
    }

    /// The libpq environment variables for this connection.
    fn vars(&self) -> Vec<(&'static str, Option<String>)> {
        vec![
            ("PGHOST", self.host.clone()),
            ("PGPORT", self.port.map(|p| p.to_string())),
            ("PGUSER", Some(self.user.clone())),
            ("PGDATABASE", Some(self.dbname.clone())),
            ("PGSSLMODE", self.sslmode.clone()),
            ("PGPASSWORD", self.password.clone()),
        ]
    }
}

fn decode(s: &str) -> Result<String, BackupError> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = s.get(i + 1..i + 3).and_then(|h| u8::from_str_radix(h, 16).ok());
            let byte = hex.ok_or(BackupError::Url { reason: "a `%` escape is malformed".into() })?;
            out.push(byte);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).map_err(|_| BackupError::Url { reason: "a part is not UTF-8 once decoded".into() })
}

/// Where `pg_dump` and `psql` run.
#[derive(Debug, Clone)]
pub enum PgClient {
    /// Inside the database container (`docker exec`), over its local socket.
    Container {
        /// Compose of the environment.
        compose: Compose,
        /// Role and database (host and port unused).
        db: Database,
        /// Where drydock's own connections go (restore's replay), if not to
        /// the container's address: a tunnel, `DATABASE_URL`.
        driver: Option<Database>,
        /// The running container it was made for (pg_dump and psql run in it).
        target: DatabaseTarget,
    },
    /// The host's programs, over TCP.
    Host {
        /// The connection.
        db: Database,
    },
}

impl PgClient {
    /// The database container's own client programs, as `POSTGRES_USER` on `POSTGRES_DB`.
    pub fn container(compose: &Compose) -> Result<PgClient, BackupError> {
        let target = compose.database_target().map_err(BackupError::compose)?;
        let db = Database {
            host: None,
            port: None,
            user: target.user.clone(),
            dbname: target.dbname.clone(),
            sslmode: None,
            password: target.password().map(str::to_owned),
        };
        Ok(PgClient::Container { compose: compose.clone(), db, driver: None, target })
    }

    /// The host's client programs against a connection URL.
    pub fn host(url: &str) -> Result<PgClient, BackupError> {
        Ok(PgClient::Host { db: Database::from_url(url)? })
    }

    /// The connection.
    pub fn database(&self) -> &Database {
        match self {
            PgClient::Container { db, .. } | PgClient::Host { db } => db,
        }
    }

    /// The same client on another database of the same server.
    pub fn with_dbname(&self, dbname: &str) -> PgClient {
        let mut client = self.clone();
        match &mut client {
            PgClient::Container { db, driver, .. } => {
                db.dbname = dbname.to_owned();
                if let Some(driver) = driver {
                    driver.dbname = dbname.to_owned();
                }
            }
            PgClient::Host { db } => db.dbname = dbname.to_owned(),
        }
        client
    }

    /// The same client, whose drydock-made connections (restore's replay) go
    /// to `url`: the URL the xtask derives (`DATABASE_URL`, an SSH tunnel's
    /// local end). The host's programs already use their URL.
    pub fn with_driver_url(self, url: &str) -> Result<PgClient, BackupError> {
        Ok(match self {
            PgClient::Container { compose, db, target, .. } => {
                PgClient::Container { compose, db, driver: Some(Database::from_url(url)?), target }
            }
            host @ PgClient::Host { .. } => host,
        })
    }

    /// Who and where drydock's own connections connect (see [`PgClient::with_driver_url`]).
    pub fn driver(&self) -> &Database {
        match self {
            PgClient::Container { driver: Some(driver), .. } => driver,
            PgClient::Container { db, .. } | PgClient::Host { db } => db,
        }
    }

    /// Host and port a driver on the host connects to: the URL's (or the
    /// driver URL's), else the database container's address (as
    /// [`Compose::database_target`] finds it).
    pub fn network_address(&self) -> Result<(String, u16), BackupError> {
        match self {
            PgClient::Container { compose, driver: None, .. } => {
                let target = compose.database_target().map_err(BackupError::compose)?;
                Ok((target.host, target.port))
            }
            PgClient::Container { driver: Some(db), .. } | PgClient::Host { db } => {
                Ok((db.host.clone().unwrap_or_else(|| "/var/run/postgresql".to_owned()), db.port.unwrap_or(5432)))
            }
        }
    }

    /// `pg_dump in the database container` or `the host's pg_dump`, for messages.
    pub fn describe(&self, tool: PgTool) -> String {
        let program = tool.program();
        match self {
            PgClient::Container { compose, .. } => {
                format!("{program} in the database container `{}`", compose.environment().database_service())
            }
            PgClient::Host { .. } => format!("the host's {program}"),
        }
    }

    /// A command running `tool args...` with the connection in its
    /// environment, its session named `application_name` (`PGAPPNAME`, so it
    /// can be found in `pg_stat_activity`). Stdin, stdout and stderr are left
    /// for the caller. Private to this crate: the argv of every call is written here.
    pub(crate) fn command(
        &self,
        tool: PgTool,
        args: &[&str],
        application_name: &str,
    ) -> Result<duct::Expression, BackupError> {
        let program = tool.program();
        let mut vars = self.database().vars();
        vars.push(("PGAPPNAME", Some(application_name.to_owned())));
        let mut expr = match self {
            PgClient::Container { compose, target, .. } => {
                let names: Vec<&str> = vars.iter().filter(|(_, v)| v.is_some()).map(|(n, _)| *n).collect();
                compose.exec_pg(target, tool, args, &names).map_err(BackupError::compose)?
            }
            PgClient::Host { .. } => duct::cmd(program, args),
        };
        for (name, value) in vars {
            expr = match value {
                Some(v) => expr.env(name, v),
                None => expr.env_remove(name),
            };
        }
        Ok(expr.env_remove("PGSERVICE").env_remove("PGOPTIONS"))
    }

    /// Runs one SQL text with `psql` and returns its unaligned, tuples-only output.
    pub fn query(&self, sql: &str) -> Result<String, BackupError> {
        let psql = self.describe(PgTool::Psql);
        let out = self
            .command(PgTool::Psql, &["-X", "-q", "-A", "-t", "--set=ON_ERROR_STOP=1", "-c", sql], "drydock")?
            .stdin_null()
            .stdout_capture()
            .stderr_capture()
            .unchecked()
            .run()
            .map_err(|e| BackupError::Spawn { program: psql.clone(), detail: e.to_string() })?;
        if !out.status.success() {
            return Err(self.database_down().unwrap_or_else(|| BackupError::Query {
                program: psql,
                stderr: String::from_utf8_lossy(&out.stderr).trim().to_owned(),
            }));
        }
        Ok(String::from_utf8_lossy(&out.stdout).trim_end().to_owned())
    }

    /// After a program in the database container failed: the engine's own
    /// error if it does not answer now, or, if no database container runs
    /// now, the error that says how to start it (asked, not guessed from
    /// the program's output, which may be a cut connection's few words).
    pub(crate) fn database_down(&self) -> Option<BackupError> {
        match self {
            PgClient::Container { compose, .. } => {
                compose.ping().err().or_else(|| compose.database_container().err()).map(BackupError::compose)
            }
            PgClient::Host { .. } => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn url_parts_are_decoded() {
        let db = Database::from_url("postgresql://app:p%40ss%3Aw%2Frd@10.0.0.5:5433/my%20db?sslmode=require").unwrap();
        assert_eq!(db.host.as_deref(), Some("10.0.0.5"));
        assert_eq!(db.port, Some(5433));
        assert_eq!(db.user, "app");
        assert_eq!(db.dbname, "my db");
        assert_eq!(db.password(), Some("p@ss:w/rd"));
        assert_eq!(db.sslmode.as_deref(), Some("require"));
        assert!(!format!("{db:?}").contains("p@ss"));
        let v6 = Database::from_url("postgres://u@[::1]:6000").unwrap();
        assert_eq!((v6.host.as_deref(), v6.port, v6.dbname.as_str()), (Some("::1"), Some(6000), "u"));
    }

    #[test]
    fn bad_urls_are_refused_without_echoing_them() {
        let err = Database::from_url("mysql://root:secret@h/db").unwrap_err().to_string();
        assert!(!err.contains("secret"), "{err}");
        assert!(Database::from_url("postgres://u:secret@h:port/db").is_err());
    }
}
