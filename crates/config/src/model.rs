//! The configuration model and its loading from `Cargo.toml`.

use std::collections::BTreeMap;

use camino::{Utf8Path, Utf8PathBuf};
use serde::Deserialize;

use crate::ConfigError;

/// The whole `[workspace.metadata.deploy]` table, resolved against the workspace root.
#[derive(Debug, Clone)]
pub struct Config {
    /// The workspace root (the folder holding `Cargo.toml`).
    pub root: Utf8PathBuf,
    /// Absolute path of the Prisma-layout migrations folder.
    pub migrations: Utf8PathBuf,
    /// Absolute path of the backups folder.
    pub backups: Utf8PathBuf,
    /// Default retention for `cargo xtask backup` (`keep-backups`), if set.
    pub keep_backups: Option<usize>,
    environments: BTreeMap<String, RawEnvironment>,
}

/// Where `pg_dump` runs for an environment (`pg-dump` key).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
#[serde(rename_all = "kebab-case")]
pub enum PgDumpLocation {
    /// Inside the database container through `docker exec` (the default).
    #[default]
    Container,
    /// The host's `pg_dump` against the connection URL (databases outside compose).
    Host,
}

/// When a deploy applies migrations (`migrate` key).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
#[serde(rename_all = "kebab-case")]
pub enum MigrateOrder {
    /// After the new release is up and healthy (the default): the schema must
    /// suit the old and the new code (expand/contract).
    #[default]
    AfterStart,
    /// Backup, stop, migrate, then start: the new code starts on its schema.
    BeforeStart,
}

/// One environment, checked: compose files exist, the database is not an app service.
///
/// The fields are private and read through methods of the same names, so no
/// code can change an environment after [`Config::environment`] checked it:
///
/// ```compile_fail,E0616
/// fn retarget(env: &mut config::Environment) {
///     env.database_service = "api".to_owned();
/// }
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Environment {
    /// The environment's name (`prod`, `dev`, ...).
    name: String,
    /// The workspace root; compose runs from here.
    root: Utf8PathBuf,
    /// Absolute paths of the compose files, in order.
    compose_files: Vec<Utf8PathBuf>,
    /// `project-name`, if set; else compose's default.
    project_name: Option<String>,
    /// The database service: never stopped, recreated or removed.
    database_service: String,
    /// The app services: the only services drydock stops and recreates.
    app_services: AppServices,
    /// `docker-host`, passed to compose and docker as `DOCKER_HOST`.
    docker_host: Option<String>,
    /// Where `pg_dump` runs.
    pg_dump: PgDumpLocation,
    /// Absolute path of the migrations folder.
    migrations: Utf8PathBuf,
    /// Absolute path of the backups folder.
    backups: Utf8PathBuf,
    /// Seconds to wait for services to become healthy (`health-timeout`, default 120).
    health_timeout_secs: u64,
    /// Seconds to wait for the migration advisory lock (`migrate-lock-wait`, default 60).
    migrate_lock_wait_secs: u64,
    /// `lock_timeout` for the migrating session (`lock-timeout`, e.g. "10s"), if set.
    lock_timeout: Option<String>,
    /// `statement_timeout` for the migrating session (`statement-timeout`), if set.
    statement_timeout: Option<String>,
    /// Retention for backups of this environment (`keep-backups`), if set.
    keep_backups: Option<usize>,
    /// When a deploy migrates (`migrate`, default `after-start`).
    migrate: MigrateOrder,
}

/// The app services of an environment: never contains the database service.
///
/// Only [`Config::environment`] builds one, after checking that. The services
/// drydock stops or recreates are a `compose::Apps`, made from these by the
/// environment's own `Compose`.
///
/// ```compile_fail,E0423
/// // The list cannot be built by hand (its field is private).
/// let apps = config::AppServices(vec!["postgres".to_owned()]);
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AppServices(Vec<String>);

impl AppServices {
    /// The service names, in configured order.
    pub fn names(&self) -> &[String] {
        &self.0
    }
}

#[derive(Debug, Deserialize)]
struct CargoToml {
    workspace: Option<Workspace>,
}

#[derive(Debug, Deserialize)]
struct Workspace {
    metadata: Option<Metadata>,
}

