//! Test fixtures shared by drydock's integration tests and `cargo xtask bench`,
//! each cleaned up on drop. No command that touches a user's stack uses it.
//!
//! - [`Stack`]: the demo compose stack under a unique project name.
//! - [`RemoteEngine`]: a second Docker engine behind a real sshd, for `ssh://` docker hosts.
//! - [`Cluster`]: a throwaway PostgreSQL cluster from the host's server
//!   binaries (`/usr/lib/postgresql/15/bin`), for fast migration tests.
//! - [`Registry`]: an image registry on loopback (Debian's `docker-registry`),
//!   for pulled app services.
//!
//! Runs `docker`, `docker compose`, `docker-registry`, `initdb` and `pg_ctl`
//! directly. Cleanup removes only what the fixture created (containers,
//! networks, volumes and images labelled with its own unique project name, a
//! registry's own images), never anything of another project.

#![deny(missing_docs)]

pub mod cluster;
mod registry;
pub mod remote;
mod stack;

pub use cluster::{Cluster, Database, Durability};
pub use registry::Registry;
pub use remote::RemoteEngine;
pub use stack::{require_bench, Stack};
