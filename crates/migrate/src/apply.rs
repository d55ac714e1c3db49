//! Running the plan: each transactional migration with its ledger row in one transaction, pipelined.

use std::collections::VecDeque;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::Poll;
use std::time::{Duration, Instant};

use tokio_postgres::error::{ErrorPosition, SqlState};
use tokio_postgres::{Client, SimpleQueryMessage};

use crate::error::describe;
use crate::ledger::{self, TABLE};
use crate::mode::Mode;
use crate::plan::{Pending, Plan};
use crate::session::quote_literal;
use crate::MigrateError;
use sqllex as lexer;

/// A migration this run applied.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Applied {
    /// The migration (its folder name).
    pub name: String,
    /// How it runs: in a transaction or not.
    pub mode: Mode,
    /// Time from sending the script to its commit.
    pub duration: Duration,
}

/// Progress of [`apply`], for a progress bar or a log line.
#[derive(Debug)]
pub enum Event<'a> {
    /// About to send migration `index` (0-based) of `total`.
    Started {
        /// Its position in the run (0-based).
        index: usize,
        /// How many migrations the run sends.
        total: usize,
        /// The migration.
        pending: &'a Pending,
    },
    /// It is applied and recorded.
    Applied(&'a Applied),
}

/// Applies `plan` in order (creating the ledger first if needed), stopping at
/// the first failure. Call it while holding [`crate::lock`], right after
/// [`crate::plan`] on a fresh [`crate::read_history`].
///
/// A transactional migration is sent as `BEGIN; SELECT txid_current()` and then
/// `<lexing guard>; <file>; <ledger row>; COMMIT;`: it either commits with its
/// row or leaves nothing. After a failure the server must confirm the rollback
/// (`txid_status` = `aborted`) before it is reported as one
/// ([`MigrateError::Failed`]) and recorded with `rolled_back_at` and the error in
/// `logs`; otherwise the outcome is unknown ([`MigrateError::Unconfirmed`],
/// [`MigrateError::ConnectionLost`]). The lexing guard makes the server confirm
/// it lexes the file with the plan's `standard_conforming_strings`. A no-tx migration is sent alone, between a "started" row and
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
        .query_one("SELECT current_setting('synchronous_commit'), set_config('synchronous_commit', 'off', false)", &[])
        .await
        .map_err(|e| bookkeeping("set synchronous_commit", e))?;
    let durable = Durable(row.get(0));
    let mut done = Vec::with_capacity(total);
    let mut index = 0;
    while index < total {
        let pending = &plan.pending[index];
        if pending.mode == Mode::NoTransaction {
            on_event(Event::Started { index, total, pending });
            let started = Instant::now();
            run_alone(client, &plan.schema, pending, &durable, index + 1 == total).await?;
            let applied =
                Applied { name: pending.migration.name.clone(), mode: pending.mode, duration: started.elapsed() };
            on_event(Event::Applied(&applied));
            done.push(applied);
            index += 1;
            continue;
        }
        let run = plan.pending[index..].iter().take_while(|p| p.mode == Mode::Transaction).count();
        run_transactions(client, plan, index..index + run, &durable, &mut on_event, &mut done).await?;
        index += run;
    }
    Ok(done)
}

/// How many transactional migrations may be on the wire at once.
const PIPELINE: usize = 32;

type Reply<'a, T> = Pin<Box<dyn Future<Output = Result<T, tokio_postgres::Error>> + 'a>>;

/// One sent migration, waiting for its two replies.
struct InFlight<'a> {
    index: usize,
    /// `BEGIN; <guards>; SELECT txid_current()`: opens the transaction and names it.
    head: Reply<'a, Vec<SimpleQueryMessage>>,
    head_result: Option<Result<Vec<SimpleQueryMessage>, tokio_postgres::Error>>,
    /// `<lexing guard>; <file>; <ledger row>; COMMIT`.
    body: Reply<'a, ()>,
    body_result: Option<Result<(), tokio_postgres::Error>>,
    sql: Arc<str>,
    script_at: usize,
}

impl InFlight<'_> {
    fn is_done(&self) -> bool {
        self.head_result.is_some() && self.body_result.is_some()
    }
}

/// Marker of the lexing guard's error.
const LEXING_GUARD: &str = "drydock: standard_conforming_strings is ";

