//! Destructive statements in a migration, found with the lexer (never by running anything).
//!
//! Whole classes, each read where the grammar puts its keywords: every `DROP`
//! except of objects that hold no data (`INDEX`, `FUNCTION`, `TRIGGER`, ...
//! without `CASCADE`), `DROP OWNED`, `TRUNCATE` in any form, `DELETE`/`UPDATE`
//! without their own `WHERE` wherever they run (also in a `WITH`, `EXPLAIN
//! ANALYZE` or `COPY (...)`), `MERGE ... THEN DELETE`, and each action of an
//! `ALTER TABLE [IF EXISTS] [ONLY] name [*] a, b, ...` (dropped columns, type
//! changes, `NOT NULL` columns without default). Definitions whose bodies run
//! later (`CREATE FUNCTION ... BEGIN ATOMIC`, `CREATE RULE`) are not statements
//! that run now; DO bodies are strings to the lexer and are not read.

use std::fmt;

use crate::Migration;
use sqllex::{self as lexer, Kind, Statement, Token};

/// What kind of destructive statement a finding is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FindingKind {
    /// `DROP TABLE`
    DropTable,
    /// `ALTER TABLE ... DROP [COLUMN]`
    DropColumn,
    /// `DROP SCHEMA`
    DropSchema,
    /// `TRUNCATE`
    Truncate,
    /// `DELETE` without a `WHERE`
    DeleteWithoutWhere,
    /// `UPDATE` without a `WHERE`
    UpdateWithoutWhere,
    /// `ALTER TABLE ... ALTER [COLUMN] ... [SET DATA] TYPE`
    ColumnTypeChange,
    /// `ALTER TABLE ... ADD [COLUMN] ... NOT NULL` without `DEFAULT` on a table
    /// this file does not create: fails on a table with rows.
    NotNullWithoutDefault,
    /// `DROP TYPE`, `DROP DOMAIN`
    DropType,
    /// `DROP EXTENSION`
    DropExtension,
    /// `DROP [MATERIALIZED] VIEW`
    DropView,
    /// `DROP SEQUENCE`
    DropSequence,
    /// `DROP OWNED BY`
    DropOwned,
    /// Any other `DROP` of something that may hold data or that others depend on
    /// (`DROP FOREIGN TABLE`, `DROP DATABASE`, an object kind drydock does not know).
    DropObject,
    /// `CASCADE` on a drop of an object that holds no data itself
    /// (`DROP FUNCTION f CASCADE`, `ALTER TABLE ... DROP CONSTRAINT c CASCADE`).
    DropCascade,
    /// `MERGE ... THEN DELETE`
    MergeDelete,
}

impl fmt::Display for FindingKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            FindingKind::DropTable => "drops a table",
            FindingKind::DropColumn => "drops a column",
            FindingKind::DropSchema => "drops a schema",
            FindingKind::Truncate => "truncates a table",
            FindingKind::DeleteWithoutWhere => "deletes every row (DELETE without WHERE)",
            FindingKind::UpdateWithoutWhere => "updates every row (UPDATE without WHERE)",
            FindingKind::ColumnTypeChange => "changes a column's type",
            FindingKind::NotNullWithoutDefault => "adds a NOT NULL column without DEFAULT to an existing table",
            FindingKind::DropType => "drops a type or domain",
            FindingKind::DropExtension => "drops an extension",
            FindingKind::DropView => "drops a view",
            FindingKind::DropSequence => "drops a sequence",
            FindingKind::DropOwned => "drops every object a role owns (DROP OWNED)",
            FindingKind::DropObject => "drops a database object",
            FindingKind::DropCascade => "drops whatever depends on an object (CASCADE)",
            FindingKind::MergeDelete => "deletes rows (MERGE ... THEN DELETE)",
        })
    }
}

/// One destructive statement.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finding {
    /// The migration's name.
    pub migration: String,
    /// 1-based line of the statement in `migration.sql`.
    pub line: usize,
    /// Which class of destructive statement it is.
    pub kind: FindingKind,
    /// The statement's first words, for the operator.
    pub statement: String,
}

impl fmt::Display for Finding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/migration.sql line {}: {} ({})", self.migration, self.line, self.kind, self.statement)
    }
}

