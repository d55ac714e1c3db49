//! Failures: a transactional one leaves no trace; a no-tx one leaves a failed row until `resolve`.

use migrate::{MigrateError, Mode, Problem, Resolution};

use crate::support::{names, Fixture};

#[tokio::test]
async fn a_failure_in_the_third_statement_leaves_no_trace_of_the_first_two() {
    let f = Fixture::new();
    f.write("20240101000000_ok", "CREATE TABLE kept (id int);\n");
    f.write(
        "20240102000000_broken",
        "CREATE TABLE first (id int);\nINSERT INTO kept VALUES (1);\nSELECT * FROM no_such_table;\nCREATE TABLE fourth (id int);\n",
    );
    f.write("20240103000000_later", "CREATE TABLE later (id int);\n");
    let err = f.deploy().await.unwrap_err();
    let MigrateError::Failed { name, mode, error, .. } = &err else { panic!("{err}") };
    assert_eq!((name.as_str(), *mode), ("20240102000000_broken", Mode::Transaction));
    assert!(error.contains("no_such_table") && error.contains("42P01"), "{error}");
    assert!(error.contains("at line 3 of migration.sql"), "{error}");
    assert!(err.to_string().contains("rolled back"), "{err}");

    // Nothing of it: no table, no row in `kept`, and the later migration did not run.
    let tables =
        f.rows("SELECT string_agg(tablename, ',' ORDER BY tablename) FROM pg_tables WHERE schemaname = 'public'").await;
    assert_eq!(tables[0][0].as_deref(), Some("_prisma_migrations,kept"));
    assert_eq!(f.rows("SELECT count(*) FROM kept").await[0][0].as_deref(), Some("0"));

    // The attempt is auditable: a rolled-back row with the error, which blocks nothing.
    let audit = f
        .rows("SELECT finished_at IS NULL, rolled_back_at IS NOT NULL, logs LIKE '%no_such_table%', applied_steps_count FROM _prisma_migrations WHERE migration_name = '20240102000000_broken'")
        .await;
    assert_eq!(audit, vec![["t", "t", "t", "0"].map(|s| Some(s.to_owned())).to_vec()]);

    // Fixed, it applies with the one after it.
    f.write("20240102000000_broken", "CREATE TABLE first (id int);\n");
    assert_eq!(names(&f.deploy().await.unwrap()), ["20240102000000_broken", "20240103000000_later"]);
}

#[tokio::test]
async fn a_failed_no_tx_migration_blocks_until_resolved() {
    let f = Fixture::new();
    f.write("20240101000000_t", "CREATE TABLE t (a int);\nINSERT INTO t VALUES (1), (1);\n");
    f.write("20240102000000_idx", "CREATE UNIQUE INDEX CONCURRENTLY t_a ON t (a);\n");
    f.write("20240103000000_next", "CREATE TABLE next (id int);\n");
    let err = f.deploy().await.unwrap_err();
    assert!(matches!(&err, MigrateError::Failed { mode: Mode::NoTransaction, .. }), "{err}");
    assert!(err.to_string().contains("resolve --rolled-back 20240102000000_idx"), "{err}");

    // Like Prisma: a failed row, and every later deploy refuses (P3009).
    let failed = f
        .rows("SELECT finished_at IS NULL, rolled_back_at IS NULL, logs IS NOT NULL FROM _prisma_migrations WHERE migration_name = '20240102000000_idx'")
        .await;
    assert_eq!(failed, vec![["t", "t", "t"].map(|s| Some(s.to_owned())).to_vec()]);
    let refused = f.deploy().await.unwrap_err();
    let MigrateError::Refused(problems) = &refused else { panic!("{refused}") };
    assert!(matches!(&problems[..], [Problem::Failed { name, .. }] if name == "20240102000000_idx"));
    assert!(refused.to_string().contains("cargo xtask migrate resolve --rolled-back 20240102000000_idx"));
    assert_eq!(f.rows("SELECT count(*) FROM pg_tables WHERE tablename = 'next'").await[0][0].as_deref(), Some("0"));

    // Undo (drop the invalid index), fix the data, resolve --rolled-back: it runs again.
    let client = f.client().await;
    client
        .batch_execute("DROP INDEX IF EXISTS t_a; DELETE FROM t WHERE ctid <> (SELECT min(ctid) FROM t);")
        .await
        .unwrap();
    let history = migrate::read_history(&client, migrate::load_dir(f.migrations()).unwrap()).await.unwrap();
    migrate::resolve(&client, &history, "20240102000000_idx", Resolution::RolledBack).await.unwrap();
    assert_eq!(names(&f.deploy().await.unwrap()), ["20240102000000_idx", "20240103000000_next"]);

    // Resolving again is refused: nothing is failed now.
    let history = migrate::read_history(&client, migrate::load_dir(f.migrations()).unwrap()).await.unwrap();
    let err = migrate::resolve(&client, &history, "20240102000000_idx", Resolution::RolledBack).await.unwrap_err();
    assert!(err.to_string().contains("not in a failed state"), "{err}");
    let err = migrate::resolve(&client, &history, "20240102000000_idx", Resolution::Applied).await.unwrap_err();
    assert!(err.to_string().contains("already recorded as applied"), "{err}");
}