#[derive(Debug, Deserialize)]
struct Metadata {
    deploy: Option<toml::Value>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
struct RawDeploy {
    #[serde(default = "default_migrations")]
    migrations: String,
    #[serde(default = "default_backups")]
    backups: String,
    keep_backups: Option<usize>,
    #[serde(default)]
    environments: BTreeMap<String, RawEnvironment>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
struct RawEnvironment {
    compose_files: Vec<String>,
    project_name: Option<String>,
    database_service: String,
    app_services: Vec<String>,
    docker_host: Option<String>,
    #[serde(default)]
    pg_dump: PgDumpLocation,
    health_timeout: Option<u64>,
    migrate_lock_wait: Option<u64>,
    lock_timeout: Option<String>,
    statement_timeout: Option<String>,
    keep_backups: Option<usize>,
    #[serde(default)]
    migrate: MigrateOrder,
}

fn default_migrations() -> String {
    "migrations".to_owned()
}

fn default_backups() -> String {
    "backups".to_owned()
}

impl Config {
    /// Reads `<root>/Cargo.toml`.
    pub fn load(root: &Utf8Path) -> Result<Config, ConfigError> {
        let path = root.join("Cargo.toml");
        let text = std::fs::read_to_string(&path)
            .map_err(|e| ConfigError::Unreadable { path: path.to_string(), reason: e.to_string() })?;
        Config::parse(root, &text)
    }

    /// Parses the text of a root `Cargo.toml` whose folder is `root`.
    pub fn parse(root: &Utf8Path, cargo_toml: &str) -> Result<Config, ConfigError> {
        let parsed: CargoToml = toml::from_str(cargo_toml).map_err(|e| ConfigError::Unreadable {
            path: root.join("Cargo.toml").to_string(),
            reason: e.message().to_owned(),
        })?;
        let deploy =
            parsed.workspace.and_then(|w| w.metadata).and_then(|m| m.deploy).ok_or_else(|| ConfigError::Invalid {
                key: "workspace.metadata.deploy".to_owned(),
                reason: "the table is missing".to_owned(),
            })?;
        let raw: RawDeploy = deploy.try_into().map_err(|e: toml::de::Error| ConfigError::Invalid {
            key: "workspace.metadata.deploy".to_owned(),
            reason: e.message().trim().to_owned(),
        })?;
        Ok(Config {
            root: root.to_owned(),
            migrations: root.join(raw.migrations),
            backups: root.join(raw.backups),
            keep_backups: raw.keep_backups,
            environments: raw.environments,
        })
    }

    /// The configured environment names, sorted.
    pub fn environment_names(&self) -> Vec<String> {
        self.environments.keys().cloned().collect()
    }

    /// The environment `name`, checked. Compose files must exist; the database
    /// service must not be an app service.
    pub fn environment(&self, name: &str) -> Result<Environment, ConfigError> {
        let raw = self.environments.get(name).ok_or_else(|| ConfigError::UnknownEnvironment {
            name: name.to_owned(),
            known: self.environment_names(),
        })?;
        let key = |k: &str| format!("workspace.metadata.deploy.environments.{name}.{k}");
        if raw.compose_files.is_empty() {
            return Err(ConfigError::Invalid {
                key: key("compose-files"),
                reason: "the list is empty; name at least one compose file".to_owned(),
            });
        }
        if raw.database_service.trim().is_empty() {
            return Err(ConfigError::Invalid {
                key: key("database-service"),
                reason: "name the compose service that runs PostgreSQL".to_owned(),
            });
        }
        if raw.app_services.is_empty() {
            return Err(ConfigError::Invalid {
                key: key("app-services"),
                reason: "the list is empty; name the services a deploy rebuilds and restarts".to_owned(),
            });
        }
        if let Some(twice) = raw.app_services.iter().enumerate().find(|(i, s)| raw.app_services[..*i].contains(s)) {
            return Err(ConfigError::Invalid {
                key: key("app-services"),
                reason: format!("`{}` is named twice; name each service once", twice.1),
            });
        }
        if raw.app_services.contains(&raw.database_service) {
            return Err(ConfigError::DatabaseIsAppService {
                env: name.to_owned(),
                service: raw.database_service.clone(),
            });
        }
        if raw.health_timeout.is_some_and(|t| t < 5) {
            return Err(ConfigError::Invalid {
                key: key("health-timeout"),
                reason: "must be at least 5 seconds, or every start (and its rollback) would fail".to_owned(),
            });
        }
        let mut compose_files = Vec::new();
        for file in &raw.compose_files {
            let path = self.root.join(file);
            if !path.is_file() {
                return Err(ConfigError::MissingComposeFile { env: name.to_owned(), path: file.clone() });
            }
            compose_files.push(path);
        }
        Ok(Environment {
            name: name.to_owned(),
            root: self.root.clone(),
            compose_files,
            project_name: raw.project_name.clone(),
            database_service: raw.database_service.clone(),
            app_services: AppServices(raw.app_services.clone()),
            docker_host: raw.docker_host.clone(),
            pg_dump: raw.pg_dump,
            migrations: self.migrations.clone(),
            backups: self.backups.clone(),
            health_timeout_secs: raw.health_timeout.unwrap_or(120),
            migrate_lock_wait_secs: raw.migrate_lock_wait.unwrap_or(60),
            lock_timeout: raw.lock_timeout.clone(),
            statement_timeout: raw.statement_timeout.clone(),
            keep_backups: raw.keep_backups.or(self.keep_backups),
            migrate: raw.migrate,
        })
    }
}

impl Environment {
    /// The environment's name (`prod`, `dev`, ...).
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The workspace root; compose runs from here.
    pub fn root(&self) -> &Utf8Path {
        &self.root
    }

