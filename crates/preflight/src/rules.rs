//! Which commands the preflight refuses: the class is "a command that drops
//! schema objects or data when the service starts (or builds)".
//!
//! - `prisma`: an allow-list. `generate`, `validate`, `format`, `version`,
//!   `init`, `studio`, `debug`, `migrate deploy|status|resolve|diff`,
//!   `db pull|seed`, `db push` without `--accept-data-loss`/`--force-reset`,
//!   and `db execute` whose SQL is readable and drops nothing pass; anything
//!   else (`migrate reset`, `migrate dev`, an unknown subcommand) is refused.
//! - SQL handed to `psql` (`-c`, `-f`, a here-document, `echo ... |`) and to
//!   `prisma db execute` (`--file`, `--stdin`): refused when a statement is a
//!   `DROP`, `TRUNCATE`, `ALTER ... DROP` (column, constraint), `DELETE` or
//!   `UPDATE` without `WHERE`, or a `DO` block containing one of those.
//!   `prisma db execute` whose SQL cannot be read is refused as unchecked.
//! - Other tools, by their destructive subcommands: `dropdb`, `pg_restore
//!   --clean`/`-c`, `sequelize db:drop|db:migrate:undo*|db:seed:undo*`,
//!   `knex migrate:rollback|migrate:down`, `typeorm schema:drop|schema:sync|
//!   migration:revert`, `rails`/`rake db:drop|reset|purge|schema:load|setup|
//!   migrate:reset|rollback|truncate_all|seed:replant`, `manage.py flush`,
//!   `docker compose down -v`, `docker volume rm|prune`, `docker system
//!   prune --volumes`, `docker rm -v`.

use std::fmt;

/// Why a command is refused, and what to do instead.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    /// What the command does.
    pub why: String,
    /// What to do.
    pub fix: String,
}

impl fmt::Display for Refusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} (fix: {})", self.why, self.fix)
    }
}

/// Where a command reads SQL from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SqlSource {
    /// Given on the command line (`psql -c`).
    Text(String),
    /// A file (`psql -f`, `prisma db execute --file`).
    File(String),
    /// Standard input (`psql` with no `-c`/`-f`, `prisma db execute --stdin`).
    Stdin,
}

/// What running `argv` means for the database.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// Drops nothing as far as the preflight knows.
    Safe,
    /// Refused.
    Refuse(Refusal),
    /// Runs this SQL: `tool` names it; `must_read` refuses unreadable SQL.
    Sql {
        /// The program that runs it (`psql`, `prisma`, ...).
        tool: &'static str,
        /// Where the SQL comes from.
        sources: Vec<SqlSource>,
        /// Refuse when the SQL cannot be read.
        must_read: bool,
    },
}

const MIGRATE_FIX: &str =
    "remove it; apply migrations with `cargo xtask migrate` (drydock runs them after a verified backup)";
const SQL_FIX: &str =
    "remove it from the start-up; put schema changes in a migration, which drydock lints and applies after a verified backup";

fn refuse(why: impl Into<String>, fix: &str) -> Verdict {
    Verdict::Refuse(Refusal { why: why.into(), fix: fix.to_owned() })
}

