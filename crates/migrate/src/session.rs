//! The migrating session: connect (through `pgconn`, accepting Prisma's `?schema=` URLs) and set its timeouts.

use tokio_postgres::Client;

use crate::MigrateError;

/// Settings of the migrating session.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Settings {
    /// `lock_timeout` (e.g. `"10s"`): a DDL statement gives up instead of
    /// queueing behind traffic forever.
    pub lock_timeout: Option<String>,
    /// `statement_timeout` for each statement.
    pub statement_timeout: Option<String>,
}

/// The `application_name` drydock's session shows in `pg_stat_activity`.
pub const APPLICATION_NAME: &str = "drydock migrate";

/// Connects to `url` through `pgconn` (every URL form users have: Prisma's
/// `?schema=` sets the session's `search_path`, its pool parameters are
/// ignored, libpq `key=value` strings work; TLS is not supported) and spawns
/// the connection on the current tokio runtime. Errors never contain the URL.
pub async fn connect(url: &str) -> Result<Client, MigrateError> {
    pgconn::connect(url, APPLICATION_NAME).await.map_err(|e| MigrateError::Connect { reason: e.to_string() })
}

/// Sets `lock_timeout` and `statement_timeout` for the session.
pub async fn configure(client: &Client, settings: &Settings) -> Result<(), MigrateError> {
    let pairs = [("lock_timeout", &settings.lock_timeout), ("statement_timeout", &settings.statement_timeout)];
    for (name, value) in pairs {
        if let Some(value) = value {
            client.execute("SELECT set_config($1, $2, false)", &[&name, value]).await.map_err(|e| {
                MigrateError::Database {
                    doing: format!("set {name} to `{value}` (fix `{}` in Cargo.toml)", name.replace('_', "-")),
                    reason: crate::error::describe(&e),
                }
            })?;
        }
    }
    Ok(())
}

/// `"name"` with embedded quotes doubled.
pub(crate) fn quote_ident(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

/// A string literal that reads the same whatever `standard_conforming_strings` is.
pub(crate) fn quote_literal(value: &str) -> String {
    format!("E'{}'", value.replace('\\', "\\\\").replace('\'', "''"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quoting() {
        assert_eq!(quote_ident("a\"b"), "\"a\"\"b\"");
        assert_eq!(quote_literal("it's a\\b"), "E'it''s a\\\\b'");
    }
}