    /// Absolute paths of the compose files, in order.
    pub fn compose_files(&self) -> &[Utf8PathBuf] {
        &self.compose_files
    }

    /// `project-name`, if set; else compose's default.
    pub fn project_name(&self) -> Option<&str> {
        self.project_name.as_deref()
    }

    /// The database service: never stopped, recreated or removed.
    pub fn database_service(&self) -> &str {
        &self.database_service
    }

    /// The app services: the only services drydock stops and recreates.
    pub fn app_services(&self) -> &AppServices {
        &self.app_services
    }

    /// `docker-host`, passed to compose and docker as `DOCKER_HOST`.
    pub fn docker_host(&self) -> Option<&str> {
        self.docker_host.as_deref()
    }

    /// Where `pg_dump` runs.
    pub fn pg_dump(&self) -> PgDumpLocation {
        self.pg_dump
    }

    /// Absolute path of the migrations folder.
    pub fn migrations(&self) -> &Utf8Path {
        &self.migrations
    }

    /// Absolute path of the backups folder.
    pub fn backups(&self) -> &Utf8Path {
        &self.backups
    }

    /// Seconds to wait for services to become healthy (`health-timeout`, default 120).
    pub fn health_timeout_secs(&self) -> u64 {
        self.health_timeout_secs
    }

    /// Seconds to wait for the migration advisory lock (`migrate-lock-wait`, default 60).
    pub fn migrate_lock_wait_secs(&self) -> u64 {
        self.migrate_lock_wait_secs
    }

    /// `lock_timeout` for the migrating session (`lock-timeout`, e.g. "10s"), if set.
    pub fn lock_timeout(&self) -> Option<&str> {
        self.lock_timeout.as_deref()
    }

    /// `statement_timeout` for the migrating session (`statement-timeout`), if set.
    pub fn statement_timeout(&self) -> Option<&str> {
        self.statement_timeout.as_deref()
    }

    /// Retention for backups of this environment (`keep-backups`), if set.
    pub fn keep_backups(&self) -> Option<usize> {
        self.keep_backups
    }

    /// When a deploy migrates (`migrate`, default `after-start`).
    pub fn migrate(&self) -> MigrateOrder {
        self.migrate
    }

    /// Every service the configuration names: the database first, then the app services.
    pub fn configured_services(&self) -> Vec<String> {
        let mut all = vec![self.database_service.clone()];
        all.extend(self.app_services.names().iter().cloned());
        all
    }

    /// Checks the configured services against the services the compose files define
    /// (the services of `compose config`).
    pub fn check_services_defined(&self, defined: &[String]) -> Result<(), ConfigError> {
        let db = std::iter::once(("database-service", &self.database_service));
        let apps = self.app_services.names().iter().map(|s| ("app-services", s));
        for (key, service) in db.chain(apps) {
            if !defined.contains(service) {
                return Err(ConfigError::UnknownService {
                    env: self.name.clone(),
                    key: key.to_owned(),
                    service: service.clone(),
                    defined: defined.to_vec(),
                });
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests;
