//! How a migration is sent: in drydock's transaction with its ledger row, or as one script like Prisma.
//!
//! The first line may force the mode:
//!
//! ```sql
//! -- drydock: no-transaction
//! -- drydock: transaction
//! ```
//!
//! Without a directive, a file is transactional unless one of its statements
//! controls transactions itself (`BEGIN`, `COMMIT`, ...) or refuses to run in a
//! transaction block (`CREATE INDEX CONCURRENTLY`, `VACUUM`, `ALTER SYSTEM`, ...).

use std::fmt;

use sqllex::{self as lexer, Statement};

/// How a pending migration is sent to the server.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// `BEGIN; <file>; <ledger row>; COMMIT` in one round trip: all or nothing.
    Transaction,
    /// The file alone, as one simple-query script, between a "started" and a
    /// "finished" ledger update, exactly as Prisma sends it.
    NoTransaction,
}

impl fmt::Display for Mode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Mode::Transaction => "tx",
            Mode::NoTransaction => "no-tx",
        })
    }
}

/// The mode of a migration and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Classification {
    pub mode: Mode,
    /// Why, for the plan: "default", "directive on line 1", "line 3: CREATE INDEX CONCURRENTLY".
    pub reason: String,
}

/// A script that cannot be sent safely; the plan refuses it before any change.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ScriptError {
    /// The lexer found an unterminated string, identifier, dollar quote or comment.
    Lex(lexer::LexError),
    /// `-- drydock: transaction` on a file that ends or opens transactions itself.
    DirectiveConflict { line: usize, statement: String },
    /// A statement that refuses any transaction block shares its file with
    /// others: PostgreSQL runs a multi-statement script as one implicit transaction.
    NotAlone { line: usize, statement: String },
    /// The file's last transaction-control statement opens a transaction
    /// (`BEGIN`, `START TRANSACTION`) that nothing in the file ends: the
    /// ledger's "finished" update would run inside it and be lost when the
    /// session closes, so a migration that did not commit would look applied.
    Unbalanced { line: usize, statement: String },
    /// An unknown `-- drydock:` directive.
    UnknownDirective { text: String },
}

impl fmt::Display for ScriptError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ScriptError::Lex(e) => write!(f, "{e}: close it, PostgreSQL would read the rest of the file as part of it"),
            ScriptError::DirectiveConflict { line, statement } => write!(
                f,
                "`-- drydock: transaction` but line {line} runs `{statement}`: remove the directive or the statement"
            ),
            ScriptError::NotAlone { line, statement } => write!(
                f,
                "`{statement}` on line {line} cannot run in a transaction block, and PostgreSQL runs a multi-statement file as one: move it to a migration of its own"
            ),
            ScriptError::Unbalanced { line, statement } => write!(
                f,
                "`{statement}` on line {line} opens a transaction that the file never ends: add `COMMIT;` after its last statement (or remove the `{statement}` and let drydock run the file in its own transaction)"
            ),
            ScriptError::UnknownDirective { text } => write!(
                f,
                "unknown directive `{text}` on line 1: use `-- drydock: transaction` or `-- drydock: no-transaction`"
            ),
        }
    }
}

/// Chooses the mode of `script` for a server of `server_version_num` (e.g. 150004).
pub fn classify(script: &str, server_version_num: i32) -> Result<Classification, ScriptError> {
    let directive = directive(script)?;
    let statements = lexer::statements(script).map_err(ScriptError::Lex)?;
    let mut control = None;
    let mut last_control: Option<&Statement<'_>> = None;
    let mut refusing = None;
    for s in &statements {
        let line = lexer::line_of(script, s.offset());
        if is_transaction_control(s) {
            if control.is_none() {
                control = Some((line, describe(s)));
            }
            last_control = Some(s);
        }
        if refusing.is_none() && refuses_transaction_block(s, server_version_num) {
            refusing = Some((line, describe(s)));
        }
    }
    if let Some((line, statement)) = &refusing {
        if statements.len() > 1 {
            return Err(ScriptError::NotAlone { line: *line, statement: statement.clone() });
        }
    }
    if let Some(open) = last_control.filter(|s| opens_transaction(s)) {
        return Err(ScriptError::Unbalanced { line: lexer::line_of(script, open.offset()), statement: describe(open) });
    }
    match directive {
        Some(Mode::Transaction) => {
            if let Some((line, statement)) = control.or(refusing) {
                return Err(ScriptError::DirectiveConflict { line, statement });
            }
            Ok(Classification { mode: Mode::Transaction, reason: "directive on line 1".into() })
        }
        Some(Mode::NoTransaction) => {
            Ok(Classification { mode: Mode::NoTransaction, reason: "directive on line 1".into() })
        }
        None => Ok(match refusing.or(control) {
            Some((line, statement)) => {
                Classification { mode: Mode::NoTransaction, reason: format!("line {line}: {statement}") }
            }
            None => Classification { mode: Mode::Transaction, reason: "default".into() },
        }),
    }
}

