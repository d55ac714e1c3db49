//! Restore that cannot make things worse: replays a verified plain-SQL backup
//! into a database inside one transaction, so the database ends exactly as in
//! the backup or exactly as before.
//!
//! # How a replay stays atomic
//!
//! drydock replays the file itself, over its own tokio-postgres connection
//! (no psql, so no psql meta-command can ever run):
//!
//! 1. `BEGIN`, the transaction id read (`txid_current()`), then [`PREAMBLE`]:
//!    a 30 s `lock_timeout` (a straggler session fails the restore, by pid and
//!    application name, instead of blocking it forever), every non-system
//!    schema not owned by an extension dropped with `CASCADE`, every large
//!    object unlinked, an empty `public` recreated as a fresh database has
//!    it. So a dump made without `--clean` replays over a live database, and
//!    objects created after the backup do not survive it.
//! 2. the file, statement by statement, streamed from disk in constant
//!    memory (the reader): every statement must be of a kind pg_dump writes
//!    (the allow-list, lexed by [`sqllex`] as the server lexes it) and is sent
//!    alone with the extended protocol, so the server itself runs at most one
//!    statement per message; `COPY … FROM stdin` data is streamed with
//!    `COPY` up to the line `\.`; pg_dump's own `BEGIN;`/`COMMIT;` around
//!    large objects and its `--clean` `DROP … IF EXISTS` are not sent.
//!    [`check`] reads the file through the same reader before anything is
//!    touched, and refuses a dump without table data over a database with rows;
//! 3. `SET drydock.restore_complete = 'on'` and [`COMPLETION_CHECK`], then
//!    drydock's own `COMMIT`.
//!
//! Any error, a refusal or an interruption sends `ROLLBACK` on the same
//! connection: its answer is the server's word that nothing changed. When
//! the connection is gone, a new one asks `txid_status` of the restore's
//! transaction; when even that cannot tell, the error says the outcome is
//! unknown ([`RestoreError::outcome`]): never guessed.
//!
//! # Programs it runs
//!
//! `psql`, through [`backup::PgClient`], only to count rows and create or
//! drop the restore test's scratch database: inside the database container
//! or on the host, with the connection in the environment, never through a
//! shell. The backup itself never reaches a program.
//!
//! # What it never does
//!
//! Replay a file that [`backup::verify`] did not accept (the functions take a
//! [`backup::Verified`]), stop or start any service (the xtask's restore
//! pipeline stops the app services around the replay and always starts them
//! again), or print.

#![deny(missing_docs)]

mod admit;
mod check;
mod error;
mod reader;
mod replay;
mod scratch;

pub use check::{check, Checked};
pub use error::{Outcome, RestoreError};
pub use replay::{replay, table_counts, Replayed, COMPLETION_CHECK, PREAMBLE};
pub use scratch::{restore_test, RestoreTest, TableCount};
