//! What the database holds, what is pending, and whether it is safe to go on: all decided before any change.

use std::collections::{BTreeMap, BTreeSet};

use tokio_postgres::Client;

use crate::ledger::{self, LedgerRow};
use crate::lint::{lint, Finding};
use crate::mode::{classify, Carry, Mode};
use crate::{MigrateError, Migration, Problem};

/// The local migrations and the database's ledger, read once.
#[derive(Debug, Clone)]
pub struct History {
    /// The connection's schema (`current_schema()`), where the ledger lives.
    pub schema: String,
    /// `server_version_num`, e.g. 150004.
    pub server_version_num: i32,
    /// The session's `standard_conforming_strings`, as `SHOW` reports it: how
    /// the server will lex the first migration (`on` unless the database, the
    /// role or the server configuration turned it off).
    pub standard_conforming_strings: bool,
    /// Whether `_prisma_migrations` exists.
    pub ledger_exists: bool,
    /// Tables, views, sequences and types in the schema that no extension owns
    /// (counted only when the ledger is absent).
    pub schema_objects: i64,
    /// Every ledger row, oldest first.
    pub rows: Vec<LedgerRow>,
    /// The migrations folder, in order.
    pub local: Vec<Migration>,
}

/// Reads the schema, the server version and the ledger. Changes nothing.
pub async fn read_history(client: &Client, local: Vec<Migration>) -> Result<History, MigrateError> {
    let row = client
        .query_one(
            "SELECT current_schema()::text,
                    current_setting('server_version_num')::int,
                    to_regclass(format('%I.%I', current_schema(), '_prisma_migrations')) IS NOT NULL,
                    current_setting('standard_conforming_strings') = 'on'",
            &[],
        )
        .await
        .map_err(|e| MigrateError::Database { doing: "read the schema".into(), reason: crate::error::describe(&e) })?;
    let schema: Option<String> = row.get(0);
    let schema = schema.ok_or_else(|| MigrateError::Database {
        doing: "find the connection's schema".into(),
        reason: "search_path names no existing schema: create it, or set `?schema=` in DATABASE_URL".into(),
    })?;
    let ledger_exists: bool = row.get(2);
    let (rows, schema_objects) = if ledger_exists {
        (ledger::read(client, &schema).await?, 0)
    } else {
        (Vec::new(), count_objects(client, &schema).await?)
    };
    Ok(History {
        schema,
        server_version_num: row.get(1),
        standard_conforming_strings: row.get(3),
        ledger_exists,
        schema_objects,
        rows,
        local,
    })
}

async fn count_objects(client: &Client, schema: &str) -> Result<i64, MigrateError> {
    let row = client
        .query_one(
            "SELECT (SELECT count(*) FROM pg_class c
                      WHERE c.relnamespace = $1::text::regnamespace AND c.relkind IN ('r','p','v','m','S','f')
                        AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.classid = 'pg_class'::regclass AND d.objid = c.oid AND d.deptype = 'e'))
                  + (SELECT count(*) FROM pg_type t
                      WHERE t.typnamespace = $1::text::regnamespace AND t.typtype IN ('e','d')
                        AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.classid = 'pg_type'::regclass AND d.objid = t.oid AND d.deptype = 'e'))",
            &[&crate::session::quote_ident(schema)],
        )
        .await
        .map_err(|e| MigrateError::Database { doing: "inspect the schema".into(), reason: crate::error::describe(&e) })?;
    Ok(row.get(0))
}

/// Where the history stands, with every problem found (whatever the options).
#[derive(Debug, Clone)]
pub struct Status {
    /// Applied rows whose folder exists, in folder order.
    pub applied: Vec<String>,
    /// Local migrations with no row that is not rolled back, in order.
    pub pending: Vec<Migration>,
    /// Failed rows, drift, missing folders, out-of-order pending migrations, a non-empty schema without a ledger.
    pub problems: Vec<Problem>,
}

impl Status {
    /// Nothing pending and nothing wrong.
    pub fn is_up_to_date(&self) -> bool {
        self.pending.is_empty() && self.problems.is_empty()
    }
}

