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
//! transaction block (`CREATE INDEX CONCURRENTLY`, `REINDEX SCHEMA`, `VACUUM`,
//! `DISCARD ALL`, `ALTER SYSTEM`, ...). Keywords are read where the grammar puts
//! them, so a column or type named `concurrently`, `type` or `begin` decides nothing.
//!
//! The file is lexed as the server will lex it: with the session's
//! `standard_conforming_strings`. A file that turns it off (or sets it in a way
//! drydock cannot evaluate) is refused, since the server would then read later
//! files differently from the plan.

use std::fmt;

use sqllex::{self as lexer, Kind, Statement};

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
    /// How it runs: in a transaction or not.
    pub mode: Mode,
    /// Why, for the plan: "default", "directive on line 1", "line 3: CREATE INDEX CONCURRENTLY".
    pub reason: String,
    /// What the file leaves `standard_conforming_strings` at for the files after it.
    pub conforming_strings: Carry,
}

/// What a file does to the session's `standard_conforming_strings` for the files after it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Carry {
    /// Leaves it as it was.
    Unchanged,
    /// `SET standard_conforming_strings = on`.
    On,
    /// `RESET`, `SET ... TO DEFAULT`, `RESET ALL`, `DISCARD ALL`: back to the session's starting value.
    Reset,
}

/// A script that cannot be sent safely; the plan refuses it before any change.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ScriptError {
    /// The lexer found an unterminated string, identifier, dollar quote or comment.
    Lex(lexer::LexError),
    /// `-- drydock: transaction` on a file that ends or opens transactions itself.
    DirectiveConflict {
        /// 1-based line of the statement in `migration.sql`.
        line: usize,
        /// The statement's first words, for the operator.
        statement: String,
    },
    /// A statement that refuses any transaction block shares its file with
    /// others: PostgreSQL runs a multi-statement script as one implicit transaction.
    NotAlone {
        /// 1-based line of the statement in `migration.sql`.
        line: usize,
        /// The statement's first words, for the operator.
        statement: String,
    },
    /// The file's last transaction-control statement opens a transaction
    /// (`BEGIN`, `START TRANSACTION`) that nothing in the file ends: the
    /// ledger's "finished" update would run inside it and be lost when the
    /// session closes, so a migration that did not commit would look applied.
    Unbalanced {
        /// 1-based line of the statement in `migration.sql`.
        line: usize,
        /// The statement's first words, for the operator.
        statement: String,
    },
    /// An unknown `-- drydock:` directive.
    UnknownDirective {
        /// The directive as written.
        text: String,
    },
    /// A statement turns `standard_conforming_strings` off (for the session, the
    /// transaction, the database, a role or the server), or sets it in a way
    /// drydock cannot evaluate: the server would lex later files, or later
    /// deploys, differently from the plan.
    ConformingStrings {
        /// 1-based line of the statement in `migration.sql`.
        line: usize,
        /// The statement's first words, for the operator.
        statement: String,
        /// True when it turns the setting off; false when drydock cannot evaluate it.
        off: bool,
    },
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
            ScriptError::ConformingStrings { line, statement, off } => {
                let what = if *off {
                    "turns standard_conforming_strings off"
                } else {
                    "changes standard_conforming_strings in a way drydock cannot evaluate"
                };
                write!(
                    f,
                    "`{statement}` on line {line} {what}: the server would then read a backslash in a '...' string as an escape, so drydock could no longer see where the statements of later migrations end; remove it, and write E'...' where a string needs backslash escapes"
                )
            }
        }
    }
}

