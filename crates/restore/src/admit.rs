//! `admit`: the allow-list. A statement of a backup is replayed only if it
//! is of a kind pg_dump writes in a plain-SQL dump; anything else (transaction
//! control in any spelling, `COPY` to or from a program or a file, `DO`,
//! `CALL`, `DROP` outside pg_dump's `--clean` section, settings pg_dump never
//! writes...) makes the whole file refused.
//!
//! Statements arrive lexed by [`sqllex`]: comments, case, line breaks and
//! spacing do not change what a statement is.

use sqllex::{Kind, Statement, Token};

/// Where in the file the reader is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Context {
    /// Still in pg_dump's `--clean` section (settings and `DROP … IF EXISTS`, before the first object).
    pub(crate) clean: bool,
    /// Inside pg_dump's `BEGIN;` … `COMMIT;` around large-object data.
    pub(crate) large_objects: bool,
}

impl Default for Context {
    fn default() -> Context {
        Context { clean: true, large_objects: false }
    }
}

/// What to do with an admitted statement.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Action {
    /// Send it.
    Run,
    /// Send it, then its `COPY` data into this table (its name as the file writes it).
    Copy(String),
    /// Do not send it.
    Skip(Skipped),
}

/// Why an admitted statement is not sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Skipped {
    /// pg_dump's `BEGIN;` before large-object data: it would nest in the restore's transaction.
    LargeObjectsBegin,
    /// Its `COMMIT;`: it would commit the restore halfway.
    LargeObjectsEnd,
    /// A `--clean` statement: the preamble already emptied the database.
    Clean,
    /// `SET client_encoding`: the session is UTF8 (the text sent is UTF-8; an
    /// `SQL_ASCII` dump's bytes are stored as they are either way).
    Encoding,
}

/// Settings pg_dump writes, with the only values it writes (`None`: any one value).
const SETTINGS: [(&str, Option<&[&str]>); 15] = [
    ("statement_timeout", Some(&["0"])),
    ("lock_timeout", Some(&["0"])),
    ("idle_in_transaction_session_timeout", Some(&["0"])),
    ("transaction_timeout", Some(&["0"])),
    ("client_encoding", Some(&["UTF8", "UTF-8", "SQL_ASCII"])),
    ("standard_conforming_strings", Some(&["on"])),
    ("check_function_bodies", Some(&["false"])),
    ("xmloption", Some(&["content"])),
    ("client_min_messages", Some(&["warning"])),
    ("row_security", Some(&["off"])),
    ("default_tablespace", None),
    ("default_table_access_method", None),
    ("default_with_oids", Some(&["false"])),
    ("escape_string_warning", Some(&["off"])),
    ("search_path", None),
];

/// Objects pg_dump creates and alters (the word after `CREATE [OR REPLACE]` and modifiers).
const OBJECTS: [&str; 33] = [
    "SCHEMA",
    "TABLE",
    "SEQUENCE",
    "TYPE",
    "DOMAIN",
    "FUNCTION",
    "PROCEDURE",
    "ROUTINE",
    "AGGREGATE",
    "OPERATOR",
    "VIEW",
    "MATERIALIZED",
    "INDEX",
    "TRIGGER",
    "EVENT",
    "RULE",
    "POLICY",
    "EXTENSION",
    "COLLATION",
    "CONVERSION",
    "TEXT",
    "STATISTICS",
    "CAST",
    "LANGUAGE",
    "TRANSFORM",
    "ACCESS",
    "FOREIGN",
    "SERVER",
    "USER",
    "PUBLICATION",
    "LARGE",
    "DEFAULT",
    "CONSTRAINT",
];

/// Words between `CREATE` and the object's kind.
const MODIFIERS: [&str; 7] = ["UNIQUE", "UNLOGGED", "TRUSTED", "PROCEDURAL", "DEFAULT", "CONSTRAINT", "RECURSIVE"];

/// Large-object functions of pg_dump's data section.
const LARGE_OBJECT_DATA: [&str; 3] = ["lo_open", "lowrite", "lo_close"];

