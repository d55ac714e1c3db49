//! The deploy preflight: read-only checks that refuse the mistakes that wipe
//! production databases, before anything changes.
//!
//! - [`scan_services`]: app services' Dockerfiles, compose `command` /
//!   `entrypoint`, and the scripts they name, searched for schema-destroying
//!   commands (`prisma db push --accept-data-loss`, `prisma migrate reset`,
//!   `dropdb`, `DROP DATABASE`, `docker compose down -v`, ...).
//! - [`check_data_volume`]: the database keeps its data in a named volume or
//!   a bind mount, not in the container's writable layer.
//! - [`check_disk_room`]: the backups folder's disk has room for a backup.
//!
//! Runs no program and changes nothing; reads files only. Returns every
//! finding at once so the operator fixes them in one go.

mod rules;
mod scan;

pub use rules::{destructive_command, DESTRUCTIVE_COMMANDS};
pub use scan::{check_data_volume, check_disk_room, scan_services, scan_text, Finding};