/// The destructive statements of `migration`, lexed with `lex` (the session's
/// `standard_conforming_strings`). A script the lexer cannot read has no
/// findings here: the plan refuses it anyway.
pub fn lint(migration: &Migration, lex: lexer::Options) -> Vec<Finding> {
    let script = &migration.script;
    let Ok(statements) = lexer::statements_with(script, lex) else {
        return Vec::new();
    };
    let mut created: Vec<String> = Vec::new();
    let mut findings = Vec::new();
    for s in &statements {
        let mut found = |kind| {
            findings.push(Finding {
                migration: migration.name.clone(),
                line: lexer::line_of(script, s.offset()),
                kind,
                statement: excerpt(s),
            })
        };
        if s.starts_with(&["CREATE"]) {
            if let Some(name) = created_table(s) {
                created.push(name);
            }
        } else if s.starts_with(&["DROP"]) {
            if let Some(kind) = drop_kind(s) {
                found(kind);
            }
        } else if s.starts_with(&["TRUNCATE"]) {
            found(FindingKind::Truncate);
        } else if s.starts_with(&["ALTER", "TABLE"]) {
            let (table, actions) = alter_table(s);
            for action in actions {
                if let Some(kind) = action_kind(action, table.as_deref(), &created) {
                    found(kind);
                }
            }
        } else if !["ALTER", "GRANT", "REVOKE", "COMMENT", "SECURITY"].iter().any(|k| s.starts_with(&[k])) {
            for kind in unbounded_dml(s) {
                found(kind);
            }
        }
    }
    findings
}

/// Object kinds whose drop loses no data: admitted unless `CASCADE` takes their dependents along.
const HOLD_NO_DATA: &[&[&str]] = &[
    &["INDEX"],
    &["TRIGGER"],
    &["FUNCTION"],
    &["PROCEDURE"],
    &["ROUTINE"],
    &["AGGREGATE"],
    &["OPERATOR"],
    &["POLICY"],
    &["RULE"],
    &["STATISTICS"],
    &["CAST"],
    &["COLLATION"],
    &["CONVERSION"],
    &["EVENT", "TRIGGER"],
    &["TEXT", "SEARCH"],
    &["TRANSFORM"],
    &["LANGUAGE"],
    &["PROCEDURAL", "LANGUAGE"],
    &["TRUSTED", "LANGUAGE"],
    &["USER", "MAPPING"],
];

/// `DROP <kind> ...`: the finding, by kind; an unknown kind is a finding too.
fn drop_kind(s: &Statement<'_>) -> Option<FindingKind> {
    let after = |k: &[&str]| {
        let mut words = vec!["DROP"];
        words.extend_from_slice(k);
        s.starts_with(&words)
    };
    let kinds: &[(&[&str], FindingKind)] = &[
        (&["TABLE"], FindingKind::DropTable),
        (&["SCHEMA"], FindingKind::DropSchema),
        (&["TYPE"], FindingKind::DropType),
        (&["DOMAIN"], FindingKind::DropType),
        (&["EXTENSION"], FindingKind::DropExtension),
        (&["VIEW"], FindingKind::DropView),
        (&["MATERIALIZED", "VIEW"], FindingKind::DropView),
        (&["SEQUENCE"], FindingKind::DropSequence),
        (&["OWNED"], FindingKind::DropOwned),
    ];
    if let Some((_, kind)) = kinds.iter().find(|(k, _)| after(k)) {
        return Some(*kind);
    }
    if HOLD_NO_DATA.iter().any(|k| after(k)) {
        return s.has_top_level("CASCADE").then_some(FindingKind::DropCascade);
    }
    Some(FindingKind::DropObject)
}

