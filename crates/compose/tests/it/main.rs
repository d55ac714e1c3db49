//! Integration tests of `crates/compose` against a real Docker engine, for
//! both `docker compose` (v2) and `docker-compose` (v1).
//!
//! - `services`: stop, recreate and start app services; the database is untouched.
//! - `health`: waiting for health succeeds, and fails usefully for a container
//!   that never gets healthy or exits.
//! - `state`: state of stopped and absent services, the derived database URL.

mod health;
mod services;
mod state;