/// The `-- drydock: ...` directive of the first line, if any.
fn directive(script: &str) -> Result<Option<Mode>, ScriptError> {
    let first = script.trim_start_matches('\u{feff}').lines().next().unwrap_or("").trim();
    let Some(rest) = first.strip_prefix("--") else {
        return Ok(None);
    };
    let Some(value) = rest.trim().strip_prefix("drydock:") else {
        return Ok(None);
    };
    match value.trim() {
        "transaction" => Ok(Some(Mode::Transaction)),
        "no-transaction" => Ok(Some(Mode::NoTransaction)),
        _ => Err(ScriptError::UnknownDirective { text: first.to_owned() }),
    }
}

/// `BEGIN`, `START TRANSACTION`, `COMMIT`, `END`, `ROLLBACK` (not `ROLLBACK TO`),
/// `ABORT`, `PREPARE TRANSACTION`, `COMMIT PREPARED`, `ROLLBACK PREPARED`.
fn is_transaction_control(s: &Statement<'_>) -> bool {
    let Some(first) = s.get(0) else { return false };
    if first.is("ROLLBACK") {
        // `ROLLBACK [WORK | TRANSACTION] TO [SAVEPOINT] x` stays inside the transaction.
        let to_at = if s.get(1).is_some_and(|t| t.is("WORK") || t.is("TRANSACTION")) { 2 } else { 1 };
        return !s.get(to_at).is_some_and(|t| t.is("TO"));
    }
    ["BEGIN", "COMMIT", "END", "ABORT"].iter().any(|k| first.is(k))
        || s.starts_with(&["START", "TRANSACTION"])
        || s.starts_with(&["PREPARE", "TRANSACTION"])
}

/// `BEGIN` or `START TRANSACTION`.
fn opens_transaction(s: &Statement<'_>) -> bool {
    s.starts_with(&["BEGIN"]) || s.starts_with(&["START", "TRANSACTION"])
}

/// Statements PostgreSQL refuses inside a transaction block.
fn refuses_transaction_block(s: &Statement<'_>, server_version_num: i32) -> bool {
    let concurrently = s.tokens.iter().any(|t| t.is("CONCURRENTLY"));
    (s.starts_with(&["CREATE"]) && concurrently && s.tokens.iter().take(3).any(|t| t.is("INDEX")))
        || (s.starts_with(&["DROP", "INDEX"]) && concurrently)
        || (s.starts_with(&["REINDEX"])
            && (concurrently || s.get(1).is_some_and(|t| t.is("SYSTEM") || t.is("DATABASE"))))
        || (s.starts_with(&["ALTER", "TABLE"]) && concurrently && s.has_top_level("DETACH"))
        || s.starts_with(&["VACUUM"])
        || s.starts_with(&["CREATE", "DATABASE"])
        || s.starts_with(&["DROP", "DATABASE"])
        || (s.starts_with(&["ALTER", "DATABASE"]) && s.has_top_level("TABLESPACE") && s.has_top_level("SET"))
        || s.starts_with(&["CREATE", "TABLESPACE"])
        || s.starts_with(&["DROP", "TABLESPACE"])
        || s.starts_with(&["ALTER", "SYSTEM"])
        || s.starts_with(&["CREATE", "SUBSCRIPTION"])
        || s.starts_with(&["DROP", "SUBSCRIPTION"])
        || (s.starts_with(&["ALTER", "SUBSCRIPTION"]) && s.has_top_level("REFRESH"))
        || (s.starts_with(&["CLUSTER"]) && s.tokens.len() == 1)
        || (server_version_num < 120000 && s.starts_with(&["ALTER", "TYPE"]) && is_add_value(s))
}

fn is_add_value(s: &Statement<'_>) -> bool {
    s.tokens.windows(2).any(|w| w[0].is("ADD") && w[1].is("VALUE"))
}