/// `DELETE FROM` and `UPDATE` sub-statements of `s` (the statement itself, a
/// `WITH` member, the query of `EXPLAIN` or `COPY (...)`) without a `WHERE` of
/// their own, and `MERGE ... THEN DELETE`.
fn unbounded_dml(s: &Statement<'_>) -> Vec<FindingKind> {
    let t = &s.tokens;
    let mut out = Vec::new();
    let mut depth = 0usize;
    let mut merge_depth: Vec<usize> = Vec::new();
    for (i, token) in t.iter().enumerate() {
        match token.kind {
            Kind::Open => depth += 1,
            Kind::Close => depth = depth.saturating_sub(1),
            _ => {}
        }
        let prev = i.checked_sub(1).map(|p| &t[p]);
        let starts = prev.is_none_or(|p| {
            matches!(p.kind, Kind::Open | Kind::Close) || p.is("EXPLAIN") || p.is("ANALYZE") || p.is("VERBOSE")
        });
        if token.is("MERGE") && starts {
            merge_depth.push(depth);
        }
        let kind = if token.is("DELETE") && t.get(i + 1).is_some_and(|n| n.is("FROM")) {
            FindingKind::DeleteWithoutWhere
        } else if token.is("UPDATE") && starts {
            FindingKind::UpdateWithoutWhere
        } else if token.is("DELETE") && prev.is_some_and(|p| p.is("THEN")) && merge_depth.contains(&depth) {
            out.push(FindingKind::MergeDelete);
            continue;
        } else {
            continue;
        };
        if !has_own_where(&t[i + 1..]) {
            out.push(kind);
        }
    }
    out
}

/// A `WHERE` at the sub-statement's own depth, before the parenthesis that closes it.
fn has_own_where(rest: &[Token<'_>]) -> bool {
    let mut depth = 0i32;
    for t in rest {
        match t.kind {
            Kind::Open => depth += 1,
            Kind::Close if depth == 0 => return false,
            Kind::Close => depth -= 1,
            _ if depth == 0 && t.is("WHERE") => return true,
            _ => {}
        }
    }
    false
}

/// `CREATE [UNLOGGED|TEMP...] TABLE [IF NOT EXISTS] name` → the normalized name.
fn created_table(s: &Statement<'_>) -> Option<String> {
    let at = s.tokens.iter().take(4).position(|t| t.is("TABLE"))?;
    let mut i = at + 1;
    if s.get(i).is_some_and(|t| t.is("IF")) {
        i += 3;
    }
    qualified_name(&s.tokens, i).map(|(name, _)| name)
}

/// The table of an `ALTER TABLE` and its comma-separated actions.
fn alter_table<'s, 'a>(s: &'s Statement<'a>) -> (Option<String>, Vec<&'s [Token<'a>]>) {
    let mut i = 2;
    if s.get(i).is_some_and(|t| t.is("IF")) {
        i += 2;
    }
    if s.get(i).is_some_and(|t| t.is("ONLY")) {
        i += 1;
    }
    let Some((table, mut next)) = qualified_name(&s.tokens, i) else {
        return (None, Vec::new());
    };
    // `name *`: the table and its descendants, the default.
    if s.get(next).is_some_and(|t| t.text == "*") {
        next += 1;
    }
    let mut actions = Vec::new();
    let mut depth = 0i32;
    let mut start = next;
    for (j, t) in s.tokens.iter().enumerate().skip(next) {
        match t.kind {
            Kind::Open => depth += 1,
            Kind::Close => depth -= 1,
            Kind::Comma if depth == 0 => {
                actions.push(&s.tokens[start..j]);
                start = j + 1;
            }
            _ => {}
        }
    }
    actions.push(&s.tokens[start..]);
    (Some(table), actions)
}

