//! The `_prisma_migrations` table: Prisma's ledger, column for column.

use time::OffsetDateTime;
use tokio_postgres::Client;

use crate::session::{quote_ident, quote_literal};
use crate::{MigrateError, Migration};

/// The ledger's table name, in the connection's schema.
pub const TABLE: &str = "_prisma_migrations";

/// One ledger row. A name may have several rows (a rolled-back attempt, then the applied one).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LedgerRow {
    /// A random UUID v4.
    pub id: String,
    /// Lowercase hex SHA-256 of `migration.sql` when it ran.
    pub checksum: String,
    /// Set when the migration completed.
    pub finished_at: Option<OffsetDateTime>,
    /// The migration (its folder name).
    pub migration_name: String,
    /// The error of a failed attempt.
    pub logs: Option<String>,
    /// Set when an attempt was rolled back (by drydock, or `resolve --rolled-back`).
    pub rolled_back_at: Option<OffsetDateTime>,
    /// When the attempt started.
    pub started_at: OffsetDateTime,
    /// 1 for an applied migration, 0 otherwise.
    pub applied_steps_count: i32,
}

impl LedgerRow {
    /// Applied: finished and not rolled back.
    pub fn is_applied(&self) -> bool {
        self.finished_at.is_some() && self.rolled_back_at.is_none()
    }

    /// Failed: neither finished nor rolled back (Prisma refuses to go on, P3009).
    pub fn is_failed(&self) -> bool {
        self.finished_at.is_none() && self.rolled_back_at.is_none()
    }
}

/// `"schema"._prisma_migrations`: every statement names the schema, so a
/// migration that changes `search_path` cannot misdirect the ledger.
pub(crate) fn table(schema: &str) -> String {
    format!("{}.{TABLE}", quote_ident(schema))
}

/// Prisma's `CREATE TABLE`, in `schema`.
pub(crate) fn create_sql(schema: &str) -> String {
    format!(
        "CREATE TABLE {} (id VARCHAR(36) PRIMARY KEY NOT NULL, checksum VARCHAR(64) NOT NULL, finished_at TIMESTAMPTZ, migration_name VARCHAR(255) NOT NULL, logs TEXT, rolled_back_at TIMESTAMPTZ, started_at TIMESTAMPTZ NOT NULL DEFAULT now(), applied_steps_count INTEGER NOT NULL DEFAULT 0)",
        table(schema)
    )
}

/// The row of a successful transactional run, as a statement to send inside
/// its transaction: `started_at` is the transaction's start, `finished_at` the
/// moment the script ended.
pub(crate) fn applied_row_sql(schema: &str, id: &str, migration: &Migration) -> String {
    format!(
        "INSERT INTO {} (id, checksum, finished_at, migration_name, logs, rolled_back_at, started_at, applied_steps_count) VALUES ({}, {}, clock_timestamp(), {}, NULL, NULL, now(), 1)",
        table(schema),
        quote_literal(id),
        quote_literal(&migration.checksum),
        quote_literal(&migration.name)
    )
}

/// The audit row of an attempt that rolled back (parameters: id, checksum, name, logs).
pub(crate) fn rolled_back_row_sql(schema: &str) -> String {
    format!(
        "INSERT INTO {} (id, checksum, finished_at, migration_name, logs, rolled_back_at, started_at, applied_steps_count) VALUES ($1, $2, NULL, $3, $4, now(), now(), 0)",
        table(schema)
    )
}

/// The start row of a migration sent alone (no transaction): finished by [`finished_sql`].
pub(crate) fn started_row_sql(schema: &str, id: &str, migration: &Migration) -> String {
    format!(
        "INSERT INTO {} (id, checksum, migration_name, started_at, applied_steps_count) VALUES ({}, {}, {}, now(), 0)",
        table(schema),
        quote_literal(id),
        quote_literal(&migration.checksum),
        quote_literal(&migration.name)
    )
}

/// Marks the row `id` finished and applied.
pub(crate) fn finished_sql(schema: &str, id: &str) -> String {
    format!(
        "UPDATE {} SET finished_at = now(), applied_steps_count = 1 WHERE id = {}",
        table(schema),
        quote_literal(id)
    )
}

/// Fails (division by zero) unless the row `id` of the previous pipelined
/// migration is committed: a transaction never runs after a failed one.
pub(crate) fn committed_guard_sql(schema: &str, id: &str) -> String {
    format!("SELECT 1 / (SELECT count(*)::int FROM {} WHERE id = {})", table(schema), quote_literal(id))
}

/// Sets the logs of a row (parameters: id, logs).
pub(crate) fn logs_sql(schema: &str) -> String {
    format!("UPDATE {} SET logs = $2 WHERE id = $1", table(schema))
}

/// The row `prisma migrate resolve --applied` (and a baseline) writes: finished, 0 steps, empty logs.
pub(crate) fn resolved_applied_row_sql(schema: &str, migration: &Migration) -> String {
    format!(
        "INSERT INTO {} (id, checksum, finished_at, migration_name, logs, rolled_back_at, started_at, applied_steps_count) VALUES ({}, {}, now(), {}, '', NULL, now(), 0)",
        table(schema),
        quote_literal(&new_id()),
        quote_literal(&migration.checksum),
        quote_literal(&migration.name)
    )
}

/// Marks the failed attempts of `name` rolled back (`prisma migrate resolve --rolled-back`).
pub(crate) fn mark_rolled_back_sql(schema: &str, name: &str) -> String {
    format!(
        "UPDATE {} SET rolled_back_at = now() WHERE migration_name = {} AND finished_at IS NULL AND rolled_back_at IS NULL",
        table(schema),
        quote_literal(name)
    )
}

/// Every row, oldest first.
pub(crate) async fn read(client: &Client, schema: &str) -> Result<Vec<LedgerRow>, MigrateError> {
    let sql = format!(
        "SELECT id, checksum, finished_at, migration_name, logs, rolled_back_at, started_at, applied_steps_count FROM {} ORDER BY started_at, migration_name",
        table(schema)
    );
    let rows = client
        .query(&sql, &[])
        .await
        .map_err(|e| MigrateError::Database { doing: format!("read {TABLE}"), reason: crate::error::describe(&e) })?;
    Ok(rows
        .iter()
        .map(|r| LedgerRow {
            id: r.get(0),
            checksum: r.get(1),
            finished_at: r.get(2),
            migration_name: r.get(3),
            logs: r.get(4),
            rolled_back_at: r.get(5),
            started_at: r.get(6),
            applied_steps_count: r.get(7),
        })
        .collect())
}

/// A new row id: a random UUID v4.
pub(crate) fn new_id() -> String {
    uuid::Uuid::new_v4().to_string()
}