/// Admits `s` or says, in a few words, what it would do.
pub(crate) fn admit(s: &Statement<'_>, cx: &mut Context) -> Result<Action, String> {
    let first = s.get(0).expect("a statement has a token");
    let word = if first.kind == Kind::Word { first.text.to_ascii_uppercase() } else { String::new() };

    if cx.large_objects {
        return match word.as_str() {
            "COMMIT" if s.tokens.len() == 1 => {
                cx.large_objects = false;
                Ok(Action::Skip(Skipped::LargeObjectsEnd))
            }
            "SELECT" if function_call(s).is_some_and(|f| LARGE_OBJECT_DATA.contains(&f)) => Ok(Action::Run),
            _ => {
                Err("is not large-object data, the only thing pg_dump writes between its `BEGIN;` and `COMMIT;`".into())
            }
        };
    }

    let clean = cx.clean;
    let action = match word.as_str() {
        "SET" => set(s),
        "SELECT" => select(s, clean),
        "DROP" if clean => clean_drop(s),
        "ALTER" if clean && clean_alter(s) => Ok(Action::Skip(Skipped::Clean)),
        "DROP" => Err("would drop objects (pg_dump writes `DROP … IF EXISTS` only in its --clean section, before the first object)".into()),
        "CREATE" => create(s),
        "ALTER" => alter(s),
        "COMMENT" if s.starts_with(&["COMMENT", "ON"]) => Ok(Action::Run),
        "SECURITY" if s.starts_with(&["SECURITY", "LABEL"]) => Ok(Action::Run),
        "GRANT" | "REVOKE" if s.has_top_level("ON") => Ok(Action::Run),
        "GRANT" | "REVOKE" => Err("grants a role (pg_dump grants privileges `ON` objects only)".into()),
        "REFRESH" if s.starts_with(&["REFRESH", "MATERIALIZED", "VIEW"]) => Ok(Action::Run),
        "COPY" => copy(s),
        "BEGIN" if s.tokens.len() == 1 => {
            cx.large_objects = true;
            Ok(Action::Skip(Skipped::LargeObjectsBegin))
        }
        "BEGIN" | "START" | "COMMIT" | "END" | "ABORT" | "ROLLBACK" | "SAVEPOINT" | "RELEASE" | "PREPARE" => {
            Err("would end or change the restore's transaction".into())
        }
        "DO" | "CALL" | "EXECUTE" => Err("would run code (pg_dump writes no `DO`, `CALL` or `EXECUTE`)".into()),
        _ => Err("is not a statement pg_dump writes".into()),
    }?;
    // The clean section ends at the first statement that is not a setting or a drop.
    let keeps_clean = matches!(action, Action::Skip(Skipped::Clean))
        || word == "SET"
        || word == "SELECT" && function_call(s) == Some("set_config");
    if !keeps_clean {
        cx.clean = false;
    }
    Ok(action)
}

/// `SET name = value` / `SET name TO value`, of a setting pg_dump writes, to its value.
fn set(s: &Statement<'_>) -> Result<Action, String> {
    let t = &s.tokens;
    let name = match t.get(1) {
        Some(n) if n.kind == Kind::Word => n.text.to_ascii_lowercase(),
        _ => return Err("is a `SET` pg_dump never writes".into()),
    };
    if matches!(name.as_str(), "session" | "local" | "role" | "transaction" | "constraints") {
        return Err(format!("is `SET {}`, which pg_dump (with --no-owner) never writes", name.to_ascii_uppercase()));
    }
    let Some((_, allowed)) = SETTINGS.iter().find(|(n, _)| *n == name) else {
        return Err(format!("sets `{name}`, a setting pg_dump never writes"));
    };
    let assigns = t.get(2).is_some_and(|a| a.text == "=" || a.is("TO"));
    if !assigns || t.len() < 4 {
        return Err(format!("is a `SET {name}` pg_dump never writes"));
    }
    let Some(allowed) = allowed else { return Ok(Action::Run) };
    let value = unquote(&t[3]);
    if t.len() == 4 && allowed.iter().any(|a| a.eq_ignore_ascii_case(&value)) {
        return Ok(if name == "client_encoding" { Action::Skip(Skipped::Encoding) } else { Action::Run });
    }
    let written: Vec<&str> = t[3..].iter().map(|t| t.text).collect();
    Err(format!(
        "sets `{name}` to `{}`; pg_dump writes only {}{}",
        written.join(" "),
        allowed.join(" or "),
        match name.as_str() {
            "standard_conforming_strings" => " (strings would be read differently)",
            "client_encoding" => " (dump the database again with `pg_dump --encoding=UTF8`)",
            _ => "",
        }
    ))
}

