//! The configuration contract: `[workspace.metadata.deploy]` in the root `Cargo.toml`.
//!
//! ```toml
//! [workspace.metadata.deploy]
//! migrations = "migrations"        # Prisma-layout migrations folder, relative to the workspace root
//! backups = "backups"
//! keep-backups = 30                # optional retention, see crates/backup
//!
//! [workspace.metadata.deploy.environments.prod]
//! compose-files = ["demo/docker-compose.prod.yml"]
//! project-name = "drydock-demo-prod"   # optional, else compose's default
//! database-service = "postgres"
//! app-services = ["api", "web", "redis"]
//! docker-host = "ssh://deploy@prod"    # optional, passed to compose as DOCKER_HOST
//! pg-dump = "container"                # optional: "container" (default) or "host"
//! ```
//!
//! This crate only reads and checks the file; it runs no program and touches no
//! file besides `Cargo.toml`. Checks that need compose itself (is every named
//! service defined in the compose files?) live in `crates/compose`.
//!
//! Secrets never live here: the database connection is derived from the
//! running database container (see `compose::database_url`) or `DATABASE_URL`.

#![deny(missing_docs)]

mod error;
mod model;

pub use error::ConfigError;
pub use model::{AppServices, Config, Environment, MigrateOrder, PgDumpLocation};