/// The verdict for one simple command (wrappers such as `npx`, `exec` or
/// `env` already removed by the caller).
pub fn classify(argv: &[String]) -> Verdict {
    let Some(program) = argv.first() else { return Verdict::Safe };
    let name = program.rsplit('/').next().unwrap_or(program).to_ascii_lowercase();
    // `npx prisma@5.2 ...`: the package at a version.
    let name = match name.find('@') {
        Some(at) if at > 0 => name[..at].to_owned(),
        _ => name,
    };
    let args = &argv[1..];
    let has = |flag: &str| args.iter().any(|a| a == flag || a.starts_with(&format!("{flag}=")));
    match name.as_str() {
        "prisma" => prisma(args),
        "psql" => psql(args),
        "dropdb" => refuse("`dropdb` removes a database", "remove it from the app's start-up"),
        "pg_restore" => {
            if has("--clean") || short_flag(args, 'c', "dfFhIjLnNpPSstTUW") {
                refuse(
                    "`pg_restore --clean` drops every object of the dump before recreating it",
                    "restore with `cargo xtask restore`, which takes a verified safety backup first",
                )
            } else {
                Verdict::Safe
            }
        }
        n if n.starts_with("sequelize") => subcommand(
            args,
            &["db:drop", "db:migrate:undo", "db:migrate:undo:all", "db:seed:undo", "db:seed:undo:all"],
            n,
        ),
        "knex" => subcommand(args, &["migrate:rollback", "migrate:down"], "knex"),
        n if n.starts_with("typeorm") => {
            subcommand(args, &["schema:drop", "schema:sync", "migration:revert"], "typeorm")
        }
        "rails" | "rake" => subcommand(
            args,
            &[
                "db:drop",
                "db:drop:all",
                "db:reset",
                "db:purge",
                "db:purge:all",
                "db:schema:load",
                "db:structure:load",
                "db:setup",
                "db:migrate:reset",
                "db:rollback",
                "db:truncate_all",
                "db:seed:replant",
            ],
            &name,
        ),
        "python" | "python3" | "django-admin" => {
            let manage = name == "django-admin" || args.first().is_some_and(|a| a.ends_with("manage.py"));
            match args.iter().find(|a| matches!(a.as_str(), "flush" | "reset_db")) {
                Some(sub) if manage => refuse(format!("`manage.py {sub}` deletes every row of the database"), SQL_FIX),
                _ => Verdict::Safe,
            }
        }
        "docker" | "docker-compose" => docker(&name, args),
        "alembic" => subcommand(args, &["downgrade"], "alembic"),
        "flyway" => subcommand(args, &["clean", "undo"], "flyway"),
        "liquibase" => subcommand(
            args,
            &["dropAll", "drop-all", "rollback", "rollbackCount", "rollback-count", "rollbackToDate"],
            "liquibase",
        ),
        "dbmate" => subcommand(args, &["drop", "rollback", "down"], "dbmate"),
        "goose" => subcommand(args, &["down", "down-to", "reset", "redo"], "goose"),
        "migrate" => subcommand(args, &["drop", "down"], "migrate"),
        "sqlx" | "diesel" | "sea-orm-cli" => {
            let pairs = [
                ("database", "drop"),
                ("database", "reset"),
                ("migrate", "revert"),
                ("migrate", "reset"),
                ("migrate", "down"),
                ("migrate", "fresh"),
                ("migrate", "refresh"),
                ("migration", "revert"),
                ("migration", "redo"),
            ];
            let words: Vec<&str> = args.iter().map(String::as_str).filter(|a| !a.starts_with('-')).collect();
            match words.windows(2).find(|w| pairs.contains(&(w[0], w[1]))) {
                Some(w) => refuse(format!("`{name} {} {}` drops schema objects or data", w[0], w[1]), MIGRATE_FIX),
                None => Verdict::Safe,
            }
        }
        _ => Verdict::Safe,
    }
}

fn subcommand(args: &[String], destructive: &[&str], tool: &str) -> Verdict {
    match args.iter().find(|a| destructive.contains(&a.as_str())) {
        Some(sub) => refuse(format!("`{tool} {sub}` drops schema objects or data"), MIGRATE_FIX),
        None => Verdict::Safe,
    }
}

/// True if the short option `flag` is set (also bundled: `-Cc`); `with_value`
/// lists the options that take a value (the rest of the word, or the next one).
fn short_flag(args: &[String], flag: char, with_value: &str) -> bool {
    let mut skip = false;
    for a in args {
        if std::mem::take(&mut skip) || a == "--" {
            continue;
        }
        let Some(letters) = a.strip_prefix('-').filter(|l| !l.starts_with('-')) else { continue };
        for (i, c) in letters.char_indices() {
            if c == flag {
                return true;
            }
            if with_value.contains(c) {
                skip = i + c.len_utf8() == letters.len();
                break;
            }
        }
    }
    false
}

