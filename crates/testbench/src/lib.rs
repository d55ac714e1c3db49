//! Test fixtures shared by drydock's integration tests: a demo compose stack
//! under a unique project name, cleaned up on drop. Test-only: no drydock
//! command links this crate.
//!
//! Runs `docker` and `docker compose` directly. Cleanup removes only what the
//! fixture created (containers, networks, volumes and images labelled with its
//! own unique project name), never anything of another project.

pub mod cluster;
mod stack;

pub use cluster::{Cluster, Database, Durability};

pub use stack::{require_bench, Stack};