/// The first statement of a migration's query string: fails, before any
/// statement of the file runs, unless the server lexes this very string with
/// the `standard_conforming_strings` the plan lexed the file with (the server
/// lexes a whole query string before running its first statement).
/// `current_setting` is not constant-folded, so the cast runs only when it differs.
fn lexing_guard(standard_conforming_strings: bool) -> String {
    let expected = if standard_conforming_strings { "on" } else { "off" };
    format!(
        "SELECT ('{LEXING_GUARD}' || current_setting('standard_conforming_strings'))::int WHERE current_setting('standard_conforming_strings') <> '{expected}';\n"
    )
}

/// Consecutive transactional migrations, pipelined: each is sent without
/// waiting for the one before, in order, on the one connection. A failure
/// leaves its transaction aborted, so the server rejects every later one
/// at its `BEGIN`; each later one also starts with a guard that fails unless
/// the ledger row of the one before it is committed.
///
/// Each migration is two query strings: the head opens the transaction and
/// returns its id, the body runs the file, its ledger row and `COMMIT`. After a
/// failure drydock ends the transaction and asks the server for that id's
/// status: only `aborted` is reported as a rollback.
async fn run_transactions<'a>(
    client: &'a Client,
    plan: &'a Plan,
    range: std::ops::Range<usize>,
    durable: &Durable,
    on_event: &mut impl FnMut(Event<'_>),
    done: &mut Vec<Applied>,
) -> Result<(), MigrateError> {
    let total = plan.pending.len();
    let mut queue: VecDeque<InFlight<'a>> = VecDeque::new();
    let mut next = range.start;
    let mut previous_id: Option<String> = None;
    let mut front_since = Instant::now();
    on_event(Event::Started { index: range.start, total, pending: &plan.pending[range.start] });
    loop {
        while next < range.end && queue.len() < PIPELINE {
            let pending = &plan.pending[next];
            let m = &pending.migration;
            let id = ledger::new_id();
            let mut head = String::from("BEGIN;\n");
            if let Some(previous) = &previous_id {
                head.push_str(&format!("{};\n", ledger::committed_guard_sql(&plan.schema, previous)));
            }
            if next + 1 == total {
                // The run's last commit restores the session's setting (a SET
                // inside a transaction outlives its commit) and so is durable.
                head.push_str(&format!("{};\n", durable.set()));
            }
            head.push_str("SELECT txid_current()::text;");
            let prefix = lexing_guard(pending.standard_conforming_strings);
            // The newline ends a trailing `--` comment of a file without a final newline.
            let sql: Arc<str> =
                format!("{prefix}{}\n;\n{};\nCOMMIT;", m.script, ledger::applied_row_sql(&plan.schema, &id, m)).into();
            let owned = Arc::clone(&sql);
            let head: Reply<'a, _> = Box::pin(async move { client.simple_query(&head).await });
            let body: Reply<'a, ()> = Box::pin(async move { client.batch_execute(&owned).await });
            queue.push_back(InFlight {
                index: next,
                head,
                head_result: None,
                body,
                body_result: None,
                sql,
                script_at: prefix.len(),
            });
            previous_id = Some(id);
            next += 1;
        }
        if queue.is_empty() {
            return Ok(());
        }
        // Poll every reply in order (a first poll sends the query), until the oldest is in.
        std::future::poll_fn(|cx| {
            for flight in queue.iter_mut() {
                if flight.head_result.is_none() {
                    if let Poll::Ready(r) = flight.head.as_mut().poll(cx) {
                        flight.head_result = Some(r);
                    }
                }
                if flight.body_result.is_none() {
                    if let Poll::Ready(r) = flight.body.as_mut().poll(cx) {
                        flight.body_result = Some(r);
                    }
                }
            }
            if queue.front().is_some_and(InFlight::is_done) {
                Poll::Ready(())
            } else {
                Poll::Pending
            }
        })
        .await;
        let flight = queue.pop_front().expect("the front is ready");
        let pending = &plan.pending[flight.index];
        let head = flight.head_result.expect("the front is ready");
        let body = flight.body_result.expect("the front is ready");
        if let (Ok(_), Ok(())) = (&head, &body) {
            let applied = Applied {
                name: pending.migration.name.clone(),
                mode: Mode::Transaction,
                duration: front_since.elapsed(),
            };
            front_since = Instant::now();
            on_event(Event::Applied(&applied));
            done.push(applied);
            if let Some(front) = queue.front() {
                on_event(Event::Started { index: front.index, total, pending: &plan.pending[front.index] });
            } else if next < range.end {
                on_event(Event::Started { index: next, total, pending: &plan.pending[next] });
            }
            continue;
        }
        // Every later migration on the wire fails at its BEGIN; wait for them.
        for later in queue.drain(..) {
            if later.head_result.is_none() {
                let _ = later.head.await;
            }
            if later.body_result.is_none() {
                let _ = later.body.await;
            }
        }
        let name = pending.migration.name.clone();
        let lost = |error: String| MigrateError::ConnectionLost { name: name.clone(), mode: Mode::Transaction, error };
        let script = &pending.migration.script;
        let (error, xid) = match (&head, &body) {
            (Err(e), _) => (describe(e), None),
            (Ok(rows), Err(e)) => (describe_in_script(e, &flight.sql, flight.script_at, script), xid_of(rows)),
            (Ok(_), Ok(())) => unreachable!("handled above"),
        };
        if [head.as_ref().err(), body.as_ref().err()].into_iter().flatten().any(|e| connection_lost(client, e)) {
            return Err(lost(error));
        }
        let lexing = body.as_ref().err().is_some_and(|e| describe(e).contains(LEXING_GUARD));
        match confirm_rollback(client, durable, xid.as_deref(), head.is_err(), body.as_ref().err()).await {
            Confirmed::RolledBack => {}
            Confirmed::Lost(why) => return Err(lost(format!("{error}; then {why}"))),
            Confirmed::No(reason) => return Err(MigrateError::Unconfirmed { name, error, reason }),
        }
        let unrecorded = record_rollback(client, &plan.schema, pending, &error).await;
        if lexing {
            return Err(MigrateError::LexingChanged { name, planned: pending.standard_conforming_strings, unrecorded });
        }
        return Err(MigrateError::Failed { name, mode: Mode::Transaction, error, unrecorded });
    }
}