fn prisma(args: &[String]) -> Verdict {
    const VALUED: &[&str] = &["--schema", "--url", "--file", "--name", "-n", "--from-url", "--to-url", "--script"];
    let mut positional = Vec::new();
    let mut skip = false;
    for a in args {
        if std::mem::take(&mut skip) {
            continue;
        }
        if a.starts_with('-') {
            skip = VALUED.contains(&a.as_str());
            continue;
        }
        positional.push(a.as_str());
    }
    let has = |flag: &str| args.iter().any(|a| a == flag || a.starts_with(&format!("{flag}=")));
    let value = |flag: &str| {
        args.iter()
            .position(|a| a == flag)
            .and_then(|i| args.get(i + 1).cloned())
            .or_else(|| args.iter().find_map(|a| a.strip_prefix(&format!("{flag}=")).map(str::to_owned)))
    };
    match positional.as_slice() {
        [] | ["generate" | "validate" | "format" | "version" | "init" | "studio" | "debug", ..] => Verdict::Safe,
        // `prisma migrate` / `prisma db` alone print their help.
        ["migrate" | "db"] => Verdict::Safe,
        ["migrate", "deploy" | "status" | "resolve" | "diff", ..] | ["db", "pull" | "seed", ..] => Verdict::Safe,
        ["migrate", "reset", ..] => refuse(
            "`prisma migrate reset` drops the database and recreates it",
            "remove it; it is for development databases only",
        ),
        ["migrate", "dev", ..] => refuse(
            "`prisma migrate dev` resets the database when it detects drift",
            "use `cargo xtask migrate` (deploy semantics) in deployed containers",
        ),
        ["db", "push", ..] if has("--force-reset") => {
            refuse("`prisma db push --force-reset` drops the whole database schema", MIGRATE_FIX)
        }
        ["db", "push", ..] if has("--accept-data-loss") => refuse(
            "`prisma db push --accept-data-loss` drops columns and tables whose data does not fit the schema",
            MIGRATE_FIX,
        ),
        ["db", "push", ..] => Verdict::Safe,
        ["db", "execute", ..] => {
            let mut sources = Vec::new();
            if let Some(file) = value("--file") {
                sources.push(SqlSource::File(file));
            }
            if has("--stdin") {
                sources.push(SqlSource::Stdin);
            }
            Verdict::Sql { tool: "prisma db execute", sources, must_read: true }
        }
        other => refuse(
            format!("`prisma {}` is not a prisma command drydock knows to leave data alone", other.join(" ")),
            "run only `prisma generate` / `prisma migrate deploy` at start-up, or migrate with `cargo xtask migrate`",
        ),
    }
}

fn psql(args: &[String]) -> Verdict {
    // psql's options that take a value; `-c` and `-f` are read here.
    const VALUED: &str = "cdfhpUvoLTFRPS";
    let mut sources = Vec::new();
    let mut i = 0;
    while i < args.len() {
        let a = &args[i];
        i += 1;
        if let Some(long) = a.strip_prefix("--") {
            let (name, inline) = long.split_once('=').map_or((long, None), |(n, v)| (n, Some(v.to_owned())));
            let takes = matches!(
                name,
                "command"
                    | "file"
                    | "dbname"
                    | "host"
                    | "port"
                    | "username"
                    | "set"
                    | "variable"
                    | "output"
                    | "log-file"
                    | "table-attr"
                    | "field-separator"
                    | "record-separator"
                    | "pset"
            );
            let value = if takes && inline.is_none() {
                i += 1;
                args.get(i - 1).cloned()
            } else {
                inline
            };
            match (name, value) {
                ("command", Some(v)) => sources.push(SqlSource::Text(v)),
                ("file", Some(v)) => sources.push(SqlSource::File(v)),
                _ => {}
            }
            continue;
        }
        let Some(letters) = a.strip_prefix('-').filter(|l| !l.is_empty()) else { continue };
        for (at, c) in letters.char_indices() {
            if VALUED.contains(c) {
                let rest = &letters[at + 1..];
                let value = if rest.is_empty() {
                    i += 1;
                    args.get(i - 1).cloned()
                } else {
                    Some(rest.to_owned())
                };
                match (c, value) {
                    ('c', Some(v)) => sources.push(SqlSource::Text(v)),
                    ('f', Some(v)) if v == "-" => sources.push(SqlSource::Stdin),
                    ('f', Some(v)) => sources.push(SqlSource::File(v)),
                    _ => {}
                }
                break;
            }
        }
    }
    if sources.is_empty() {
        sources.push(SqlSource::Stdin);
    }
    Verdict::Sql { tool: "psql", sources, must_read: false }
}

