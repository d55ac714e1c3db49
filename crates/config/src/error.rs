//! Configuration errors: each names the key and the fix.

use std::fmt;

/// What is wrong with `[workspace.metadata.deploy]`, and how to fix it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ConfigError {
    /// `Cargo.toml` could not be read or parsed.
    Unreadable {
        /// The file.
        path: String,
        /// The reader's or parser's words.
        reason: String,
    },
    /// The `[workspace.metadata.deploy]` table is missing or malformed.
    Invalid {
        /// The dotted key (`workspace.metadata.deploy.environments.prod.compose-files`).
        key: String,
        /// What is wrong with it.
        reason: String,
    },
    /// The environment asked for is not configured.
    UnknownEnvironment {
        /// The name asked for.
        name: String,
        /// The configured environments.
        known: Vec<String>,
    },
    /// A compose file named in `compose-files` does not exist.
    MissingComposeFile {
        /// The environment.
        env: String,
        /// The missing file.
        path: String,
    },
    /// The database service is also listed among the app services.
    DatabaseIsAppService {
        /// The environment.
        env: String,
        /// The database service.
        service: String,
    },
    /// A configured service is not defined in the compose files.
    UnknownService {
        /// The environment.
        env: String,
        /// The key that names the service (`database-service`, `app-services`).
        key: String,
        /// The service named.
        service: String,
        /// The services the compose files define.
        defined: Vec<String>,
    },
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ConfigError::Unreadable { path, reason } => {
                write!(f, "cannot read {path}: {reason}")
            }
            ConfigError::Invalid { key, reason } => write!(
                f,
                "invalid `{key}` in Cargo.toml: {reason}; see README.md, section \"Configuration\""
            ),
            ConfigError::UnknownEnvironment { name, known } => write!(
                f,
                "unknown environment `{name}`: add [workspace.metadata.deploy.environments.{name}] to Cargo.toml, or use one of: {}",
                known.join(", ")
            ),
            ConfigError::MissingComposeFile { env, path } => write!(
                f,
                "compose file {path} does not exist: fix `compose-files` in [workspace.metadata.deploy.environments.{env}]"
            ),
            ConfigError::DatabaseIsAppService { env, service } => write!(
                f,
                "the database service `{service}` is listed in `app-services` of [workspace.metadata.deploy.environments.{env}]: remove it, drydock never stops or recreates the database"
            ),
            ConfigError::UnknownService { env, key, service, defined } => write!(
                f,
                "service `{service}` named in `{key}` of [workspace.metadata.deploy.environments.{env}] is not defined in its compose files (defined: {}): fix the name or the compose file",
                defined.join(", ")
            ),
        }
    }
}

impl std::error::Error for ConfigError {}