/// The transaction id a head returned (its last row; the guard before it returns one too).
fn xid_of(rows: &[SimpleQueryMessage]) -> Option<String> {
    rows.iter().rev().find_map(|m| match m {
        SimpleQueryMessage::Row(r) => r.get(0).map(str::to_owned),
        _ => None,
    })
}

/// What the server said about a failed migration's transaction.
enum Confirmed {
    /// It was rolled back: nothing of the migration remains.
    RolledBack,
    /// The connection broke while asking.
    Lost(String),
    /// The server did not confirm a rollback (why, for the operator).
    No(String),
}

/// Ends the failed transaction (`ROLLBACK`, and the session's durable
/// `synchronous_commit` back), then asks the server whether it was rolled back:
/// `txid_status` of its id must be `aborted`. A head that failed opened no
/// transaction the file ran in: the body must then have been rejected whole
/// (SQLSTATE 25P02, in a failed transaction block) before its first statement.
async fn confirm_rollback(
    client: &Client,
    durable: &Durable,
    xid: Option<&str>,
    head_failed: bool,
    body_error: Option<&tokio_postgres::Error>,
) -> Confirmed {
    if let Err(e) = client.batch_execute(&format!("ROLLBACK; {}", durable.set())).await {
        if connection_lost(client, &e) {
            return Confirmed::Lost(format!("the connection was lost while rolling back ({})", describe(&e)));
        }
        return Confirmed::No(format!("ROLLBACK failed: {}", describe(&e)));
    }
    if head_failed {
        let rejected = body_error.and_then(|e| e.code()).is_some_and(|c| *c == SqlState::IN_FAILED_SQL_TRANSACTION);
        return if rejected {
            Confirmed::RolledBack
        } else {
            Confirmed::No("the transaction did not open, and the server did not reject the file whole".into())
        };
    }
    let Some(xid) = xid else {
        return Confirmed::No("the server returned no transaction id".into());
    };
    match client.query_one("SELECT txid_status($1::text::bigint)", &[&xid]).await {
        Ok(row) => match row.get::<_, Option<String>>(0).as_deref() {
            Some("aborted") => Confirmed::RolledBack,
            Some(status) => Confirmed::No(format!("the server reports its transaction {xid} as {status}")),
            None => Confirmed::No(format!("the server no longer knows transaction {xid}")),
        },
        Err(e) if connection_lost(client, &e) => {
            Confirmed::Lost(format!("the connection was lost while checking the outcome ({})", describe(&e)))
        }
        Err(e) => Confirmed::No(format!("cannot read the status of transaction {xid}: {}", describe(&e))),
    }
}