/// Chooses the mode of `script` for a server of `server_version_num` (e.g. 150004)
/// whose session lexes with `lex` (its `standard_conforming_strings`).
pub fn classify(script: &str, server_version_num: i32, lex: lexer::Options) -> Result<Classification, ScriptError> {
    let directive = directive(script)?;
    let statements = lexer::statements_with(script, lex).map_err(ScriptError::Lex)?;
    let mut control = None;
    let mut last_control: Option<&Statement<'_>> = None;
    let mut refusing = None;
    let mut conforming_strings = Carry::Unchanged;
    for s in &statements {
        let line = lexer::line_of(script, s.offset());
        match conforming_strings_effect(s) {
            Effect::None => {}
            Effect::Carry(carry) => conforming_strings = carry,
            Effect::Refuse { off } => {
                return Err(ScriptError::ConformingStrings { line, statement: describe(s), off });
            }
        }
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
            Ok(Classification { mode: Mode::Transaction, reason: "directive on line 1".into(), conforming_strings })
        }
        Some(Mode::NoTransaction) => {
            Ok(Classification { mode: Mode::NoTransaction, reason: "directive on line 1".into(), conforming_strings })
        }
        None => Ok(match refusing.or(control) {
            Some((line, statement)) => Classification {
                mode: Mode::NoTransaction,
                reason: format!("line {line}: {statement}"),
                conforming_strings,
            },
            None => Classification { mode: Mode::Transaction, reason: "default".into(), conforming_strings },
        }),
    }
}

/// What one statement does to `standard_conforming_strings`.
enum Effect {
    None,
    Carry(Carry),
    Refuse { off: bool },
}

const SCS: &str = "standard_conforming_strings";

/// Admits the spellings whose effect is known (`SHOW`, `SET`/`SET SESSION` to
/// on or `DEFAULT`, `SET LOCAL ... = on`, `RESET`, `ALTER DATABASE|ROLE|USER|SYSTEM
/// ... SET ... = on | RESET`, reading it with `current_setting('...')`);
/// refuses off and every other mention (`set_config`, `pg_settings`, a DO body, ...).
fn conforming_strings_effect(s: &Statement<'_>) -> Effect {
    let t = &s.tokens;
    if s.starts_with(&["RESET", "ALL"]) || s.starts_with(&["DISCARD", "ALL"]) {
        return Effect::Carry(Carry::Reset);
    }
    let mentions: Vec<usize> = (0..t.len()).filter(|&i| mentions_scs(&t[i])).collect();
    if mentions.is_empty() {
        return Effect::None;
    }
    let only_reads = mentions.iter().all(|&i| {
        t[i].kind == Kind::String
            && t[i].text.eq_ignore_ascii_case("'standard_conforming_strings'")
            && i >= 2
            && t[i - 1].kind == Kind::Open
            && t[i - 2].is("current_setting")
    });
    if only_reads {
        return Effect::None;
    }
    let named = |i: usize| t.get(i).is_some_and(|x| x.is(SCS));
    if s.tokens.len() == 2 && s.starts_with(&["SHOW"]) && named(1) {
        return Effect::None;
    }
    if s.tokens.len() == 2 && s.starts_with(&["RESET"]) && named(1) {
        return Effect::Carry(Carry::Reset);
    }
    if s.starts_with(&["SET"]) {
        let (local, at) = match s.get(1) {
            Some(x) if x.is("LOCAL") => (true, 2),
            Some(x) if x.is("SESSION") => (false, 2),
            _ => (false, 1),
        };
        if named(at) && mentions.len() == 1 {
            return match set_value(&t[at + 1..]) {
                Value::On if local => Effect::None,
                Value::On => Effect::Carry(Carry::On),
                Value::Default if local => Effect::None,
                Value::Default => Effect::Carry(Carry::Reset),
                Value::Off => Effect::Refuse { off: true },
                Value::Unknown => Effect::Refuse { off: false },
            };
        }
    }
    let alter = ["DATABASE", "ROLE", "USER", "SYSTEM"].iter().any(|k| s.starts_with(&["ALTER", k]));
    if alter && mentions.len() == 1 && mentions[0] >= 1 {
        let at = mentions[0];
        if t[at - 1].is("RESET") {
            return Effect::None;
        }
        if t[at - 1].is("SET") {
            return match set_value(&t[at + 1..]) {
                Value::On | Value::Default => Effect::None,
                Value::Off => Effect::Refuse { off: true },
                Value::Unknown => Effect::Refuse { off: false },
            };
        }
    }
    let off = t.iter().any(|x| matches!(bool_value(x), Some(false)));
    Effect::Refuse { off }
}

