//! Running the plan: one round trip per transactional migration, its ledger row inside the same transaction.

use std::time::{Duration, Instant};

use time::OffsetDateTime;
use tokio_postgres::error::ErrorPosition;
use tokio_postgres::Client;

use crate::ledger::{self, TABLE};
use crate::mode::Mode;
use crate::plan::{Pending, Plan};
use crate::session::quote_literal;
use crate::{lexer, MigrateError};

/// A migration this run applied.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Applied {
    pub name: String,
    pub mode: Mode,
    /// Time from sending the script to its commit.
    pub duration: Duration,
}

/// Progress of [`apply`], for a progress bar or a log line.
#[derive(Debug)]
pub enum Event<'a> {
    /// About to send migration `index` (0-based) of `total`.
    Started {
        index: usize,
        total: usize,
        pending: &'a Pending,
    },
    /// It is applied and recorded.
    Applied(&'a Applied),
}

/// Applies `plan` in order (creating the ledger first if needed), stopping at
/// the first failure. Call it while holding [`crate::lock`], right after
/// [`crate::plan`] on a fresh [`crate::read_history`].
///
/// A transactional migration is sent as `BEGIN; <file>; <ledger row>; COMMIT;`
/// in one simple query: it either commits with its row or leaves nothing, and
/// a rolled-back attempt is then recorded with `rolled_back_at` and the error
/// in `logs`. A no-tx migration is sent alone, between a "started" row and
/// its completion, exactly as Prisma does; if it fails its row stays failed.
///
/// Durability: transactional migrations commit with `synchronous_commit = off`
/// (each still atomic with its ledger row); the last write of the run (the
/// last migration, or the record of a failure) commits with the session's own
/// setting, which flushes every earlier commit, so `apply` returns only once
/// everything it reports is durable. No-tx migrations always commit durably.
pub async fn apply(
    client: &Client,
    plan: &Plan,
    mut on_event: impl FnMut(Event<'_>),
) -> Result<Vec<Applied>, MigrateError> {
    let bookkeeping = |doing: &str, e: tokio_postgres::Error| MigrateError::Database {
        doing: doing.to_owned(),
        reason: describe(&e),
    };
    if !plan.ledger_exists {
        client
            .batch_execute(&ledger::create_sql(&plan.schema))
            .await
            .map_err(|e| bookkeeping(&format!("create {TABLE}"), e))?;
    }
    let total = plan.pending.len();
    if total == 0 {
        return Ok(Vec::new());
    }
    let row = client
        .query_one(
            "SELECT current_setting('synchronous_commit'), set_config('synchronous_commit', 'off', false)",
            &[],
        )
        .await
        .map_err(|e| bookkeeping("set synchronous_commit", e))?;
    let durable = Durable(row.get(0));
    let mut done = Vec::with_capacity(total);
    for (index, pending) in plan.pending.iter().enumerate() {
        on_event(Event::Started {
            index,
            total,
            pending,
        });
        let started = Instant::now();
        let last = index + 1 == total;
        match pending.mode {
            Mode::Transaction => {
                run_in_transaction(client, &plan.schema, pending, &durable, last).await?
            }
            Mode::NoTransaction => run_alone(client, &plan.schema, pending, &durable, last).await?,
        }
        let applied = Applied {
            name: pending.migration.name.clone(),
            mode: pending.mode,
            duration: started.elapsed(),
        };
        on_event(Event::Applied(&applied));
        done.push(applied);
    }
    Ok(done)
}

/// The session's own `synchronous_commit`, restored for durable commits.
struct Durable(String);

impl Durable {
    fn set(&self) -> String {
        format!("SET synchronous_commit TO {}", quote_literal(&self.0))
    }
}

async fn run_in_transaction(
    client: &Client,
    schema: &str,
    pending: &Pending,
    durable: &Durable,
    last: bool,
) -> Result<(), MigrateError> {
    let m = &pending.migration;
    let id = ledger::new_id();
    // The last commit restores the session's setting (a SET inside a
    // transaction lasts past its commit) and so is durable.
    let prefix = if last {
        format!("BEGIN; {};\n", durable.set())
    } else {
        "BEGIN;\n".to_owned()
    };
    // The newline ends a trailing `--` comment of a file without a final newline.
    let sql = format!(
        "{prefix}{}\n;\n{};\nCOMMIT;",
        m.script,
        ledger::applied_row_sql(schema, &id, m)
    );
    let started_at = OffsetDateTime::now_utc();
    let Err(e) = client.batch_execute(&sql).await else {
        return Ok(());
    };
    let error = describe_in_script(&e, &sql, prefix.len(), &m.script);
    // The failed statement aborted the transaction and the server skipped the
    // rest of the script, COMMIT included: end the transaction, then record
    // the attempt durably (which also flushes the run's earlier commits).
    let _ = client
        .batch_execute(&format!("ROLLBACK; {}", durable.set()))
        .await;
    let audit = format!(
        "INSERT INTO {} (id, checksum, finished_at, migration_name, logs, rolled_back_at, started_at, applied_steps_count) VALUES ($1, $2, NULL, $3, $4, now(), $5, 0)",
        ledger::table(schema)
    );
    let _ = client
        .execute(
            &audit,
            &[&ledger::new_id(), &m.checksum, &m.name, &error, &started_at],
        )
        .await;
    Err(MigrateError::Failed {
        name: m.name.clone(),
        mode: Mode::Transaction,
        error,
    })
}

async fn run_alone(
    client: &Client,
    schema: &str,
    pending: &Pending,
    durable: &Durable,
    last: bool,
) -> Result<(), MigrateError> {
    let m = &pending.migration;
    let table = ledger::table(schema);
    let id = ledger::new_id();
    let bookkeeping = |doing: &str, e: tokio_postgres::Error| MigrateError::Database {
        doing: format!("{doing} for {} in {TABLE}", m.name),
        reason: describe(&e),
    };
    let start = format!(
        "{}; INSERT INTO {table} (id, checksum, migration_name, started_at, applied_steps_count) VALUES ({}, {}, {}, now(), 0)",
        durable.set(),
        quote_literal(&id),
        quote_literal(&m.checksum),
        quote_literal(&m.name)
    );
    client
        .batch_execute(&start)
        .await
        .map_err(|e| bookkeeping("record the start", e))?;
    match client.batch_execute(&m.script).await {
        Ok(()) => {
            let finish = format!(
                "UPDATE {table} SET finished_at = now(), applied_steps_count = 1 WHERE id = {}",
                quote_literal(&id)
            );
            client
                .batch_execute(&finish)
                .await
                .map_err(|e| bookkeeping("record the end", e))?;
            if !last {
                client
                    .batch_execute("SET synchronous_commit TO off")
                    .await
                    .map_err(|e| bookkeeping("set synchronous_commit", e))?;
            }
            Ok(())
        }
        Err(e) => {
            let error = describe_in_script(&e, &m.script, 0, &m.script);
            // A file with its own BEGIN may have left an aborted transaction open.
            let _ = client.batch_execute("ROLLBACK").await;
            client
                .execute(
                    &format!("UPDATE {table} SET logs = $2 WHERE id = $1"),
                    &[&id, &error],
                )
                .await
                .map_err(|e| bookkeeping("record the failure", e))?;
            Err(MigrateError::Failed {
                name: m.name.clone(),
                mode: Mode::NoTransaction,
                error,
            })
        }
    }
}

/// The server's message: `ERROR: ... (SQLSTATE 42P01)`, with detail, hint and context.
pub(crate) fn describe(e: &tokio_postgres::Error) -> String {
    let Some(db) = e.as_db_error() else {
        let mut text = e.to_string();
        let mut source = std::error::Error::source(e);
        while let Some(s) = source {
            text.push_str(&format!(": {s}"));
            source = s.source();
        }
        return text;
    };
    let mut text = format!(
        "{}: {} (SQLSTATE {})",
        db.severity(),
        db.message(),
        db.code().code()
    );
    if let Some(detail) = db.detail() {
        text.push_str(&format!("; detail: {detail}"));
    }
    if let Some(hint) = db.hint() {
        text.push_str(&format!("; hint: {hint}"));
    }
    if let Some(context) = db.where_() {
        text.push_str(&format!("; context: {}", context.replace('\n', " / ")));
    }
    text
}

/// [`describe`], plus the line in `migration.sql` when the server reports a
/// position inside the script (which starts at byte `script_at` of `sent`).
fn describe_in_script(
    e: &tokio_postgres::Error,
    sent: &str,
    script_at: usize,
    script: &str,
) -> String {
    let text = describe(e);
    let Some(ErrorPosition::Original(position)) = e.as_db_error().and_then(|db| db.position())
    else {
        return text;
    };
    // The position counts characters from 1.
    let Some((offset, _)) = sent
        .char_indices()
        .nth((*position as usize).saturating_sub(1))
    else {
        return text;
    };
    match offset.checked_sub(script_at).filter(|o| *o < script.len()) {
        Some(o) => format!(
            "{text} at line {} of migration.sql",
            lexer::line_of(script, o)
        ),
        None => text,
    }
}