fn docker(name: &str, args: &[String]) -> Verdict {
    let words: Vec<&str> = args.iter().map(String::as_str).filter(|a| !a.starts_with('-')).collect();
    let flag = |long: &str, short: char| args.iter().any(|a| a == long) || short_flag(args, short, "fptH");
    let compose = if name == "docker-compose" { Some(&words[..]) } else { words.strip_prefix(&["compose"][..]) };
    if let Some(rest) = compose {
        if rest.contains(&"down") && flag("--volumes", 'v') {
            return refuse(
                "`compose down -v` removes the database volume",
                "use `cargo xtask deploy-prod`, which never stops the database",
            );
        }
        return Verdict::Safe;
    }
    match words.as_slice() {
        ["volume", "rm" | "remove" | "prune", ..] => {
            refuse("`docker volume rm/prune` deletes volumes, data included", "remove it")
        }
        ["system", "prune", ..] if args.iter().any(|a| a == "--volumes") => {
            refuse("`docker system prune --volumes` deletes volumes", "remove it")
        }
        ["rm" | "container", ..] if flag("--volumes", 'v') && (words[0] == "rm" || words.get(1) == Some(&"rm")) => {
            refuse("`docker rm -v` deletes the container's volumes", "remove it")
        }
        _ => Verdict::Safe,
    }
}

/// The first statement of `sql` that drops schema objects or data: its
/// 1-based line and what it does. SQL that does not lex is refused too.
pub fn destructive_sql(sql: &str) -> Option<(usize, String)> {
    let statements = match sqllex::statements(sql) {
        Ok(s) => s,
        Err(e) => return Some((e.line, format!("SQL that does not lex ({e})"))),
    };
    for st in &statements {
        let line = sqllex::line_of(sql, st.offset());
        if let Some(meta) = st.tokens.iter().find(|t| t.text == "\\") {
            // `\i file`, `\! cmd`, `\copy`: psql acts on them; the preflight does not follow them.
            let what = "a psql meta-command (`\\...`), which the preflight cannot check".to_owned();
            return Some((sqllex::line_of(sql, meta.offset), what));
        }
        let first = st.get(0).map(|t| t.text.to_ascii_uppercase()).unwrap_or_default();
        let what = match first.as_str() {
            "DROP" => Some(format!(
                "`DROP {}` removes schema objects and their data",
                st.get(1).map_or("", |t| t.text).to_ascii_uppercase()
            )),
            "TRUNCATE" => Some("`TRUNCATE` deletes every row".to_owned()),
            "ALTER" if alter_drops(st) => Some("`ALTER ... DROP` removes columns or constraints".to_owned()),
            "DELETE" | "UPDATE" | "WITH" | "MERGE" if unbounded_write(st) => {
                Some("`DELETE`/`UPDATE` without `WHERE` changes every row".to_owned())
            }
            "DO" => st
                .tokens
                .iter()
                .filter(|t| t.kind == sqllex::Kind::String)
                .find_map(|t| destructive_sql(dollar_body(t.text)).map(|(_, w)| format!("a `DO` block: {w}"))),
            _ => None,
        };
        if let Some(what) = what {
            return Some((line, what));
        }
    }
    None
}

