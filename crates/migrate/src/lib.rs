//! Prisma-compatible migrations for PostgreSQL, safer than `prisma migrate deploy`.
//!
//! A Prisma project adopts drydock with its existing history, and Prisma still
//! understands the database afterwards:
//!
//! - **Layout**: every sub-folder of the migrations folder is a migration whose
//!   script is `migration.sql`; its name is the folder name; order is byte
//!   order of names. `migration_lock.toml` must say `provider = "postgresql"`.
//! - **Ledger**: Prisma's `_prisma_migrations`, column for column, created only
//!   if absent in the connection's schema; checksums are the SHA-256 of the raw
//!   file, compared tolerantly of CRLF/LF.
//! - **Lock**: Prisma's advisory lock 72707369, polled with backoff until a
//!   deadline, naming the holder while waiting.
//!
//! # How a deploy reads
//!
//! 1. [`load_dir`]: read the folder (refuses a wrong `migration_lock.toml` before connecting).
//! 2. [`connect`], [`configure`] (`lock_timeout`, `statement_timeout`), [`lock`].
//! 3. [`read_history`], then [`plan`]: every check before the first change
//!    (failed rows, drift, missing folders, out-of-order, a non-empty schema
//!    without ledger, scripts that cannot be sent safely); refuses with every
//!    [`Problem`] at once.
//! 4. [`apply`]: each transactional migration runs with its ledger row in one
//!    transaction, pipelined behind the previous one (a failure stops the
//!    rest before they change anything); commits are asynchronous until the
//!    run's last write, which makes them all durable. Files that cannot run in a transaction
//!    ([`Mode::NoTransaction`], chosen by a SQL lexer or a first-line
//!    `-- drydock: no-transaction` / `-- drydock: transaction` directive) are
//!    sent alone as Prisma sends them.
//! 5. [`unlock`].
//!
//! [`status`] reports without refusing, [`resolve`] is `prisma migrate resolve`,
//! [`baseline`] adopts a database made without migrations once its schema is proven equal,
//! [`lint`] flags destructive statements, [`create`] starts a new migration.
//!
//! Runs no external program; talks to PostgreSQL over tokio-postgres (no TLS).
//! Never prints, never puts the database URL in an error, never edits a
//! migration file, never deletes a ledger row.

#![deny(missing_docs)]

mod apply;
mod baseline;
mod error;
mod folder;
mod ledger;
mod lint;
mod lock;
mod mode;
mod plan;
mod resolve;
mod session;

pub use apply::{apply, Applied, Event};
pub use baseline::{baseline, Baseline, Difference};
pub use error::{InEnv, MigrateError, Problem, ENV};
pub use folder::{checksum, create, load_dir, Migration, LOCK_FILE};
pub use ledger::{LedgerRow, TABLE};
pub use lint::{lint, Finding, FindingKind};
pub use lock::{holder, lock, unlock, LockHolder, KEY as LOCK_KEY};
pub use mode::{classify, Carry, Classification, Mode, ScriptError};
pub use plan::{plan, read_history, status, History, Options, Pending, Plan, Status};
pub use resolve::{resolve, Resolution};
pub use session::{configure, connect, Settings, APPLICATION_NAME};
pub use sqllex::LexError;
