//! The migrating session: connect (accepting Prisma's `?schema=` URLs) and set its timeouts.

use tokio_postgres::{Client, NoTls};

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

/// Connects to `url` (TLS is not supported) and spawns the connection on the
/// current tokio runtime. A Prisma-style `?schema=NAME` parameter sets the
/// session's `search_path`; Prisma's pool parameters are ignored.
/// Errors never contain the URL.
pub async fn connect(url: &str) -> Result<Client, MigrateError> {
    let (url, schema) = split_prisma_params(url);
    let (client, connection) =
        tokio_postgres::connect(&url, NoTls).await.map_err(|e| MigrateError::Connect { reason: e.to_string() })?;
    tokio::spawn(async move {
        let _ = connection.await;
    });
    let mut setup = format!("SET application_name = '{APPLICATION_NAME}'");
    if let Some(schema) = schema {
        setup.push_str(&format!("; SET search_path TO {}", quote_ident(&schema)));
    }
    client.batch_execute(&setup).await.map_err(|e| MigrateError::Database {
        doing: "set up the session".into(),
        reason: crate::apply::describe(&e),
    })?;
    Ok(client)
}

/// Sets `lock_timeout` and `statement_timeout` for the session.
pub async fn configure(client: &Client, settings: &Settings) -> Result<(), MigrateError> {
    let pairs = [("lock_timeout", &settings.lock_timeout), ("statement_timeout", &settings.statement_timeout)];
    for (name, value) in pairs {
        if let Some(value) = value {
            client.execute("SELECT set_config($1, $2, false)", &[&name, value]).await.map_err(|e| {
                MigrateError::Database {
                    doing: format!("set {name} to `{value}` (fix `{}` in Cargo.toml)", name.replace('_', "-")),
                    reason: crate::apply::describe(&e),
                }
            })?;
        }
    }
    Ok(())
}

/// Removes the parameters tokio-postgres does not know (`schema`, and Prisma's
/// pool settings) from a URL; returns the URL and the schema.
pub(crate) fn split_prisma_params(url: &str) -> (String, Option<String>) {
    let Some((base, query)) = url.split_once('?') else {
        return (url.to_owned(), None);
    };
    const PRISMA_ONLY: [&str; 6] =
        ["schema", "connection_limit", "pool_timeout", "pgbouncer", "statement_cache_size", "socket_timeout"];
    let mut schema = None;
    let mut kept = Vec::new();
    for pair in query.split('&').filter(|p| !p.is_empty()) {
        let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
        if key == "schema" {
            schema = Some(percent_decode(value));
        } else if !PRISMA_ONLY.contains(&key) {
            kept.push(pair);
        }
    }
    let url = if kept.is_empty() { base.to_owned() } else { format!("{base}?{}", kept.join("&")) };
    (url, schema)
}

fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = |b: u8| (b as char).to_digit(16);
        if bytes[i] == b'%' && i + 2 < bytes.len() {
            if let (Some(h), Some(l)) = (hex(bytes[i + 1]), hex(bytes[i + 2])) {
                out.push((h * 16 + l) as u8);
                i += 3;
                continue;
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
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
    fn prisma_parameters_are_removed() {
        assert_eq!(
            split_prisma_params("postgresql://u:p@h:5432/db?schema=app&connection_limit=5&sslmode=disable"),
            ("postgresql://u:p@h:5432/db?sslmode=disable".to_owned(), Some("app".to_owned()))
        );
        assert_eq!(
            split_prisma_params("postgresql://h/db?schema=my%20s"),
            ("postgresql://h/db".to_owned(), Some("my s".to_owned()))
        );
        assert_eq!(split_prisma_params("host=h dbname=d"), ("host=h dbname=d".to_owned(), None));
    }

    #[test]
    fn quoting() {
        assert_eq!(quote_ident("a\"b"), "\"a\"\"b\"");
        assert_eq!(quote_literal("it's a\\b"), "E'it''s a\\\\b'");
    }
}
