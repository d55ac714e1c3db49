//! Test fixtures shared by drydock's integration tests, each cleaned up on
//! drop. Test-only: no drydock command links this crate.
//!
//! - [`Stack`]: the demo compose stack under a unique project name.
//! - [`Cluster`]: a throwaway PostgreSQL cluster from the host's server
//!   binaries (`/usr/lib/postgresql/15/bin`), for fast migration tests.
//!
//! Runs `docker`, `docker compose`, `initdb` and `pg_ctl` directly. Cleanup removes only what the
//! fixture created (containers, networks, volumes and images labelled with its
//! own unique project name), never anything of another project.

pub mod cluster;
mod stack;

pub use cluster::{Cluster, Database, Durability};
pub use stack::{require_bench, Stack};