fn alter_drops(st: &sqllex::Statement<'_>) -> bool {
    st.tokens
        .windows(2)
        .any(|w| w[0].is("DROP") && !["DEFAULT", "NOT", "IDENTITY", "EXPRESSION", "OWNED"].iter().any(|k| w[1].is(k)))
}

fn unbounded_write(st: &sqllex::Statement<'_>) -> bool {
    let writes = st.tokens.iter().any(|t| t.is("DELETE") || t.is("UPDATE") || t.is("TRUNCATE"));
    let first_is_write = st.get(0).is_some_and(|t| t.is("DELETE") || t.is("UPDATE"));
    let cte_write =
        st.tokens.windows(2).any(|w| w[0].kind == sqllex::Kind::Open && (w[1].is("DELETE") || w[1].is("UPDATE")));
    let merge_delete = st.get(0).is_some_and(|t| t.is("MERGE")) && st.tokens.iter().any(|t| t.is("DELETE"));
    merge_delete || (writes && (first_is_write || cte_write) && !st.tokens.iter().any(|t| t.is("WHERE")))
}

/// The body of a string constant: `$tag$body$tag$` or `'body'`.
fn dollar_body(text: &str) -> &str {
    if let Some(rest) = text.strip_prefix('$') {
        if let Some(end) = rest.find('$') {
            let tag = &text[..end + 2];
            return text[tag.len()..].strip_suffix(tag).unwrap_or(&text[tag.len()..]);
        }
    }
    text.trim_start_matches(['E', 'e']).trim_matches('\'')
}

/// Word sequences that mark a destructive command in files that are not
/// shell (JavaScript, Python...), where the preflight reads lines, not
/// commands: (words that must appear in order, lowercase; why).
const TEXT_PATTERNS: &[(&[&str], &str)] = &[
    (&["prisma", "db push", "--accept-data-loss"], "`prisma db push --accept-data-loss`"),
    (&["prisma", "db push", "--force-reset"], "`prisma db push --force-reset`"),
    (&["prisma", "migrate reset"], "`prisma migrate reset`"),
    (&["prisma", "migrate dev"], "`prisma migrate dev`"),
    (&["dropdb"], "`dropdb`"),
    (&["drop database"], "`DROP DATABASE`"),
    (&["drop schema"], "`DROP SCHEMA`"),
    (&["drop table"], "`DROP TABLE`"),
    (&["truncate table"], "`TRUNCATE TABLE`"),
    (&["compose", "down", "-v"], "`compose down -v`"),
    (&["compose", "down", "--volumes"], "`compose down --volumes`"),
    (&["docker volume rm"], "`docker volume rm`"),
];

/// The destructive command a line of program text (not shell) mentions.
pub fn text_mentions(line: &str) -> Option<&'static str> {
    let code = line.trim_start();
    if code.starts_with('#') || code.starts_with("//") || code.starts_with("--") || code.starts_with('*') {
        return None;
    }
    let lower: String = code
        .to_lowercase()
        .chars()
        .map(|c| if matches!(c, '[' | ']' | '"' | '\'' | ',' | '`') { ' ' } else { c })
        .collect();
    let lower = lower.split_whitespace().collect::<Vec<_>>().join(" ");
    TEXT_PATTERNS.iter().find_map(|(words, what)| {
        let mut rest = lower.as_str();
        for word in words.iter() {
            let at = find_word(rest, word)?;
            rest = &rest[at + word.len()..];
        }
        Some(*what)
    })
}

