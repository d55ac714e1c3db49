//! The migrating session's settings, Prisma URLs, and the server behaviour the mode rules rely on.

use migrate::{MigrateError, Settings};

use crate::support::Fixture;

#[tokio::test]
async fn timeouts_apply_to_the_migrating_session() {
    let f = Fixture::new();
    let client = f.client().await;
    let settings = Settings { lock_timeout: Some("1500ms".into()), statement_timeout: Some("200ms".into()) };
    migrate::configure(&client, &settings).await.unwrap();
    let shown = crate::support::rows(&client, "SHOW lock_timeout; SHOW statement_timeout").await;
    assert_eq!(shown, vec![vec![Some("1500ms".to_owned())], vec![Some("200ms".to_owned())]]);

    f.write("20240101000000_slow", "SELECT pg_sleep(2);");
    let local = migrate::load_dir(f.migrations()).unwrap();
    let history = migrate::read_history(&client, local).await.unwrap();
    let plan = migrate::plan(&history, &Default::default()).unwrap();
    let err = migrate::apply(&client, &plan, |_| {}).await.unwrap_err();
    assert!(err.to_string().contains("statement timeout"), "{err}");

    let bad = Settings { lock_timeout: Some("soon".into()), statement_timeout: None };
    let err = migrate::configure(&client, &bad).await.unwrap_err();
    assert!(err.to_string().contains("fix `lock-timeout` in Cargo.toml"), "{err}");
}

#[tokio::test]
async fn a_prisma_schema_parameter_selects_the_schema() {
    let f = Fixture::new();
    f.client().await.batch_execute("CREATE SCHEMA app").await.unwrap();
    let url = format!("{}?schema=app&connection_limit=1", f.db.url);
    let client = migrate::connect(&url).await.unwrap();
    f.write("20240101000000_a", "CREATE TABLE a (id int);");
    crate::support::deploy(&client, f.migrations(), &Default::default(), std::time::Duration::from_secs(5))
        .await
        .unwrap();
    let found = f.rows("SELECT schemaname, tablename FROM pg_tables WHERE schemaname = 'app' ORDER BY tablename").await;
    assert_eq!(found.len(), 2, "ledger and table in `app`: {found:?}");
}

#[tokio::test]
async fn connection_errors_do_not_show_the_url() {
    let err = migrate::connect("postgresql://user:secret@127.0.0.1:1/db").await.unwrap_err();
    assert!(matches!(err, MigrateError::Connect { .. }));
    assert!(!err.to_string().contains("secret"), "{err}");
}

/// Why a CONCURRENTLY statement must be alone in its file: the server runs a
/// multi-statement script as one implicit transaction.
#[tokio::test]
async fn the_server_refuses_concurrently_in_a_multi_statement_script() {
    let f = Fixture::new();
    let client = f.client().await;
    client.batch_execute("CREATE TABLE t (a int)").await.unwrap();
    let err = client.batch_execute("SELECT 1; CREATE INDEX CONCURRENTLY i ON t (a);").await.unwrap_err();
    assert!(err.as_db_error().unwrap().message().contains("cannot run inside a transaction block"));
    client.batch_execute("CREATE INDEX CONCURRENTLY i ON t (a);").await.unwrap();
}

/// Commits are asynchronous during a run; the session's own setting is back
/// for the last commit, after a success as after a failure.
#[tokio::test]
async fn the_sessions_synchronous_commit_is_restored() {
    let f = Fixture::new();
    let client = f.client().await;
    client.batch_execute("SET synchronous_commit TO remote_write").await.unwrap();
    f.write("20240101000000_a", "CREATE TABLE a (id int);");
    f.write("20240102000000_b", "CREATE INDEX CONCURRENTLY a_idx ON a (id);");
    f.write("20240103000000_c", "CREATE TABLE c (id int);");
    crate::support::deploy(&client, f.migrations(), &Default::default(), std::time::Duration::from_secs(5))
        .await
        .unwrap();
    let shown = crate::support::rows(&client, "SHOW synchronous_commit").await;
    assert_eq!(shown[0][0].as_deref(), Some("remote_write"));

    f.write("20240104000000_d", "CREATE TABLE d (id int);");
    f.write("20240105000000_e", "SELECT 1/0;");
    assert!(crate::support::deploy(&client, f.migrations(), &Default::default(), std::time::Duration::from_secs(5))
        .await
        .is_err());
    let shown = crate::support::rows(&client, "SHOW synchronous_commit").await;
    assert_eq!(shown[0][0].as_deref(), Some("remote_write"));
}