/// Compares the folder with the ledger. Pure: no database access.
pub fn status(history: &History) -> Status {
    let mut problems = Vec::new();
    if !history.ledger_exists && history.schema_objects > 0 {
        problems.push(Problem::NotEmpty { schema: history.schema.clone(), objects: history.schema_objects });
    }
    for row in history.rows.iter().filter(|r| r.is_failed()) {
        problems.push(Problem::Failed { name: row.migration_name.clone(), logs: row.logs.clone() });
    }
    let local: BTreeSet<&str> = history.local.iter().map(|m| m.name.as_str()).collect();
    let live: BTreeSet<&str> =
        history.rows.iter().filter(|r| r.rolled_back_at.is_none()).map(|r| r.migration_name.as_str()).collect();
    let applied_rows: Vec<&LedgerRow> = history.rows.iter().filter(|r| r.is_applied()).collect();
    // The applied rows of each name, found once (not one scan per folder: a
    // history of 5,000 made that 25 million comparisons).
    let mut rows_of: BTreeMap<&str, Vec<&LedgerRow>> = BTreeMap::new();
    for r in &applied_rows {
        rows_of.entry(r.migration_name.as_str()).or_default().push(r);
    }
    let mut applied = Vec::new();
    for m in &history.local {
        let Some(rows) = rows_of.get(m.name.as_str()) else {
            continue;
        };
        applied.push(m.name.clone());
        if !rows.iter().any(|r| m.matches_checksum(&r.checksum)) {
            problems.push(Problem::Drift { name: m.name.clone(), path: m.path.clone() });
        }
    }
    let missing: BTreeSet<&str> =
        applied_rows.iter().map(|r| r.migration_name.as_str()).filter(|n| !local.contains(n)).collect();
    for name in missing {
        problems.push(Problem::Missing { name: name.to_owned() });
    }
    let pending: Vec<Migration> = history.local.iter().filter(|m| !live.contains(m.name.as_str())).cloned().collect();
    if let Some(latest) =
        applied_rows.iter().map(|r| r.migration_name.as_str()).max_by(|a, b| a.as_bytes().cmp(b.as_bytes()))
    {
        for m in pending.iter().filter(|m| m.name.as_bytes() < latest.as_bytes()) {
            problems.push(Problem::OutOfOrder { name: m.name.clone(), latest_applied: latest.to_owned() });
        }
    }
    Status { applied, pending, problems }
}

/// Which problems a deploy may accept (each an explicit flag).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Options {
    /// Go on although applied files changed.
    pub allow_drift: bool,
    /// Go on although applied migrations have no folder.
    pub allow_missing: bool,
    /// Apply pending migrations that sort before the latest applied one.
    pub allow_out_of_order: bool,
}

/// A pending migration, ready to run.
#[derive(Debug, Clone)]
pub struct Pending {
    /// The migration folder.
    pub migration: Migration,
    /// How it runs: in a transaction or not.
    pub mode: Mode,
    /// Why this mode: "default", "directive on line 1", "line 2: CREATE INDEX CONCURRENTLY".
    pub reason: String,
    /// Destructive statements (see [`lint`]).
    pub findings: Vec<Finding>,
    /// The `standard_conforming_strings` this file was lexed with: the session's,
    /// as earlier files of the run leave it. `apply` makes the server confirm it
    /// before the file runs.
    pub standard_conforming_strings: bool,
}

/// What a deploy will do; built only when nothing stands in the way.
#[derive(Debug, Clone)]
pub struct Plan {
    /// Where the ledger lives.
    pub schema: String,
    /// Whether the ledger must be created first.
    pub ledger_exists: bool,
    /// The migrations to apply, in order.
    pub pending: Vec<Pending>,
    /// Problems the options accepted, for the operator to see.
    pub accepted: Vec<Problem>,
}

/// Validates everything and returns the plan, or refuses with every problem
/// at once. Pure: no database access.
pub fn plan(history: &History, options: &Options) -> Result<Plan, MigrateError> {
    let status = status(history);
    let (mut refused, mut accepted) = (Vec::new(), Vec::new());
    for p in status.problems {
        let allowed = match p {
            Problem::Drift { .. } => options.allow_drift,
            Problem::Missing { .. } => options.allow_missing,
            Problem::OutOfOrder { .. } => options.allow_out_of_order,
            _ => false,
        };
        if allowed {
            accepted.push(p);
        } else {
            refused.push(p);
        }
    }
    let mut pending = Vec::new();
    // Each file is lexed as the server will lex it: with the session's setting as
    // the files before it leave it (the server lexes a whole query string at once,
    // so a file's own `SET` counts only from the next file on).
    let mut scs = history.standard_conforming_strings;
    for m in status.pending {
        let lex = sqllex::Options { standard_conforming_strings: scs };
        match classify(&m.script, history.server_version_num, lex) {
            Ok(c) => {
                let findings = lint(&m, lex);
                pending.push(Pending {
                    migration: m,
                    mode: c.mode,
                    reason: c.reason,
                    findings,
                    standard_conforming_strings: scs,
                });
                scs = match c.conforming_strings {
                    Carry::Unchanged => scs,
                    Carry::On => true,
                    Carry::Reset => history.standard_conforming_strings,
                };
            }
            Err(error) => refused.push(Problem::Script { name: m.name.clone(), path: m.path.clone(), error }),
        }
    }
    if !refused.is_empty() {
        return Err(MigrateError::Refused(refused));
    }
    Ok(Plan { schema: history.schema.clone(), ledger_exists: history.ledger_exists, pending, accepted })
}

