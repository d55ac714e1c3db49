//! Restore that cannot make things worse: replays a verified plain-SQL backup
//! into a database inside one transaction, so the database ends exactly as in
//! the backup or exactly as before.
//!
//! # How a replay stays atomic
//!
//! One `psql -X --set=ON_ERROR_STOP=1 --single-transaction` runs, in order:
//!
//! 1. [`PREAMBLE`] (`-c`): sets a 30 s `lock_timeout` (a straggler session
//!    fails the restore, by pid and application name, instead of blocking it
//!    forever), reports the transaction id on stderr, drops every non-system
//!    schema not owned by an extension with `CASCADE`,
//!    unlinks every large object and recreates an empty `public` schema as a
//!    fresh database has it. So a dump made without `--clean` (a hand-run
//!    `pg_dump`) replays over a live, non-empty database, and objects created
//!    after the backup do not survive it.
//! 2. the backup (`-f -`), streamed from disk through a pipe and a 1 MiB
//!    buffer, line-aware in constant memory: `COPY` data passes untouched;
//!    pg_dump's own `BEGIN;`/`COMMIT;` around large objects is dropped (it
//!    would commit everything so far); `\connect`, `\i`, `\!`, `\o`, `\set`
//!    and a stray `COMMIT;` stop the stream (roll back). [`check`] reads the
//!    file through the same filter before anything is touched, and refuses a
//!    dump without table data over a database with rows. The stream is
//!    followed by `SET drydock.restore_complete = 'on'`, which drydock
//!    writes only after the last byte of the file;
//! 3. [`COMPLETION_CHECK`] (`-c`): raises an error unless that setting is on.
//!
//! Any error rolls the whole transaction back, and so does a stream cut short
//! (psql would otherwise take the end of its input as the end of the file and
//! commit): a killed drydock, a broken pipe, Ctrl-C. An interruption after the
//! whole file was sent cancels the running statement (`pg_cancel_backend`).
//! When psql ends abnormally after the whole file was sent, the outcome is
//! asked of the server (`txid_status` once the session is gone), or reported
//! as unknown: never guessed.
//!
//! # Programs it runs
//!
//! `psql`, through [`backup::PgClient`]: inside the database container or on
//! the host, with the connection in the environment, never through a shell.
//! The file is opened by drydock and streamed; its path never reaches a
//! command line.
//!
//! # What it never does
//!
//! Replay a file that [`backup::verify`] did not accept (the functions take a
//! [`backup::Verified`]), stop the database service, leave the app services
//! stopped ([`with_app_stopped`] starts them again whatever happened), or print.

#![deny(missing_docs)]

mod check;
mod error;
mod filter;
mod outage;
mod replay;
mod scratch;

pub use check::{check, Checked};
pub use error::RestoreError;
pub use outage::{with_app_stopped, Outage};
pub use replay::{replay, table_counts, Replayed, COMPLETION_CHECK, PREAMBLE};
pub use scratch::{restore_test, RestoreTest, TableCount};
