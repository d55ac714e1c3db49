//! Integration tests of `crates/migrate` against a real PostgreSQL (a throwaway
//! cluster from the host's binaries, see `testbench::cluster`).
//!
//! Index:
//! - `support`: the fixture: a fresh database, a temporary migrations folder, a deploy like the xtask's.
//! - `history`: a generated history with every shape real ones have (DO blocks,
//!   CONCURRENTLY alone, own BEGIN/COMMIT, duplicate timestamps, CRLF, no final
//!   newline, ALTER TYPE ADD VALUE); rerun applies nothing.
//! - `baseline`: a `db push` database is recorded as migrated only when the
//!   migrations give exactly its schema; any difference is named and changes nothing.
//! - `ledger`: `_prisma_migrations` column for column, as Prisma creates and fills it.
//! - `atomicity`: a failure in the third statement leaves no trace; a no-tx
//!   failure leaves a failed row that blocks until `resolve`.
//! - `validation`: drift, missing folders, out-of-order, non-empty schema
//!   without ledger and baselining, the lock file, unsafe scripts (a BEGIN the
//!   file never ends), all refused before any change.
//! - `lexing`: the session's `standard_conforming_strings` (set off on the
//!   database) decides what is a string; files that turn it off are refused in
//!   every spelling; the server confirms the plan's lexing before each file.
//! - `locking`: two runners at once; a held lock times out naming its holder.
//! - `session`: `lock_timeout`/`statement_timeout`, Prisma's `?schema=` URLs,
//!   and the server behaviour the mode rules rely on.
//! - `corpus`: the real-world check on `../shared/corpus/documenso/migrations`
//!   (ignored by default: `cargo test -p migrate --test migrate -- --ignored corpus`).

mod support;

mod atomicity;
mod baseline;
mod corpus;
mod history;
mod ledger;
mod lexing;
mod locking;
mod session;
mod validation;