#[cfg(test)]
mod tests {
    use time::OffsetDateTime;

    use super::*;

    fn row(name: &str, checksum: &str, finished: bool, rolled_back: bool) -> LedgerRow {
        let now = OffsetDateTime::UNIX_EPOCH;
        LedgerRow {
            id: "x".into(),
            checksum: checksum.into(),
            finished_at: finished.then_some(now),
            migration_name: name.into(),
            logs: None,
            rolled_back_at: rolled_back.then_some(now),
            started_at: now,
            applied_steps_count: i32::from(finished),
        }
    }

    fn history(local: &[(&str, &str)], rows: Vec<LedgerRow>) -> History {
        History {
            schema: "public".into(),
            server_version_num: 150004,
            standard_conforming_strings: true,
            ledger_exists: true,
            schema_objects: 0,
            rows,
            local: local.iter().map(|(n, s)| Migration::from_script(n, s)).collect(),
        }
    }

    #[test]
    fn pending_is_what_has_no_live_row() {
        let a = Migration::from_script("1_a", "SELECT 1;");
        let h = history(
            &[("1_a", "SELECT 1;"), ("2_b", "SELECT 2;"), ("3_c", "SELECT 3;")],
            vec![row("1_a", &a.checksum, true, false), row("2_b", "x", false, true)],
        );
        let s = status(&h);
        assert_eq!(s.applied, vec!["1_a"]);
        assert_eq!(s.pending.iter().map(|m| m.name.as_str()).collect::<Vec<_>>(), vec!["2_b", "3_c"]);
        assert!(s.problems.is_empty());
    }

    #[test]
    fn every_problem_is_reported_at_once() {
        let h = history(
            &[("1_a", "SELECT 1;"), ("2_b", "SELECT 2;"), ("4_d", "SELECT 'x")],
            vec![row("1_a", "changed", true, false), row("3_c", "x", true, false), row("5_e", "x", false, false)],
        );
        let Err(MigrateError::Refused(problems)) = plan(&h, &Options::default()) else { panic!() };
        assert!(matches!(&problems[0], Problem::Failed { name, .. } if name == "5_e"));
        assert!(matches!(&problems[1], Problem::Drift { name, .. } if name == "1_a"));
        assert!(matches!(&problems[2], Problem::Missing { name } if name == "3_c"));
        assert!(
            matches!(&problems[3], Problem::OutOfOrder { name, latest_applied } if name == "2_b" && latest_applied == "3_c")
        );
        assert!(matches!(&problems[4], Problem::Script { name, .. } if name == "4_d"));
        assert_eq!(problems.len(), 5);
    }

    #[test]
    fn flags_accept_drift_missing_and_out_of_order() {
        let h = history(
            &[("1_a", "SELECT 1;"), ("2_b", "SELECT 2;")],
            vec![row("1_a", "changed", true, false), row("3_c", "x", true, false)],
        );
        let options = Options { allow_drift: true, allow_missing: true, allow_out_of_order: true };
        let plan = plan(&h, &options).unwrap();
        assert_eq!(plan.accepted.len(), 3);
        assert_eq!(plan.pending[0].migration.name, "2_b");
        assert_eq!(plan.pending[0].mode, Mode::Transaction);
    }

    #[test]
    fn a_non_empty_schema_without_ledger_is_refused() {
        let mut h = history(&[("1_a", "SELECT 1;")], Vec::new());
        h.ledger_exists = false;
        h.schema_objects = 3;
        let Err(MigrateError::Refused(problems)) = plan(&h, &Options::default()) else { panic!() };
        assert_eq!(problems, vec![Problem::NotEmpty { schema: "public".into(), objects: 3 }]);
        h.schema_objects = 0;
        assert_eq!(plan(&h, &Options::default()).unwrap().pending.len(), 1);
    }
}