/// The token names the setting: a word, a quoted identifier, or a string that contains its name.
fn mentions_scs(t: &lexer::Token<'_>) -> bool {
    match t.kind {
        Kind::Word => t.text.eq_ignore_ascii_case(SCS),
        Kind::Quoted | Kind::String => t.text.to_ascii_lowercase().contains(SCS),
        _ => false,
    }
}

enum Value {
    On,
    Off,
    Default,
    Unknown,
}

/// `{= | TO} value` of a `SET`: one value, nothing after it.
fn set_value(rest: &[lexer::Token<'_>]) -> Value {
    let [op, value] = rest else { return Value::Unknown };
    if !(op.text == "=" || op.is("TO")) {
        return Value::Unknown;
    }
    if value.is("DEFAULT") {
        return Value::Default;
    }
    match bool_value(value) {
        Some(true) => Value::On,
        Some(false) => Value::Off,
        None => Value::Unknown,
    }
}

/// A boolean as the server's `parse_bool` reads it: on/off, true/false, yes/no,
/// 1/0 and their unique prefixes, any case, as a word, a number or a plain string.
fn bool_value(t: &lexer::Token<'_>) -> Option<bool> {
    let text = match t.kind {
        Kind::Word | Kind::Number => t.text,
        Kind::String if t.text.starts_with('\'') => &t.text[1..t.text.len() - 1],
        _ => return None,
    };
    let v = text.trim().to_ascii_lowercase();
    let prefix_of = |word: &str, min: usize| v.len() >= min && word.starts_with(v.as_str());
    if prefix_of("true", 1) || prefix_of("yes", 1) || prefix_of("on", 2) || v == "1" {
        Some(true)
    } else if prefix_of("false", 1) || prefix_of("no", 1) || prefix_of("off", 2) || v == "0" {
        Some(false)
    } else {
        None
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

/// Statements PostgreSQL refuses inside a transaction block. `CONCURRENTLY` counts
/// only where the grammar puts it (it is a reserved word there, never a name).
fn refuses_transaction_block(s: &Statement<'_>, server_version_num: i32) -> bool {
    s.starts_with(&["CREATE", "INDEX", "CONCURRENTLY"])
        || s.starts_with(&["CREATE", "UNIQUE", "INDEX", "CONCURRENTLY"])
        || s.starts_with(&["DROP", "INDEX", "CONCURRENTLY"])
        || reindex_refuses(s)
        || (s.starts_with(&["ALTER", "TABLE"]) && detaches_concurrently(s))
        || s.starts_with(&["DISCARD", "ALL"])
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

/// `REINDEX [(options)] {SCHEMA | DATABASE | SYSTEM} ...`, or with `CONCURRENTLY`
/// after the kind or as an option (`(CONCURRENTLY)`, `(CONCURRENTLY true)`).
fn reindex_refuses(s: &Statement<'_>) -> bool {
    if !s.starts_with(&["REINDEX"]) {
        return false;
    }
    let t = &s.tokens;
    let mut i = 1;
    let mut concurrently = false;
    if t.get(1).is_some_and(|x| x.kind == Kind::Open) {
        let close = t.iter().skip(2).position(|x| x.kind == Kind::Close).map_or(t.len(), |p| p + 2);
        for option in t[2..close.min(t.len())].split(|x| x.kind == Kind::Comma) {
            if option.first().is_some_and(|x| x.is("CONCURRENTLY")) {
                concurrently |= option.get(1).is_none_or(|v| bool_value(v) != Some(false));
            }
        }
        i = close + 1;
    }
    concurrently
        || t.get(i).is_some_and(|x| x.is("SCHEMA") || x.is("DATABASE") || x.is("SYSTEM"))
        || t.get(i + 1).is_some_and(|x| x.is("CONCURRENTLY"))
}

/// `ALTER TABLE ... DETACH PARTITION name CONCURRENTLY`.
fn detaches_concurrently(s: &Statement<'_>) -> bool {
    let t = &s.tokens;
    (0..t.len()).any(|i| {
        if !(t[i].is("DETACH") && t.get(i + 1).is_some_and(|x| x.is("PARTITION"))) {
            return false;
        }
        let mut j = i + 3;
        while t.get(j).is_some_and(|x| x.text == ".") {
            j += 2;
        }
        t.get(j).is_some_and(|x| x.is("CONCURRENTLY"))
    })
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

    fn classify(script: &str, version: i32) -> Result<Classification, ScriptError> {
        super::classify(script, version, lexer::Options::default())
    }

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

    /// Statements the server refuses in a transaction block, each alone in its file,
    /// and look-alikes that are not.
    #[test]
    fn no_transaction_statements_as_a_class() {
        use Mode::*;
        let cases: &[(&str, Mode)] = &[
            ("REINDEX SCHEMA public;", NoTransaction),
            ("reindex database app;", NoTransaction),
            ("REINDEX SYSTEM app;", NoTransaction),
            ("REINDEX (VERBOSE) SCHEMA public;", NoTransaction),
            ("REINDEX TABLE CONCURRENTLY t;", NoTransaction),
            ("REINDEX (CONCURRENTLY) TABLE t;", NoTransaction),
            ("REINDEX (VERBOSE, CONCURRENTLY true) INDEX i;", NoTransaction),
            ("REINDEX (CONCURRENTLY false) TABLE t;", Transaction),
            ("REINDEX TABLE t;", Transaction),
            ("REINDEX INDEX i;", Transaction),
            ("DISCARD ALL;", NoTransaction),
            ("DISCARD PLANS;", Transaction),
            ("DISCARD TEMP;", Transaction),
            ("CREATE INDEX CONCURRENTLY IF NOT EXISTS i ON t (a);", NoTransaction),
            ("ALTER TABLE p DETACH PARTITION s.c CONCURRENTLY;", NoTransaction),
            ("ALTER TABLE p DETACH PARTITION c;", Transaction),
            // Names that look like keywords decide nothing.
            ("CREATE INDEX i ON t (concurrently(a));", Transaction),
            ("SELECT 1 AS concurrently;", Transaction),
            ("CREATE TABLE t (type text, begin int);", Transaction),
            ("ALTER TABLE t ADD COLUMN type text;", Transaction),
            ("UPDATE t SET begin = 1 WHERE type = 'x';", Transaction),
            ("CREATE TYPE \"type\" AS ENUM ('a');", Transaction),
            ("ALTER TYPE type ADD VALUE 'b';", Transaction),
            ("CREATE FUNCTION f(begin int) RETURNS int LANGUAGE sql AS $$ SELECT begin $$;\nCREATE TABLE x (id int);", Transaction),
            ("CREATE PROCEDURE p(case text) LANGUAGE sql AS $$ SELECT 1 $$;\nCREATE INDEX CONCURRENTLY i ON t (a);", NoTransaction),
        ];
        for (script, expected) in cases {
            match classify(script, PG15) {
                Ok(c) => assert_eq!(c.mode, *expected, "{script}"),
                // A no-tx statement among others is refused, which proves it was seen.
                Err(ScriptError::NotAlone { .. }) => assert_eq!(*expected, NoTransaction, "{script}"),
                Err(e) => panic!("{script}: {e}"),
            }
        }
        // A parameter named `begin` no longer hides what follows it.
        let err =
            classify("CREATE FUNCTION f(begin int) RETURNS int LANGUAGE sql AS 'SELECT 1';\nBEGIN;\nSELECT 1;", PG15)
                .unwrap_err();
        assert_eq!(err, ScriptError::Unbalanced { line: 2, statement: "BEGIN".into() });
    }

    /// Every spelling that turns `standard_conforming_strings` off is refused
    /// with its line; the spellings whose effect is known are admitted.
    #[test]
    fn turning_standard_conforming_strings_off_is_refused() {
        let refused = [
            "SET standard_conforming_strings = off;",
            "SET standard_conforming_strings TO false;",
            "set standard_conforming_strings = 0;",
            "SET standard_conforming_strings = 'of';",
            "SET SESSION standard_conforming_strings = no;",
            "SET LOCAL standard_conforming_strings = off;",
            "SET \"standard_conforming_strings\" = off;",
            "SELECT set_config('standard_conforming_strings', 'off', false);",
            "SELECT pg_catalog.set_config('standard_conforming_strings', 'off', true);",
            "UPDATE pg_settings SET setting = 'off' WHERE name = 'standard_conforming_strings';",
            "ALTER DATABASE app SET standard_conforming_strings = off;",
            "ALTER ROLE app IN DATABASE app SET standard_conforming_strings TO false;",
            "ALTER USER app SET standard_conforming_strings = off;",
            "ALTER SYSTEM SET standard_conforming_strings = off;",
            "DO $$ BEGIN SET standard_conforming_strings = off; END $$;",
        ];
        for script in refused {
            let text = format!("CREATE TABLE a (id int);\n{script}");
            let err = classify(&text, PG15).unwrap_err();
            assert!(matches!(err, ScriptError::ConformingStrings { line: 2, .. }), "{script}: {err:?}");
            assert!(err.to_string().contains("on line 2") && err.to_string().contains("remove it"), "{err}");
        }
        let unknown = classify("SET standard_conforming_strings = maybe;", PG15).unwrap_err();
        assert!(matches!(unknown, ScriptError::ConformingStrings { off: false, .. }), "{unknown:?}");
        let admitted: &[(&str, Carry)] = &[
            ("SHOW standard_conforming_strings;", Carry::Unchanged),
            ("SELECT current_setting('standard_conforming_strings');", Carry::Unchanged),
            ("SET standard_conforming_strings = on;", Carry::On),
            ("SET LOCAL standard_conforming_strings TO true;", Carry::Unchanged),
            ("SET standard_conforming_strings TO DEFAULT;", Carry::Reset),
            ("RESET standard_conforming_strings;", Carry::Reset),
            ("RESET ALL;", Carry::Reset),
            ("ALTER DATABASE app SET standard_conforming_strings = on;", Carry::Unchanged),
            ("ALTER DATABASE app RESET standard_conforming_strings;", Carry::Unchanged),
            ("-- SET standard_conforming_strings = off;\nSELECT 1;", Carry::Unchanged),
        ];
        for (script, carry) in admitted {
            assert_eq!(classify(script, PG15).unwrap().conforming_strings, *carry, "{script}");
        }
        // Any other string naming it is refused: drydock cannot tell a DO body or
        // an EXECUTE argument from a message (admit the known, refuse the rest).
        assert!(classify("SELECT 'standard_conforming_strings';", PG15).is_err());
    }

    /// The same file is read as the session will read it.
    #[test]
    fn the_sessions_standard_conforming_strings_decides_what_is_a_string() {
        let script = "INSERT INTO t VALUES ('a\\'); COMMIT; --');";
        let on = super::classify(script, PG15, lexer::Options { standard_conforming_strings: true }).unwrap();
        assert_eq!((on.mode, on.reason.as_str()), (Mode::NoTransaction, "line 1: COMMIT"));
        let off = super::classify(script, PG15, lexer::Options { standard_conforming_strings: false }).unwrap();
        assert_eq!(off.mode, Mode::Transaction);
    }

    #[test]
    fn unterminated_scripts_are_refused() {
        assert!(matches!(classify("SELECT 'x", PG15), Err(ScriptError::Lex(_))));
    }
}
