//! The deploy preflight: read-only checks that refuse the mistakes that wipe
//! production databases, before anything changes.
//!
//! - [`scan_services`]: follows what each app service really runs (Dockerfile
//!   `RUN`/`CMD`/`ENTRYPOINT`, compose `command`/`entrypoint`, package.json
//!   scripts, shell scripts, Makefile targets, entrypoint folders, bind-mounted
//!   code) and refuses commands that drop schema objects or data
//!   ([`classify`]), each finding with the chain that leads to it.
//! - [`check_data_volume`]: the database keeps its data in a named volume or
//!   a bind mount, not in the container's writable layer.
//! - [`check_disk_room`]: the backups folder's disk has room for a backup.
//!
//! Runs no program and changes nothing; reads files only. Returns every
//! finding at once so the operator fixes them in one go. A preflight is no
//! sandbox: what a service computes or downloads at run time is not seen
//! (SECURITY.md, "Preflight").

#![deny(missing_docs)]

mod dockerfile;
mod follow;
mod makefile;
mod rules;
mod scan;
mod shell;

pub use rules::{classify, destructive_sql, Refusal, SqlSource, Verdict};
pub use scan::{check_data_volume, check_disk_room, destructive_command, scan_services, scan_text, Finding};