/// The `SELECT pg_catalog.f(…)` calls of pg_dump; in the clean section also its `lo_unlink`.
fn select(s: &Statement<'_>, clean: bool) -> Result<Action, String> {
    if clean && is_clean_lo_unlink(s) {
        return Ok(Action::Skip(Skipped::Clean));
    }
    let Some(function) = function_call(s) else {
        return Err("is a query pg_dump never writes (it calls only pg_catalog's set_config, setval and large-object functions)".into());
    };
    let args = arguments(s);
    let ok = match function {
        "set_config" => {
            args.len() == 3 && args[0].kind == Kind::String && args[0].text == "'search_path'" && args[2].is("false")
        }
        "setval" => args.len() == 2 || args.len() == 3 && (args[2].is("true") || args[2].is("false")),
        "lo_create" | "lo_open" | "lowrite" | "lo_close" => true,
        _ => false,
    };
    if ok {
        Ok(Action::Run)
    } else {
        Err(format!("calls pg_catalog.{function} in a way pg_dump never does"))
    }
}

/// `SELECT pg_catalog.NAME(constant, …)` and nothing else: the function's name.
fn function_call<'a>(s: &Statement<'a>) -> Option<&'a str> {
    let t = &s.tokens;
    let shape = t.len() >= 6
        && t[0].is("SELECT")
        && t[1].is("pg_catalog")
        && t[2].text == "."
        && t[3].kind == Kind::Word
        && t[4].kind == Kind::Open
        && t.last()?.kind == Kind::Close;
    if !shape {
        return None;
    }
    // Constants and commas only: no nested call, no subquery.
    let inner = &t[5..t.len() - 1];
    let constants = inner.iter().all(|a| {
        matches!(a.kind, Kind::String | Kind::Number | Kind::Comma)
            || a.is("true")
            || a.is("false")
            || a.kind == Kind::Other && a.text == "-"
    });
    constants.then(|| t[3].text).filter(|_| t[3].text.bytes().all(|b| b.is_ascii_lowercase() || b == b'_'))
}

/// The constant arguments of a [`function_call`], a leading `-` folded into its number.
fn arguments<'a>(s: &Statement<'a>) -> Vec<Token<'a>> {
    let inner = &s.tokens[5..s.tokens.len() - 1];
    inner.iter().filter(|t| t.kind != Kind::Comma && t.text != "-").copied().collect()
}

/// `SELECT pg_catalog.lo_unlink(oid) FROM pg_catalog.pg_largeobject_metadata WHERE oid = '…'` (pg_dump --clean).
fn is_clean_lo_unlink(s: &Statement<'_>) -> bool {
    let words: Vec<String> = s.tokens.iter().map(|t| t.text.to_ascii_lowercase()).collect();
    let expected = [
        "select",
        "pg_catalog",
        ".",
        "lo_unlink",
        "(",
        "oid",
        ")",
        "from",
        "pg_catalog",
        ".",
        "pg_largeobject_metadata",
        "where",
        "oid",
        "=",
    ];
    words.len() == expected.len() + 1
        && words.iter().zip(expected).all(|(w, e)| w == e)
        && s.tokens.last().is_some_and(|t| t.kind == Kind::String)
}

/// `DROP <object> IF EXISTS …` without `CASCADE`: pg_dump's --clean section.
fn clean_drop(s: &Statement<'_>) -> Result<Action, String> {
    let t = &s.tokens;
    let Some(exists) = t.iter().position(|t| t.is("EXISTS")) else {
        return Err("would drop objects (pg_dump --clean writes `DROP … IF EXISTS`)".into());
    };
    let kind_ok = t.get(1).is_some_and(|k| OBJECTS.contains(&k.text.to_ascii_uppercase().as_str()))
        && exists >= 3
        && t[exists - 1].is("IF")
        && t[1..exists - 1].iter().all(|w| w.kind == Kind::Word);
    if !kind_ok {
        return Err("would drop something pg_dump --clean never drops".into());
    }
    if s.has_top_level("CASCADE") {
        return Err("would drop objects with CASCADE (pg_dump --clean never cascades)".into());
    }
    Ok(Action::Skip(Skipped::Clean))
}

/// `ALTER TABLE [IF EXISTS] [ONLY] t DROP CONSTRAINT IF EXISTS c`,
/// `ALTER TABLE [IF EXISTS] t ALTER COLUMN c DROP DEFAULT`, `ALTER PUBLICATION p DROP TABLE …`
/// of pg_dump's --clean section.
fn clean_alter(s: &Statement<'_>) -> bool {
    let t = &s.tokens;
    let text: Vec<String> = t.iter().map(|t| t.text.to_ascii_uppercase()).collect();
    let has = |seq: &[&str]| text.windows(seq.len()).any(|w| w.iter().zip(seq).all(|(a, b)| a == b));
    let cascade = s.has_top_level("CASCADE");
    !cascade
        && (s.starts_with(&["ALTER", "TABLE"])
            && (has(&["DROP", "CONSTRAINT", "IF", "EXISTS"]) || text.ends_with(&["DROP".into(), "DEFAULT".into()]))
            || s.starts_with(&["ALTER", "PUBLICATION"]) && has(&["DROP", "TABLE"]))
}

