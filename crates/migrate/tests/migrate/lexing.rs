//! Files are lexed as the server will run them: the session's real
//! `standard_conforming_strings`, files that turn it off refused, and the server
//! confirming the plan's lexing before each file runs.

use migrate::{MigrateError, Mode, Problem, ScriptError};

use crate::support::{names, Fixture};

/// Under the session's `off`, `'x\', '` is one string, so the `; COMMIT;` after
/// it is a statement on the server; under `on` the COMMIT is inside a string
/// and the `--` starts a comment. With `off` the file must be sent alone (its
/// failure reported as possibly partial), never wrapped as if the COMMIT were text.
const HIDDEN_COMMIT: &str = "CREATE TABLE half (id int);\nSELECT 'x\\', ' ; COMMIT; SELECT ' --';\nSELECT 1/0;\n";

#[tokio::test]
async fn a_database_with_standard_conforming_strings_off_is_lexed_as_the_server_lexes_it() {
    let f = Fixture::new();
    let admin = f.client().await;
    admin
        .batch_execute(&format!("ALTER DATABASE \"{}\" SET standard_conforming_strings = off", f.db.name))
        .await
        .unwrap();
    drop(admin);
    let shown = f.rows("SHOW standard_conforming_strings").await;
    assert_eq!(shown[0][0].as_deref(), Some("off"), "new sessions see the database's setting");

    // A backslash-escaped quote: one string for the server, so one transaction.
    f.write(
        "20240101000000_notes",
        "CREATE TABLE notes (body text);\nINSERT INTO notes VALUES ('it\\'s; COMMIT; fine');\n",
    );
    let client = f.client().await;
    let history = migrate::read_history(&client, migrate::load_dir(f.migrations()).unwrap()).await.unwrap();
    assert!(!history.standard_conforming_strings);
    let plan = migrate::plan(&history, &Default::default()).unwrap();
    assert_eq!(plan.pending[0].mode, Mode::Transaction, "{}", plan.pending[0].reason);
    assert_eq!(names(&f.deploy().await.unwrap()), ["20240101000000_notes"]);
    let body = f.rows("SELECT body FROM notes").await;
    assert_eq!(body[0][0].as_deref(), Some("it's; COMMIT; fine"));

    // The COMMIT the server sees is seen: the file runs alone, as Prisma would,
    // and its failure never claims that nothing of it remains.
    f.write("20240102000000_half", HIDDEN_COMMIT);
    let err = f.deploy().await.unwrap_err();
    assert!(
        matches!(&err, MigrateError::Failed { mode: Mode::NoTransaction, name, .. } if name == "20240102000000_half"),
        "{err}"
    );
    let text = err.to_string();
    assert!(text.contains("may have left partial changes") && !text.contains("nothing of it remains"), "{text}");
    // What the server kept is what the message says may be there: the table,
    // with a failed ledger row that blocks the next deploy until `resolve`.
    assert_eq!(f.rows("SELECT count(*) FROM pg_tables WHERE tablename = 'half'").await[0][0].as_deref(), Some("1"));
    let row = f
        .rows("SELECT finished_at IS NULL AND rolled_back_at IS NULL FROM _prisma_migrations WHERE migration_name = '20240102000000_half'")
        .await;
    assert_eq!(row[0][0].as_deref(), Some("t"));
}

/// With the default `on`, the same file is one transaction whose failure rolls
/// everything back, which the server confirms.
#[tokio::test]
async fn with_standard_conforming_strings_on_the_same_file_is_one_transaction_and_leaves_nothing() {
    let f = Fixture::new();
    f.write("20240101000000_half", HIDDEN_COMMIT);
    let err = f.deploy().await.unwrap_err();
    assert!(matches!(&err, MigrateError::Failed { mode: Mode::Transaction, .. }), "{err}");
    assert!(err.to_string().contains("nothing of it remains"), "{err}");
    assert_eq!(f.rows("SELECT count(*) FROM pg_tables WHERE tablename = 'half'").await[0][0].as_deref(), Some("0"));
}

/// Every spelling of an earlier migration turning it off is refused before
/// anything runs, naming the file and the line.
#[tokio::test]
async fn a_migration_that_turns_standard_conforming_strings_off_is_refused_before_any_change() {
    let spellings = [
        "SET standard_conforming_strings = off;",
        "SET LOCAL standard_conforming_strings TO false;",
        "SELECT set_config('standard_conforming_strings', 'off', false);",
        "ALTER DATABASE current SET standard_conforming_strings = off;",
        "ALTER ROLE CURRENT_USER SET standard_conforming_strings = 0;",
    ];
    for spelling in spellings {
        let f = Fixture::new();
        f.write("20240101000000_a", "CREATE TABLE a (id int);\n");
        f.write("20240102000000_off", &format!("-- turn it off\n{spelling}\n"));
        f.write("20240103000000_c", HIDDEN_COMMIT);
        let err = f.deploy().await.unwrap_err();
        let MigrateError::Refused(problems) = &err else { panic!("{spelling}: {err}") };
        assert!(
            matches!(&problems[..], [Problem::Script { name, error: ScriptError::ConformingStrings { line: 2, .. }, .. }] if name == "20240102000000_off"),
            "{spelling}: {err}"
        );
        assert!(
            err.to_string().contains("20240102000000_off/migration.sql") && err.to_string().contains("line 2"),
            "{err}"
        );
        let tables = f.rows("SELECT count(*) FROM pg_tables WHERE schemaname = 'public'").await;
        assert_eq!(tables[0][0].as_deref(), Some("0"), "{spelling}: nothing changed, not even the ledger");
        let shown = f.rows("SHOW standard_conforming_strings").await;
        assert_eq!(shown[0][0].as_deref(), Some("on"));
    }
}

/// Something the plan cannot see turns the setting off mid-run (a function whose
/// body spells the name in two halves): the server refuses, before its first
/// statement, the file it would now lex differently; the earlier file stays.
#[tokio::test]
async fn the_server_confirms_the_plans_lexing_before_each_file_runs() {
    for directive in ["", "-- drydock: no-transaction\n"] {
        let f = Fixture::new();
        f.write(
            "20240101000000_flip",
            "CREATE FUNCTION flip() RETURNS text LANGUAGE sql AS $$ SELECT set_config('standard' || '_conforming_strings', 'off', false) $$;\nSELECT flip();\n",
        );
        f.write("20240102000000_next", &format!("{directive}{HIDDEN_COMMIT}"));
        let err = f.deploy().await.unwrap_err();
        assert!(
            matches!(&err, MigrateError::LexingChanged { name, planned: true, .. } if name == "20240102000000_next"),
            "{directive}: {err:?}"
        );
        assert!(err.to_string().contains("nothing of it remains"), "{err}");
        assert_eq!(f.rows("SELECT count(*) FROM pg_tables WHERE tablename = 'half'").await[0][0].as_deref(), Some("0"));
        let applied = f.rows("SELECT migration_name FROM _prisma_migrations WHERE finished_at IS NOT NULL").await;
        assert_eq!(applied, vec![vec![Some("20240101000000_flip".to_owned())]]);
    }
}
