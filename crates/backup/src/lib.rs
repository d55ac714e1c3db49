//! Backups that cannot lie: a plain-SQL `pg_dump` of an environment's
//! database, streamed to a `.partial` file, checked, synced and renamed, with
//! a `sha256sum`-format sidecar.
//!
//! # What a backup is
//!
//! `backups/backup_<env>_YYYYMMDD_HHMMSS.sql` (UTC, mode 0600) and
//! `backup_<env>_YYYYMMDD_HHMMSS.sql.sha256`. A file of that name exists only
//! when `pg_dump` exited 0, wrote a non-empty file ending with the
//! `-- PostgreSQL database dump complete` trailer, and the file was synced to
//! disk. Anything else (a failing `pg_dump`, a stopped container, a full
//! disk, an interruption) removes the `.backup_<env>_<ts>.sql.partial` file
//! and returns an error. Two backups in the same second never share a name:
//! the second waits for the next second.
//!
//! # Dump options, and why
//!
//! `pg_dump --format=plain --clean --if-exists --no-owner`:
//!
//! - plain SQL, so that the server's own `psql` replays it inside one
//!   transaction (`--single-transaction`), which a custom-format archive
//!   through `pg_restore` cannot do together with dropping what exists;
//! - `--clean --if-exists`, so that the file alone, replayed over a live
//!   database, drops the objects it is about to create (drydock's restore
//!   additionally empties every schema first, so that objects created after
//!   the backup do not survive and hand-made dumps without `--clean` work too);
//! - `--no-owner`, so that objects belong to the role that restores (the
//!   database container's `POSTGRES_USER`, which the app uses) and a backup of
//!   one environment restores into another whose role has a different name.
//!   Privileges (`GRANT`) are kept: a missing role then fails the restore,
//!   which rolls back, rather than silently losing a grant.
//!
//! # Programs it runs
//!
//! `pg_dump` and `psql`, either inside the database container (`docker exec`
//! of the running container, the default: the server's own version; on a local
//! engine no password crosses the network) or on the host over TCP
//! ([`PgClient`]). Each pg_dump's session is named (`PGAPPNAME`), so a
//! cancelled dump's server session is ended too. The connection travels in
//! `PGUSER`, `PGDATABASE`, `PGPASSWORD`, ... environment variables, never in
//! argv. Never through a shell.
//!
//! # What it never does
//!
//! Print (results are values; progress is a callback), hold a dump in memory
//! (pg_dump writes straight into the file, which is then hashed through one
//! 1 MiB buffer), delete a file that does not match the
//! exact `backup_<env>_YYYYMMDD_HHMMSS.sql` pattern, or delete the newest
//! backup.

#![deny(missing_docs)]

mod catalog;
mod client;
mod dump;
mod error;
mod verify;

pub use catalog::{file_name, list, parse_name, prune, BackupFile};
pub use client::{Database, PgClient, PgTool};
pub use dump::{dump, Backup, DUMP_OPTIONS};
pub use error::BackupError;
pub use verify::{copy_row_counts, sha256_file, verify, Sidecar, Verified, VerifyError, TRAILER};