fn action_kind(action: &[Token<'_>], table: Option<&str>, created: &[String]) -> Option<FindingKind> {
    let first = action.first()?;
    let is = |i: usize, k: &str| action.get(i).is_some_and(|t| t.is(k));
    if first.is("DROP") {
        // `DROP [COLUMN] [IF EXISTS] name` or `DROP CONSTRAINT ...` (a column
        // named `identity` or `expression` is still a column: those are
        // `ALTER COLUMN` actions).
        if is(1, "CONSTRAINT") {
            let cascade = action.iter().any(|t| t.is("CASCADE"));
            return cascade.then_some(FindingKind::DropCascade);
        }
        return Some(FindingKind::DropColumn);
    }
    if first.is("ALTER") {
        // `ALTER [COLUMN] name [SET DATA] TYPE ...`; the name may be `type`.
        if is(1, "CONSTRAINT") {
            return None;
        }
        let at = if is(1, "COLUMN") { 3 } else { 2 };
        let typed = is(at, "TYPE") || (is(at, "SET") && is(at + 1, "DATA") && is(at + 2, "TYPE"));
        return typed.then_some(FindingKind::ColumnTypeChange);
    }
    if first.is("ADD") {
        let constraint = ["CONSTRAINT", "PRIMARY", "UNIQUE", "FOREIGN", "CHECK", "EXCLUDE"];
        if constraint.iter().any(|k| is(1, k)) {
            return None;
        }
        let not_null = action.windows(2).any(|w| w[0].is("NOT") && w[1].is("NULL"));
        let filled = action.iter().any(|t| {
            t.is("DEFAULT")
                || t.is("GENERATED")
                || t.is("SERIAL")
                || t.is("BIGSERIAL")
                || t.is("SMALLSERIAL")
                || t.is("SERIAL4")
                || t.is("SERIAL8")
                || t.is("SERIAL2")
        });
        let new_table = table.is_some_and(|t| created.iter().any(|c| c == t));
        return (not_null && !filled && !new_table).then_some(FindingKind::NotNullWithoutDefault);
    }
    None
}

/// `[schema.]name` at `i`, normalized (unquoted names fold to lower case),
/// schema dropped; and the index after it.
fn qualified_name(tokens: &[Token<'_>], mut i: usize) -> Option<(String, usize)> {
    let mut name = normalize(tokens.get(i)?)?;
    i += 1;
    while tokens.get(i).is_some_and(|t| t.text == ".") {
        name = normalize(tokens.get(i + 1)?)?;
        i += 2;
    }
    Some((name, i))
}

fn normalize(t: &Token<'_>) -> Option<String> {
    match t.kind {
        Kind::Word => Some(t.text.to_lowercase()),
        Kind::Quoted => Some(t.text[1..t.text.len() - 1].replace("\"\"", "\"")),
        _ => None,
    }
}

/// The statement's first tokens, joined, at most 80 characters.
fn excerpt(s: &Statement<'_>) -> String {
    let mut out = String::new();
    for t in &s.tokens {
        if out.len() + t.text.len() > 80 {
            out.push_str(" ...");
            break;
        }
        let glued = matches!(t.kind, Kind::Open | Kind::Close | Kind::Comma) || t.text == ".";
        if !out.is_empty() && !glued && !out.ends_with('.') && !out.ends_with('(') {
            out.push(' ');
        }
        out.push_str(t.text);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kinds(script: &str) -> Vec<FindingKind> {
        let m = Migration::from_script("20240101000000_x", script);
        lint(&m, Default::default()).into_iter().map(|f| f.kind).collect()
    }

    #[test]
    fn flags_drops_and_truncates() {
        use FindingKind::*;
        assert_eq!(kinds("DROP TABLE \"User\";"), vec![DropTable]);
        assert_eq!(kinds("drop schema s cascade;"), vec![DropSchema]);
        assert_eq!(kinds("TRUNCATE t;"), vec![Truncate]);
        assert_eq!(
            kinds("ALTER TABLE \"User\" DROP COLUMN \"name\",\nDROP COLUMN \"x\";"),
            vec![DropColumn, DropColumn]
        );
        assert_eq!(kinds("ALTER TABLE t DROP x;"), vec![DropColumn]);
        assert!(kinds("ALTER TABLE t DROP CONSTRAINT c, ALTER COLUMN a DROP NOT NULL;").is_empty());
        assert!(kinds("DROP INDEX i; DROP FUNCTION f(int); DROP TRIGGER tr ON t;").is_empty());
    }

    /// Each class, many members: (script, what the lint must find).
    #[test]
    fn destructive_statements_as_classes() {
        use FindingKind::*;
        let cases: &[(&str, &[FindingKind])] = &[
            // ALTER TABLE, every form.
            ("ALTER TABLE \"User\" * DROP COLUMN \"email\";", &[DropColumn]),
            ("ALTER TABLE ONLY \"User\" DROP COLUMN \"email\";", &[DropColumn]),
            ("ALTER TABLE IF EXISTS ONLY public.\"User\" * DROP COLUMN IF EXISTS \"email\" CASCADE;", &[DropColumn]),
            ("alter table if exists s.t drop x;", &[DropColumn]),
            ("ALTER TABLE t ADD COLUMN b int, DROP COLUMN a, ALTER COLUMN c TYPE bigint;", &[DropColumn, ColumnTypeChange]),
            ("ALTER TABLE t ALTER COLUMN a SET DEFAULT 1, ALTER b SET DATA TYPE text USING b::text;", &[ColumnTypeChange]),
            ("ALTER TABLE t DROP CONSTRAINT c CASCADE;", &[DropCascade]),
            ("ALTER TABLE t DROP identity;", &[DropColumn]),
            ("ALTER TABLE t ALTER COLUMN type TYPE text;", &[ColumnTypeChange]),
            ("ALTER TABLE t ALTER \"type\" SET DATA TYPE varchar(10);", &[ColumnTypeChange]),
            // DELETE / UPDATE without WHERE, wherever they run.
            ("WITH x AS (DELETE FROM t RETURNING *) SELECT count(*) FROM x;", &[DeleteWithoutWhere]),
            ("WITH x AS (UPDATE t SET a = 1 RETURNING *) SELECT * FROM x;", &[UpdateWithoutWhere]),
            ("WITH x AS (SELECT id FROM u WHERE a) DELETE FROM t USING x;", &[DeleteWithoutWhere]),
            ("WITH x AS (SELECT 1) UPDATE t SET a = 2;", &[UpdateWithoutWhere]),
            ("WITH a AS (DELETE FROM t WHERE id = 1 RETURNING *), b AS (DELETE FROM u RETURNING *) SELECT 1;", &[DeleteWithoutWhere]),
            ("EXPLAIN ANALYZE DELETE FROM t;", &[DeleteWithoutWhere]),
            ("EXPLAIN (ANALYZE) UPDATE t SET a = 1;", &[UpdateWithoutWhere]),
            ("COPY (DELETE FROM t RETURNING *) TO STDOUT;", &[DeleteWithoutWhere]),
            ("DELETE FROM t USING u;", &[DeleteWithoutWhere]),
            ("delete from only t;", &[DeleteWithoutWhere]),
            ("UPDATE ONLY t * SET a = 1 FROM u;", &[UpdateWithoutWhere]),
            // MERGE ... THEN DELETE.
            ("MERGE INTO t USING s ON t.id = s.id WHEN MATCHED THEN DELETE;", &[MergeDelete]),
            ("MERGE INTO t USING s ON t.id = s.id WHEN MATCHED AND s.gone THEN DELETE WHEN NOT MATCHED THEN INSERT VALUES (s.id);", &[MergeDelete]),
            // DROP of everything that holds data or that others depend on.
            ("DROP TABLE IF EXISTS a, b CASCADE;", &[DropTable]),
            ("DROP SCHEMA s CASCADE;", &[DropSchema]),
            ("DROP TYPE \"Role\";", &[DropType]),
            ("DROP TYPE IF EXISTS e CASCADE;", &[DropType]),
            ("DROP DOMAIN d CASCADE;", &[DropType]),
            ("DROP EXTENSION IF EXISTS pgcrypto CASCADE;", &[DropExtension]),
            ("DROP VIEW v;", &[DropView]),
            ("DROP MATERIALIZED VIEW mv;", &[DropView]),
            ("DROP SEQUENCE s;", &[DropSequence]),
            ("DROP OWNED BY app CASCADE;", &[DropOwned]),
            ("DROP FOREIGN TABLE f;", &[DropObject]),
            ("DROP SOMETHING_NEW x;", &[DropObject]),
            ("DROP FUNCTION f() CASCADE;", &[DropCascade]),
            ("DROP INDEX CONCURRENTLY IF EXISTS i CASCADE;", &[DropCascade]),
            // TRUNCATE, any form.
            ("TRUNCATE TABLE ONLY t;", &[Truncate]),
            ("truncate a, b RESTART IDENTITY CASCADE;", &[Truncate]),
            ("TRUNCATE t *;", &[Truncate]),
            // No false positives.
            ("DELETE FROM t WHERE a = 1;", &[]),
            ("WITH x AS (DELETE FROM t WHERE a = 1 RETURNING *) SELECT * FROM x;", &[]),
            ("UPDATE t SET a = 1 WHERE type = 'x';", &[]),
            ("SELECT 'DROP TABLE users; DELETE FROM t';", &[]),
            ("INSERT INTO log (msg) VALUES ('TRUNCATE t'), ($$DROP SCHEMA s$$);", &[]),
            ("ALTER TABLE t ADD COLUMN type text, ADD COLUMN concurrently_seen boolean, ADD COLUMN begin int;", &[]),
            ("ALTER TABLE t ALTER COLUMN type SET DEFAULT 'a', ALTER COLUMN begin DROP NOT NULL;", &[]),
            ("ALTER TABLE t RENAME COLUMN type TO kind;", &[]),
            ("ALTER TABLE t DROP CONSTRAINT t_fkey, ADD CONSTRAINT t_fkey FOREIGN KEY (a) REFERENCES u (id) ON DELETE CASCADE ON UPDATE CASCADE;", &[]),
            ("ALTER TABLE t ALTER CONSTRAINT c DEFERRABLE;", &[]),
            ("INSERT INTO t VALUES (1) ON CONFLICT (id) DO UPDATE SET a = excluded.a;", &[]),
            ("SELECT * FROM t FOR UPDATE;", &[]),
            ("MERGE INTO t USING s ON t.id = s.id WHEN MATCHED THEN UPDATE SET a = s.a;", &[]),
            ("CREATE TRIGGER tr AFTER DELETE OR UPDATE ON t FOR EACH ROW EXECUTE FUNCTION f();", &[]),
            ("CREATE FUNCTION f(begin int) RETURNS void LANGUAGE sql BEGIN ATOMIC DELETE FROM t; END;", &[]),
            ("GRANT DELETE, UPDATE ON t TO app;", &[]),
            ("CREATE FUNCTION f(begin int) RETURNS int LANGUAGE sql AS 'SELECT 1';\nDROP TABLE t;", &[DropTable]),
        ];
        for (script, expected) in cases {
            assert_eq!(&kinds(script), expected, "{script}");
        }
    }

    #[test]
    fn flags_unbounded_dml() {
        use FindingKind::*;
        assert_eq!(kinds("DELETE FROM t;"), vec![DeleteWithoutWhere]);
        assert!(kinds("DELETE FROM t WHERE a = 1;").is_empty());
        assert_eq!(kinds("UPDATE t SET a = (SELECT b FROM u WHERE u.id = 1);"), vec![UpdateWithoutWhere]);
        assert!(kinds("UPDATE t SET a = 1 WHERE b IS NULL;").is_empty());
        // Inside a DO block the lexer sees a string, not a statement.
        assert!(kinds("DO $$ BEGIN DELETE FROM t; END $$;").is_empty());
    }

    #[test]
    fn flags_type_changes_and_not_null_columns() {
        use FindingKind::*;
        assert_eq!(
            kinds("ALTER TABLE \"T\" ALTER COLUMN \"s\" TYPE \"S_new\" USING (\"s\"::text::\"S_new\");"),
            vec![ColumnTypeChange]
        );
        assert_eq!(kinds("ALTER TABLE t ALTER a SET DATA TYPE bigint;"), vec![ColumnTypeChange]);
        assert!(kinds("ALTER TABLE t ALTER COLUMN a SET DEFAULT 1;").is_empty());
        assert_eq!(kinds("ALTER TABLE \"User\" ADD COLUMN \"email\" TEXT NOT NULL;"), vec![NotNullWithoutDefault]);
        assert!(kinds("ALTER TABLE t ADD COLUMN a TEXT NOT NULL DEFAULT '';").is_empty());
        assert!(kinds("ALTER TABLE t ADD COLUMN id SERIAL NOT NULL;").is_empty());
        assert!(kinds("ALTER TABLE t ADD COLUMN a TEXT;").is_empty());
        assert!(kinds("ALTER TABLE t ADD CONSTRAINT c FOREIGN KEY (a) REFERENCES u(id);").is_empty());
        // A table created in the same file is empty.
        assert!(kinds("CREATE TABLE \"T\" (id int);\nALTER TABLE public.\"T\" ADD COLUMN b int NOT NULL;").is_empty());
    }

    #[test]
    fn findings_name_file_and_line() {
        let m = Migration::from_script("20240101000000_x", "-- Drop\n\nDROP TABLE \"Old\";\n");
        let f = &lint(&m, Default::default())[0];
        assert_eq!(f.line, 3);
        assert_eq!(f.statement, "DROP TABLE \"Old\"");
        assert_eq!(f.to_string(), "20240101000000_x/migration.sql line 3: drops a table (DROP TABLE \"Old\")");
    }
}
