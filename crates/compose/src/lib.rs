//! Everything drydock does to compose services, for `docker compose` (v2) and
//! `docker-compose` (v1), detected automatically (`DRYDOCK_COMPOSE=v1|v2` forces one).
//!
//! Runs: `docker compose` or `docker-compose` (config, build, pull of app
//! services, stop, start, up, ps -q, logs) and `docker` (version, ps by
//! compose's labels, inspect, image inspect, logs, tag, `exec` of pg_dump
//! or psql in the database container), never
//! through a shell, with `DOCKER_HOST` set from the environment's `docker-host`.
//!
//! Reads state only from container ids (`ps -a -q`) and `docker inspect`:
//! never from `ps` tables, version-specific JSON formats or name patterns.
//!
//! Never: stops, recreates or removes the database service (only [`Apps`]
//! builds, pulls, stops or recreates, and an `Apps` is made by a `Compose`
//! from its own environment's app services, which cannot contain the
//! database; it checks again at run time); emits `down`, `rm`, `-v` or `--volumes` (every command
//! is a variant of one enum, its argv rendered in `command.rs`, and the
//! rendered argv passes an allow-list in `program.rs`). Never prints: results are values.

#![deny(missing_docs)]

mod apps;
mod command;
mod database;
mod definition;
mod error;
mod program;
mod state;

pub use apps::Apps;
pub use command::PgTool;
pub use database::{redact_url, DatabaseTarget};
pub use definition::ServiceDefinition;
pub use error::ComposeError;
pub use program::{last_lines, short_id, Compose, Flavor, Ready};
pub use state::{ContainerState, Decision, ServiceSpec, ServiceState};