/// Position of `word` in `text` at word boundaries (`dropdb` does not match
/// `mydropdbtool`; `-v` does not match `-verbose`).
fn find_word(text: &str, word: &str) -> Option<usize> {
    let is_word = |c: char| c.is_ascii_alphanumeric() || c == '_';
    let mut from = 0;
    while let Some(pos) = text[from..].find(word) {
        let at = from + pos;
        let before = text[..at].chars().next_back();
        let after = text[at + word.len()..].chars().next();
        let starts = before.is_none_or(|c| !is_word(c));
        let ends = after.is_none_or(|c| !is_word(c));
        if starts && ends {
            return Some(at);
        }
        from = at + 1;
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn verdict(cmd: &str) -> Verdict {
        classify(&cmd.split_whitespace().map(str::to_owned).collect::<Vec<_>>())
    }

    #[test]
    fn prisma_admits_by_allow_list() {
        for safe in [
            "prisma generate",
            "prisma migrate deploy --schema x",
            "prisma db push",
            "prisma db push --skip-generate",
            "prisma",
        ] {
            assert_eq!(verdict(safe), Verdict::Safe, "{safe}");
        }
        for bad in [
            "prisma db push --accept-data-loss",
            "prisma db push --force-reset",
            "prisma migrate reset --force",
            "prisma migrate dev",
            "prisma --schema x migrate reset",
            "prisma migrate frobnicate",
        ] {
            assert!(matches!(verdict(bad), Verdict::Refuse(_)), "{bad}");
        }
    }

    #[test]
    fn tools_by_destructive_subcommand() {
        for bad in [
            "dropdb app",
            "pg_restore --clean -d app x.dump",
            "pg_restore -Cc x.dump",
            "npx sequelize-cli db:drop",
            "sequelize db:migrate:undo:all",
            "knex migrate:rollback --all",
            "typeorm schema:drop",
            "bin/rails db:reset",
            "rake db:schema:load",
            "python manage.py flush --no-input",
            "docker compose down -v",
            "docker-compose down --volumes",
            "docker volume rm app_pgdata",
            "docker system prune -a --volumes",
        ] {
            let bad = bad.strip_prefix("npx ").unwrap_or(bad);
            assert!(matches!(verdict(bad), Verdict::Refuse(_)), "{bad}");
        }
        for safe in [
            "pg_restore -d app x.dump",
            "pg_restore -f out.sql x.dump",
            "docker compose down",
            "knex migrate:latest",
            "rails db:migrate",
            "docker compose logs -v",
        ] {
            assert_eq!(verdict(safe), Verdict::Safe, "{safe}");
        }
    }

    #[test]
    fn psql_sources() {
        let v = classify(&[
            "psql".into(),
            "-v".into(),
            "X=1".into(),
            "-c".into(),
            "DROP TABLE t".into(),
            "-qf".into(),
            "a.sql".into(),
        ]);
        assert_eq!(
            v,
            Verdict::Sql {
                tool: "psql",
                sources: vec![SqlSource::Text("DROP TABLE t".into()), SqlSource::File("a.sql".into())],
                must_read: false
            }
        );
    }

    #[test]
    fn sql_classes() {
        for bad in [
            "DROP TABLE users",
            "drop schema public cascade",
            "TRUNCATE users",
            "DELETE FROM users",
            "UPDATE users SET email = NULL",
            "ALTER TABLE ONLY users DROP COLUMN email",
            "WITH d AS (DELETE FROM users RETURNING *) SELECT 1",
            "DO $$ BEGIN EXECUTE 'x'; DROP TABLE t; END $$",
            "select 1; drop database app",
        ] {
            assert!(destructive_sql(bad).is_some(), "{bad}");
        }
        for safe in [
            "SELECT 1",
            "DELETE FROM sessions WHERE expires < now()",
            "CREATE TABLE drop_log (id int)",
            "ALTER TABLE t ALTER COLUMN c DROP DEFAULT",
            "INSERT INTO t VALUES ('DROP TABLE x')",
            "-- DROP TABLE x\nSELECT 1",
        ] {
            assert!(destructive_sql(safe).is_none(), "{safe}");
        }
    }
}
