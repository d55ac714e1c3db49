//! Destructive statements in a migration, found with the lexer (never by running anything).

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
        } else if s.starts_with(&["DROP", "TABLE"]) {
            found(FindingKind::DropTable);
        } else if s.starts_with(&["DROP", "SCHEMA"]) {
            found(FindingKind::DropSchema);
        } else if s.starts_with(&["TRUNCATE"]) {
            found(FindingKind::Truncate);
        } else if s.starts_with(&["DELETE"]) && !s.has_top_level("WHERE") {
            found(FindingKind::DeleteWithoutWhere);
        } else if s.starts_with(&["UPDATE"]) && !s.has_top_level("WHERE") {
            found(FindingKind::UpdateWithoutWhere);
        } else if s.starts_with(&["ALTER", "TABLE"]) {
            let (table, actions) = alter_table(s);
            for action in actions {
                if let Some(kind) = action_kind(action, table.as_deref(), &created) {
                    found(kind);
                }
            }
        }
    }
    findings
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
    let Some((table, next)) = qualified_name(&s.tokens, i) else {
        return (None, Vec::new());
    };
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
        if is(1, "CONSTRAINT") || is(1, "DEFAULT") || is(1, "NOT") || is(1, "IDENTITY") || is(1, "EXPRESSION") {
            return None;
        }
        return Some(FindingKind::DropColumn);
    }
    if first.is("ALTER") {
        let typed = action.iter().any(|t| t.is("TYPE"));
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
        assert!(kinds("DROP INDEX i; DROP TYPE e;").is_empty());
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