/// The first keywords of a statement, for messages: `CREATE INDEX CONCURRENTLY`.
pub(crate) fn describe(s: &Statement<'_>) -> String {
    let mut words = Vec::new();
    for t in &s.tokens {
        if t.kind != lexer::Kind::Word || words.len() == 3 {
            break;
        }
        words.push(t.text.to_ascii_uppercase());
    }
    if words.is_empty() {
        words.push(s.get(0).map_or(String::new(), |t| t.text.to_owned()));
    }
    words.join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    const PG15: i32 = 150004;

    fn mode(script: &str) -> Mode {
        classify(script, PG15).unwrap().mode
    }

    #[test]
    fn plain_files_and_do_blocks_are_transactional() {
        assert_eq!(mode("CREATE TABLE a (id int);\nALTER TABLE a ADD COLUMN b text;"), Mode::Transaction);
        assert_eq!(mode("DO $$ BEGIN COMMIT; END $$;"), Mode::Transaction);
        assert_eq!(mode("-- a comment mentioning CONCURRENTLY and COMMIT;\nSELECT 1"), Mode::Transaction);
        assert_eq!(mode("CREATE INDEX \"concurrently\" ON t (a);"), Mode::Transaction);
        assert_eq!(mode("SAVEPOINT a; ROLLBACK TO SAVEPOINT a; ROLLBACK WORK TO a;"), Mode::Transaction);
        assert_eq!(mode(""), Mode::Transaction);
    }

    #[test]
    fn concurrently_alone_is_not_transactional() {
        let c = classify("-- CreateIndex\nCREATE INDEX CONCURRENTLY \"i\" ON \"t\"(\"a\");\n", PG15).unwrap();
        assert_eq!(c.mode, Mode::NoTransaction);
        assert_eq!(c.reason, "line 2: CREATE INDEX CONCURRENTLY");
        assert_eq!(mode("create unique index concurrently i on t (a)"), Mode::NoTransaction);
        assert_eq!(mode("DROP INDEX CONCURRENTLY i;"), Mode::NoTransaction);
        assert_eq!(mode("REINDEX INDEX CONCURRENTLY i;"), Mode::NoTransaction);
        assert_eq!(mode("VACUUM ANALYZE t;"), Mode::NoTransaction);
        assert_eq!(mode("ALTER SYSTEM SET work_mem = '8MB';"), Mode::NoTransaction);
        assert_eq!(mode("CREATE DATABASE x;"), Mode::NoTransaction);
        assert_eq!(mode("ALTER TABLE p DETACH PARTITION c CONCURRENTLY;"), Mode::NoTransaction);
    }

    #[test]
    fn concurrently_with_other_statements_is_refused() {
        let err = classify("CREATE TABLE t (a int);\nCREATE INDEX CONCURRENTLY i ON t (a);", PG15).unwrap_err();
        assert_eq!(err, ScriptError::NotAlone { line: 2, statement: "CREATE INDEX CONCURRENTLY".into() });
    }

    #[test]
    fn own_transaction_control_is_not_transactional() {
        let c = classify("BEGIN;\nCREATE TABLE a (id int);\nCOMMIT;\n", PG15).unwrap();
        assert_eq!((c.mode, c.reason.as_str()), (Mode::NoTransaction, "line 1: BEGIN"));
        assert_eq!(mode("START TRANSACTION; SELECT 1; END;"), Mode::NoTransaction);
        assert_eq!(mode("SELECT 1; COMMIT"), Mode::NoTransaction);
    }

    #[test]
    fn a_transaction_the_file_never_ends_is_refused() {
        let err = classify("CREATE TABLE a (id int);\nBEGIN;\nCREATE TABLE b (id int);\n", PG15).unwrap_err();
        assert_eq!(err, ScriptError::Unbalanced { line: 2, statement: "BEGIN".into() });
        assert!(err.to_string().contains("add `COMMIT;`"), "{err}");
        // The last one counts: a second transaction left open after a committed one.
        assert!(matches!(
            classify("BEGIN; SELECT 1; COMMIT;\nstart transaction isolation level serializable; SELECT 2;", PG15),
            Err(ScriptError::Unbalanced { line: 2, .. })
        ));
        // A directive does not make it safe.
        assert!(matches!(
            classify("-- drydock: no-transaction\nBEGIN; SELECT 1;", PG15),
            Err(ScriptError::Unbalanced { .. })
        ));
        // Balanced, ended by END or ROLLBACK, or BEGIN only inside a body: fine.
        assert_eq!(mode("BEGIN; SELECT 1; END;"), Mode::NoTransaction);
        assert_eq!(mode("BEGIN; SELECT 1; ROLLBACK;"), Mode::NoTransaction);
        assert_eq!(mode("BEGIN; SAVEPOINT s; ROLLBACK TO SAVEPOINT s; COMMIT;"), Mode::NoTransaction);
        assert_eq!(mode("DO $$ BEGIN PERFORM 1; END $$;"), Mode::Transaction);
    }

    #[test]
    fn alter_type_add_value_needs_no_tx_only_before_pg12() {
        let script = "ALTER TYPE \"Role\" ADD VALUE 'ADMIN';";
        assert_eq!(classify(script, PG15).unwrap().mode, Mode::Transaction);
        assert_eq!(classify(script, 110000).unwrap().mode, Mode::NoTransaction);
    }

    #[test]
    fn directives_force_the_mode() {
        assert_eq!(mode("-- drydock: no-transaction\nCREATE TABLE a (id int);"), Mode::NoTransaction);
        assert_eq!(mode("--drydock:transaction\r\nCREATE TABLE a (id int);"), Mode::Transaction);
        let err = classify("-- drydock: transaction\nBEGIN; SELECT 1; COMMIT;", PG15).unwrap_err();
        assert_eq!(err, ScriptError::DirectiveConflict { line: 2, statement: "BEGIN".into() });
        assert!(matches!(classify("-- drydock: nope\n", PG15), Err(ScriptError::UnknownDirective { .. })));
        // Only the first line counts.
        assert_eq!(mode("SELECT 1;\n-- drydock: no-transaction\n"), Mode::Transaction);
    }

    #[test]
    fn unterminated_scripts_are_refused() {
        assert!(matches!(classify("SELECT 'x", PG15), Err(ScriptError::Lex(_))));
    }
}
