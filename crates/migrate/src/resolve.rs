//! `migrate resolve`: Prisma's way out of a failed migration, and of baselining.

use tokio_postgres::Client;

use crate::ledger::{self, TABLE};
use crate::plan::History;
use crate::MigrateError;

/// What to record about a migration.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Resolution {
    /// It is in the database (finished by hand, or part of a baseline):
    /// failed rows of it are marked rolled back and an applied row is added
    /// (`started_at` = `finished_at`, `logs` empty, `applied_steps_count` 0, as Prisma writes it).
    /// Creates the ledger if absent, even in a non-empty schema.
    Applied,
    /// Its failed attempt was undone: its failed rows get `rolled_back_at`, so
    /// the next deploy runs it again.
    RolledBack,
}

/// Records `resolution` for migration `name` in one transaction. Hold the lock
/// and pass a fresh [`History`].
pub async fn resolve(
    client: &Client,
    history: &History,
    name: &str,
    resolution: Resolution,
) -> Result<(), MigrateError> {
    let refuse = |reason: String| MigrateError::Resolve { name: name.to_owned(), reason };
    let failed = history.rows.iter().any(|r| r.migration_name == name && r.is_failed());
    let sql = match resolution {
        Resolution::Applied => {
            let Some(m) = history.local.iter().find(|m| m.name == name) else {
                return Err(refuse("there is no such folder in the migrations folder: check the name (`cargo xtask migrate status ENV` lists them)".into()));
            };
            if history.rows.iter().any(|r| r.migration_name == name && r.is_applied()) {
                return Err(refuse("it is already recorded as applied (Prisma P3008)".into()));
            }
            let mut sql = String::from("BEGIN;\n");
            if !history.ledger_exists {
                sql.push_str(&format!("{};\n", ledger::create_sql(&history.schema)));
            }
            sql.push_str(&format!(
                "{};\n{};\nCOMMIT;",
                ledger::mark_rolled_back_sql(&history.schema, name),
                ledger::resolved_applied_row_sql(&history.schema, m)
            ));
            sql
        }
        Resolution::RolledBack => {
            if !failed {
                return Err(refuse(
                    "it is not in a failed state (Prisma P3012): only a failed migration can be marked rolled back"
                        .into(),
                ));
            }
            ledger::mark_rolled_back_sql(&history.schema, name)
        }
    };
    if let Err(e) = client.batch_execute(&sql).await {
        let _ = client.batch_execute("ROLLBACK").await;
        return Err(MigrateError::Database { doing: format!("update {TABLE}"), reason: crate::error::describe(&e) });
    }
    Ok(())
}
