//! Opening the connection: one timeout, plain TCP or unix socket, the session set up.

use std::fmt;
use std::time::Duration;

use tokio_postgres::config::{SslMode, TargetSessionAttrs};
use tokio_postgres::{Client, NoTls};

use crate::Params;

/// The bound on connecting (TCP, startup, authentication) when the string sets no `connect_timeout`.
pub const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// Why no connection was made. The text never contains the connection
/// string or the password.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ConnectError {
    /// The connection string is malformed or names a parameter drydock does not know.
    Invalid(String),
    /// `sslmode` (the value) asks for TLS, which drydock does not support.
    TlsRequired(String),
    /// No answer within the connect timeout.
    Timeout(Duration),
    /// The server could not be reached or refused the connection (reason from the driver or server).
    Failed(String),
    /// Connected, but setting up the session (`search_path`) failed.
    Setup(String),
}

impl fmt::Display for ConnectError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ConnectError::Invalid(why) => write!(f, "invalid connection string: {why}"),
            ConnectError::TlsRequired(mode) => write!(
                f,
                "the connection string asks for TLS (sslmode={mode}), which drydock does not support: \
                 reach the database over the compose network or a unix socket and use sslmode=disable or prefer"
            ),
            ConnectError::Timeout(t) => write!(
                f,
                "no answer within {} s: check that the database is up and reachable from this machine (`cargo xtask status`)",
                t.as_secs()
            ),
            ConnectError::Failed(why) => write!(f, "cannot connect: {why}"),
            ConnectError::Setup(why) => write!(f, "connected, but cannot set up the session: {why}"),
        }
    }
}

impl std::error::Error for ConnectError {}

/// Connects to `url` (any form [`crate::parse`] reads) as `application_name`,
/// spawns the connection on the current tokio runtime, and sets the
/// `search_path` when the string has Prisma's `schema=`.
pub async fn connect(url: &str, application_name: &str) -> Result<Client, ConnectError> {
    let params = crate::parse(url)?;
    connect_params(&params, application_name).await
}

/// [`connect`] with already parsed parameters.
pub async fn connect_params(params: &Params, application_name: &str) -> Result<Client, ConnectError> {
    let timeout = params.connect_timeout.unwrap_or(DEFAULT_CONNECT_TIMEOUT);
    let mut config = tokio_postgres::Config::new();
    for host in &params.hosts {
        config.host(host);
    }
    for port in &params.ports {
        config.port(*port);
    }
    config.user(params.user_or_default());
    config.dbname(params.dbname_or_default());
    if let Some(password) = params.password() {
        config.password(password);
    }
    if let Some(options) = &params.options {
        config.options(options);
    }
    if params.read_write {
        config.target_session_attrs(TargetSessionAttrs::ReadWrite);
    }
    config.application_name(application_name).ssl_mode(SslMode::Disable).connect_timeout(timeout);
    let scrub = |text: String| scrub(text, params.password());
    let (client, connection) = tokio::time::timeout(timeout, config.connect(NoTls))
        .await
        .map_err(|_| ConnectError::Timeout(timeout))?
        .map_err(|e| ConnectError::Failed(scrub(describe(&e))))?;
    tokio::spawn(async move {
        let _ = connection.await;
    });
    if let Some(schema) = &params.schema {
        let set = format!("SET search_path TO {}", quote_ident(schema));
        tokio::time::timeout(timeout, client.batch_execute(&set))
            .await
            .map_err(|_| ConnectError::Timeout(timeout))?
            .map_err(|e| ConnectError::Setup(scrub(describe(&e))))?;
    }
    Ok(client)
}

/// The server's message when there is one, else the driver's chain of causes.
fn describe(e: &tokio_postgres::Error) -> String {
    if let Some(db) = e.as_db_error() {
        return format!("{} ({})", db.message(), db.code().code());
    }
    let mut text = e.to_string();
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        let more = s.to_string();
        if !text.contains(&more) {
            text.push_str(": ");
            text.push_str(&more);
        }
        source = s.source();
    }
    text
}

/// Removes the password from text a server or driver produced (it never
/// should contain it; this makes sure).
fn scrub(text: String, password: Option<&str>) -> String {
    match password {
        Some(p) if !p.is_empty() => text.replace(p, "***"),
        _ => text,
    }
}

fn quote_ident(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

#[cfg(test)]
mod tests {
    #[test]
    fn scrubbing_and_quoting() {
        assert_eq!(super::scrub("auth failed for pw".into(), Some("pw")), "auth failed for ***");
        assert_eq!(super::quote_ident("a\"b"), "\"a\"\"b\"");
    }
}