/// `CREATE [OR REPLACE] [modifiers] <object> …` of an object pg_dump dumps.
fn create(s: &Statement<'_>) -> Result<Action, String> {
    let t = &s.tokens;
    let mut i = 1;
    if s.starts_with(&["CREATE", "OR", "REPLACE"]) {
        i = 3;
    }
    while t.get(i).is_some_and(|w| MODIFIERS.iter().any(|m| w.is(m))) {
        i += 1;
    }
    let kind = t.get(i).map(|w| w.text.to_ascii_uppercase()).unwrap_or_default();
    match kind.as_str() {
        "DATABASE" | "ROLE" | "GROUP" | "TABLESPACE" | "SUBSCRIPTION" => {
            return Err(format!("creates a {}, which a database dump never does", kind.to_ascii_lowercase()))
        }
        "USER" if !t.get(i + 1).is_some_and(|w| w.is("MAPPING")) => {
            return Err("creates a role, which a database dump never does".into())
        }
        "TEMP" | "TEMPORARY" => return Err("creates a temporary object, which pg_dump never does".into()),
        _ => {}
    }
    if !OBJECTS.contains(&kind.as_str()) {
        return Err("creates something pg_dump never creates".into());
    }
    if kind == "TABLE" && s.has_top_level("AS") {
        return Err("creates a table from a query (`CREATE TABLE … AS`), which pg_dump never writes".into());
    }
    Ok(Action::Run)
}

/// `ALTER <object> …` of an object pg_dump dumps (never the system, a database or a role).
fn alter(s: &Statement<'_>) -> Result<Action, String> {
    let kind = s.get(1).map(|w| w.text.to_ascii_uppercase()).unwrap_or_default();
    match kind.as_str() {
        "SYSTEM" => Err("would change the server's configuration (`ALTER SYSTEM`)".into()),
        "DATABASE" | "ROLE" | "GROUP" | "TABLESPACE" | "SUBSCRIPTION" => {
            Err(format!("alters a {}, which a database dump never does", kind.to_ascii_lowercase()))
        }
        "USER" if !s.get(2).is_some_and(|w| w.is("MAPPING")) => {
            Err("alters a role, which a database dump never does".into())
        }
        k if OBJECTS.contains(&k) => Ok(Action::Run),
        _ => Err("alters something pg_dump never alters".into()),
    }
}

/// `COPY name [(columns)] FROM stdin`, exactly as pg_dump writes it.
fn copy(s: &Statement<'_>) -> Result<Action, String> {
    let t = &s.tokens;
    let mut i = 1;
    let mut table = String::new();
    // A name: parts separated by dots.
    loop {
        if !t.get(i).is_some_and(|p| matches!(p.kind, Kind::Word | Kind::Quoted)) {
            return Err(not_pg_dump_copy());
        }
        table.push_str(t[i].text);
        i += 1;
        if t.get(i).is_some_and(|d| d.text == ".") {
            table.push('.');
            i += 1;
        } else {
            break;
        }
    }
    if t.get(i).is_some_and(|o| o.kind == Kind::Open) {
        i += 1;
        while t.get(i).is_some_and(|c| matches!(c.kind, Kind::Word | Kind::Quoted | Kind::Comma)) {
            i += 1;
        }
        if !t.get(i).is_some_and(|c| c.kind == Kind::Close) {
            return Err(not_pg_dump_copy());
        }
        i += 1;
    }
    let from_stdin = t.len() == i + 2 && t[i].is("FROM") && t[i + 1].is("stdin");
    if from_stdin {
        Ok(Action::Copy(table))
    } else {
        Err(not_pg_dump_copy())
    }
}

fn not_pg_dump_copy() -> String {
    "is not pg_dump's `COPY table (columns) FROM stdin` (it could read or write a file or run a program)".into()
}

/// A setting's value without its quotes.
fn unquote(t: &Token<'_>) -> String {
    if t.kind == Kind::String && t.text.len() >= 2 && t.text.starts_with('\'') {
        t.text[1..t.text.len() - 1].replace("''", "'")
    } else {
        t.text.to_owned()
    }
}
