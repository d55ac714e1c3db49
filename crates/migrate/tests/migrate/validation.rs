//! Everything is checked before the first change, and refused with every problem at once.

use migrate::{MigrateError, Options, Problem, Resolution};

use crate::support::{names, Fixture};

fn problems(err: MigrateError) -> Vec<Problem> {
    match err {
        MigrateError::Refused(p) => p,
        other => panic!("expected a refusal, got: {other}"),
    }
}

#[tokio::test]
async fn checksum_drift_is_detected_but_line_endings_are_not_drift() {
    let f = Fixture::new();
    f.write(
        "20240101000000_a",
        "CREATE TABLE a (id int);\nCREATE TABLE b (id int);\n",
    );
    f.deploy().await.unwrap();

    // Same text with CRLF: not drift (Prisma's tolerance).
    f.write(
        "20240101000000_a",
        "CREATE TABLE a (id int);\r\nCREATE TABLE b (id int);\r\n",
    );
    assert!(f.deploy().await.unwrap().is_empty());

    // An edit is drift: refused, naming the file, and the pending one does not run.
    f.write("20240101000000_a", "CREATE TABLE a (id bigint);\n");
    f.write("20240102000000_b", "CREATE TABLE c (id int);\n");
    let err = f.deploy().await.unwrap_err();
    assert!(
        err.to_string()
            .contains("20240101000000_a/migration.sql changed after migration"),
        "{err}"
    );
    assert!(
        matches!(&problems(err)[..], [Problem::Drift { name, .. }] if name == "20240101000000_a")
    );
    assert_eq!(
        f.rows("SELECT count(*) FROM pg_tables WHERE tablename = 'c'")
            .await[0][0]
            .as_deref(),
        Some("0")
    );

    // Accepted with the flag.
    let options = Options {
        allow_drift: true,
        ..Options::default()
    };
    assert_eq!(
        names(&f.deploy_with(&options).await.unwrap()),
        ["20240102000000_b"]
    );
}

#[tokio::test]
async fn missing_folders_and_out_of_order_migrations_are_refused_unless_allowed() {
    let f = Fixture::new();
    f.write("20240101000000_a", "CREATE TABLE a (id int);");
    f.write("20240103000000_c", "CREATE TABLE c (id int);");
    f.deploy().await.unwrap();
    std::fs::remove_dir_all(f.migrations().join("20240101000000_a")).unwrap();
    f.write("20240102000000_b", "CREATE TABLE b (id int);");

    let found = problems(f.deploy().await.unwrap_err());
    assert_eq!(found.len(), 2, "{found:?}");
    assert!(matches!(&found[0], Problem::Missing { name } if name == "20240101000000_a"));
    assert!(
        matches!(&found[1], Problem::OutOfOrder { name, latest_applied } if name == "20240102000000_b" && latest_applied == "20240103000000_c")
    );

    let options = Options {
        allow_missing: true,
        allow_out_of_order: true,
        ..Options::default()
    };
    assert_eq!(
        names(&f.deploy_with(&options).await.unwrap()),
        ["20240102000000_b"]
    );
}

#[tokio::test]
async fn a_non_empty_schema_without_ledger_is_refused_until_baselined() {
    let f = Fixture::new();
    let client = f.client().await;
    client
        .batch_execute("CREATE TABLE legacy (id int); CREATE EXTENSION pg_trgm;")
        .await
        .unwrap();
    f.write("20240101000000_baseline", "CREATE TABLE legacy (id int);");
    f.write(
        "20240102000000_next",
        "ALTER TABLE legacy ADD COLUMN name text;",
    );

    let err = f.deploy().await.unwrap_err();
    assert!(err.to_string().contains("resolve --applied"), "{err}");
    // The extension's objects do not count; the table does.
    assert!(matches!(
        &problems(err)[..],
        [Problem::NotEmpty { objects: 1, .. }]
    ));
    assert_eq!(
        f.rows("SELECT to_regclass('_prisma_migrations') IS NULL")
            .await[0][0]
            .as_deref(),
        Some("t")
    );

    let history = migrate::read_history(&client, migrate::load_dir(f.migrations()).unwrap())
        .await
        .unwrap();
    migrate::resolve(
        &client,
        &history,
        "20240101000000_baseline",
        Resolution::Applied,
    )
    .await
    .unwrap();
    assert_eq!(names(&f.deploy().await.unwrap()), ["20240102000000_next"]);
}

#[tokio::test]
async fn scripts_that_cannot_be_sent_safely_are_refused_before_any_change() {
    let f = Fixture::new();
    f.write("20240101000000_a", "CREATE TABLE a (id int);");
    f.write(
        "20240102000000_b",
        "CREATE TABLE b (id int);\nCREATE INDEX CONCURRENTLY b_idx ON b (id);",
    );
    f.write(
        "20240103000000_c",
        "INSERT INTO a VALUES (1); SELECT 'unterminated",
    );
    let found = problems(f.deploy().await.unwrap_err());
    assert_eq!(found.len(), 2);
    assert!(
        found[0]
            .to_string()
            .contains("move it to a migration of its own"),
        "{}",
        found[0]
    );
    assert!(
        found[1]
            .to_string()
            .contains("unterminated string opened on line 1"),
        "{}",
        found[1]
    );
    assert_eq!(
        f.rows("SELECT count(*) FROM pg_tables WHERE schemaname = 'public'")
            .await[0][0]
            .as_deref(),
        Some("0")
    );
}

#[test]
fn a_lock_file_for_another_provider_is_refused_before_connecting() {
    let dir = crate::support::TempDir::new();
    std::fs::write(dir.0.join("migration_lock.toml"), "# Please do not edit this file manually\n# It should be added in your version-control system (e.g., Git)\nprovider = \"sqlite\"\n").unwrap();
    let err = migrate::load_dir(&dir.0).unwrap_err();
    assert!(matches!(&err, MigrateError::LockFile { provider: Some(p), .. } if p == "sqlite"));
    assert!(
        err.to_string()
            .contains("migration_lock.toml says provider = \"sqlite\""),
        "{err}"
    );
}

#[test]
fn a_folder_without_migration_sql_is_an_error() {
    let dir = crate::support::TempDir::new();
    std::fs::create_dir(dir.0.join("20240101000000_a")).unwrap();
    let err = migrate::load_dir(&dir.0).unwrap_err();
    assert!(
        err.to_string().contains("20240101000000_a/migration.sql"),
        "{err}"
    );
}

#[tokio::test]
async fn a_transaction_the_file_never_ends_is_refused_before_any_change() {
    // Sent alone, its ledger "finished" update would run inside the open
    // transaction and vanish with the session: it would report success.
    let f = Fixture::new();
    f.write("20240101000000_a", "CREATE TABLE a (id int);");
    f.write("20240102000000_open", "BEGIN;\nCREATE TABLE b (id int);\n");
    let found = problems(f.deploy().await.unwrap_err());
    assert_eq!(found.len(), 1, "{found:?}");
    let text = found[0].to_string();
    assert!(
        text.contains("20240102000000_open")
            && text.contains("`BEGIN` on line 1")
            && text.contains("add `COMMIT;`"),
        "{text}"
    );
    assert_eq!(
        f.rows("SELECT count(*) FROM pg_tables WHERE schemaname = 'public'")
            .await[0][0]
            .as_deref(),
        Some("0")
    );
}