#[tokio::test]
async fn resolve_applied_marks_a_failed_migration_done() {
    let f = Fixture::new();
    f.write("20240101000000_own_tx", "BEGIN;\nCREATE TABLE a (id int);\nCOMMIT;\nSELECT 1/0;\n");
    assert!(f.deploy().await.is_err());
    let client = f.client().await;
    let local = migrate::load_dir(f.migrations()).unwrap();
    let history = migrate::read_history(&client, local.clone()).await.unwrap();
    migrate::resolve(&client, &history, "20240101000000_own_tx", Resolution::Applied).await.unwrap();
    let rows = f
        .rows("SELECT finished_at IS NOT NULL, rolled_back_at IS NOT NULL, logs, applied_steps_count FROM _prisma_migrations ORDER BY started_at")
        .await;
    let expected: Vec<Vec<Option<String>>> = vec![
        vec![Some("f".into()), Some("t".into()), rows[0][2].clone(), Some("0".into())],
        vec![Some("t".into()), Some("f".into()), Some(String::new()), Some("0".into())],
    ];
    assert_eq!(rows, expected);
    assert!(f.deploy().await.unwrap().is_empty());
    let status = migrate::status(&migrate::read_history(&client, local).await.unwrap());
    assert!(status.is_up_to_date(), "{status:?}");
}

/// A migration that fails only at COMMIT (a deferred constraint) ends its
/// transaction, so the pipelined migrations after it are stopped by their guard.
#[tokio::test]
async fn a_failure_at_commit_stops_the_migrations_sent_after_it() {
    let f = Fixture::new();
    f.write(
        "20240101000000_tables",
        "CREATE TABLE p (id int PRIMARY KEY);\nCREATE TABLE c (p int REFERENCES p DEFERRABLE INITIALLY DEFERRED);\n",
    );
    f.write("20240102000000_orphan", "INSERT INTO c VALUES (42);\n");
    f.write("20240103000000_after", "CREATE TABLE after (id int);\n");
    f.write("20240104000000_later", "CREATE TABLE later (id int);\n");
    let err = f.deploy().await.unwrap_err();
    let MigrateError::Failed { name, error, .. } = &err else { panic!("{err}") };
    assert_eq!(name, "20240102000000_orphan");
    assert!(error.contains("foreign key"), "{error}");
    let tables =
        f.rows("SELECT string_agg(tablename, ',' ORDER BY tablename) FROM pg_tables WHERE schemaname = 'public'").await;
    assert_eq!(tables[0][0].as_deref(), Some("_prisma_migrations,c,p"));
    let applied =
        f.rows("SELECT migration_name FROM _prisma_migrations WHERE finished_at IS NOT NULL ORDER BY 1").await;
    assert_eq!(applied, vec![vec![Some("20240101000000_tables".to_owned())]]);
}

/// Runs `apply` on a fresh session and terminates that session, from another
/// one, once it runs `pg_sleep`; returns apply's error.
async fn apply_and_terminate(f: &Fixture) -> MigrateError {
    let client = f.client().await;
    let local = migrate::load_dir(f.migrations()).unwrap();
    migrate::lock(&client, std::time::Duration::from_secs(10), |_, _| {}).await.unwrap();
    let history = migrate::read_history(&client, local).await.unwrap();
    let plan = migrate::plan(&history, &migrate::Options::default()).unwrap();
    let killer = f.client().await;
    let terminate = async {
        loop {
            let killed = crate::support::rows(&killer, "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid() AND state = 'active' AND query LIKE '%pg_sleep%'").await;
            if killed[0][0].as_deref() != Some("0") {
                return;
            }
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
    };
    let (applied, ()) = tokio::join!(migrate::apply(&client, &plan, |_| {}), terminate);
    applied.unwrap_err()
}

#[tokio::test]
async fn a_lost_connection_is_reported_as_an_unknown_outcome_not_a_rollback() {
    let f = Fixture::new();
    f.write("20240101000000_slow", "CREATE TABLE slow (id int);\nSELECT pg_sleep(30);\n");
    let err = apply_and_terminate(&f).await;
    assert!(
        matches!(&err, MigrateError::ConnectionLost { name, mode: Mode::Transaction, .. } if name == "20240101000000_slow"),
        "{err:?}"
    );
    let text = err.to_string();
    assert!(
        text.starts_with("outcome unknown: the connection was lost")
            && text.contains("cargo xtask migrate status ENV")
            && !text.contains("nothing of it remains"),
        "{text}"
    );

    // No-tx: the same, and the started row stays failed (P3009) for `resolve`.
    let f = Fixture::new();
    f.write("20240101000000_slow", "-- drydock: no-transaction\nCREATE TABLE slow (id int);\nSELECT pg_sleep(30);\n");
    let err = apply_and_terminate(&f).await;
    assert!(matches!(&err, MigrateError::ConnectionLost { mode: Mode::NoTransaction, .. }), "{err:?}");
    assert!(err.to_string().contains("resolve --applied 20240101000000_slow ENV"), "{err}");
    let refused = f.deploy().await.unwrap_err();
    assert!(matches!(&refused, MigrateError::Refused(p) if matches!(&p[..], [Problem::Failed { .. }])), "{refused}");
}