/// After a confirmed rollback: record the attempt durably (which also flushes
/// the run's earlier commits); returns why it could not be recorded, if so.
async fn record_rollback(client: &Client, schema: &str, pending: &Pending, error: &str) -> Option<String> {
    let m = &pending.migration;
    let audit = ledger::rolled_back_row_sql(schema);
    client.execute(&audit, &[&ledger::new_id(), &m.checksum, &m.name, &error]).await.err().map(|e| describe(&e))
}

/// True if `e` broke the session (no server reply, a closed client, or a
/// FATAL/PANIC such as `pg_terminate_backend`): what the server did with the
/// last query is then unknown.
fn connection_lost(client: &Client, e: &tokio_postgres::Error) -> bool {
    client.is_closed() || e.as_db_error().is_none_or(|db| matches!(db.severity(), "FATAL" | "PANIC"))
}

/// The session's own `synchronous_commit`, restored for durable commits.
struct Durable(String);

impl Durable {
    fn set(&self) -> String {
        format!("SET synchronous_commit TO {}", quote_literal(&self.0))
    }
}

async fn run_alone(
    client: &Client,
    schema: &str,
    pending: &Pending,
    durable: &Durable,
    last: bool,
) -> Result<(), MigrateError> {
    let m = &pending.migration;
    let id = ledger::new_id();
    let bookkeeping = |doing: &str, e: tokio_postgres::Error| MigrateError::Database {
        doing: format!("{doing} for {} in {TABLE}", m.name),
        reason: describe(&e),
    };
    let start = format!("{}; {}", durable.set(), ledger::started_row_sql(schema, &id, m));
    // The script goes alone right after the start row: the server will lex it
    // with the value it has now, which must be the one the plan lexed it with.
    let row = client
        .query_one("SELECT current_setting('standard_conforming_strings') = 'on'", &[])
        .await
        .map_err(|e| bookkeeping("read standard_conforming_strings", e))?;
    if row.get::<_, bool>(0) != pending.standard_conforming_strings {
        return Err(MigrateError::LexingChanged {
            name: m.name.clone(),
            planned: pending.standard_conforming_strings,
            unrecorded: None,
        });
    }
    client.batch_execute(&start).await.map_err(|e| bookkeeping("record the start", e))?;
    match client.batch_execute(&m.script).await {
        Ok(()) => {
            let finish = ledger::finished_sql(schema, &id);
            client.batch_execute(&finish).await.map_err(|e| bookkeeping("record the end", e))?;
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
            if connection_lost(client, &e) {
                return Err(MigrateError::ConnectionLost { name: m.name.clone(), mode: Mode::NoTransaction, error });
            }
            // A file with its own BEGIN may have left an aborted transaction open.
            let _ = client.batch_execute("ROLLBACK").await;
            let unrecorded =
                client.execute(&ledger::logs_sql(schema), &[&id, &error]).await.err().map(|e| describe(&e));
            Err(MigrateError::Failed { name: m.name.clone(), mode: Mode::NoTransaction, error, unrecorded })
        }
    }
}

/// [`describe`], plus the line in `migration.sql` when the server reports a
/// position inside the script (which starts at byte `script_at` of `sent`).
fn describe_in_script(e: &tokio_postgres::Error, sent: &str, script_at: usize, script: &str) -> String {
    let text = describe(e);
    let Some(ErrorPosition::Original(position)) = e.as_db_error().and_then(|db| db.position()) else {
        return text;
    };
    // The position counts characters from 1.
    let Some((offset, _)) = sent.char_indices().nth((*position as usize).saturating_sub(1)) else {
        return text;
    };
    match offset.checked_sub(script_at).filter(|o| *o < script.len()) {
        Some(o) => format!("{text} at line {} of migration.sql", lexer::line_of(script, o)),
        None => text,
    }
}
