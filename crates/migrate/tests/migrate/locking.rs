//! The advisory lock: two runners at once, and a held lock that times out naming its holder.

use std::time::Duration;

use migrate::{MigrateError, Options};

use crate::support::{deploy, Fixture};

#[tokio::test]
async fn of_two_runners_one_applies_and_the_other_waits_and_applies_nothing() {
    let f = Fixture::new();
    f.write("20240101000000_slow", "SELECT pg_sleep(0.5);\nCREATE TABLE a (id int);\n");
    f.write("20240102000000_b", "CREATE TABLE b (id int);\n");
    let (one, two) = (f.client().await, f.client().await);
    let dir = f.migrations();
    let (wait, options) = (Duration::from_secs(20), Options::default());
    let (r1, r2) = tokio::join!(deploy(&one, dir, &options, wait), deploy(&two, dir, &options, wait));
    let mut counts = [r1.unwrap().len(), r2.unwrap().len()];
    counts.sort();
    assert_eq!(counts, [0, 2]);
    assert_eq!(f.rows("SELECT count(*) FROM _prisma_migrations").await[0][0].as_deref(), Some("2"));
}

#[tokio::test]
async fn a_waiting_runner_names_the_holder_and_gives_up_at_the_deadline() {
    let f = Fixture::new();
    let holder = f.client().await;
    holder.batch_execute("SET application_name = 'prisma-migrate'; SELECT pg_advisory_lock(72707369)").await.unwrap();
    let pid: i32 = holder.query_one("SELECT pg_backend_pid()", &[]).await.unwrap().get(0);

    let waiter = f.client().await;
    let mut seen = Vec::new();
    let started = std::time::Instant::now();
    let err = migrate::lock(&waiter, Duration::from_millis(400), |h, _| seen.push(h.cloned())).await.unwrap_err();
    assert!(started.elapsed() >= Duration::from_millis(400));
    let MigrateError::LockTimeout { holder: Some(h), .. } = &err else { panic!("{err}") };
    assert_eq!((h.pid, h.application_name.as_str()), (pid, "prisma-migrate"));
    assert!(h.since.is_some());
    assert!(!seen.is_empty() && seen.iter().all(|s| s.as_ref().is_some_and(|s| s.pid == pid)));
    assert!(err.to_string().contains(&format!("pg_terminate_backend({pid})")), "{err}");

    // Once released, the lock is taken at once.
    holder.batch_execute("SELECT pg_advisory_unlock(72707369)").await.unwrap();
    migrate::lock(&waiter, Duration::from_millis(400), |_, _| {}).await.unwrap();
    let h = migrate::holder(&holder).await.unwrap().unwrap();
    assert_eq!(h.application_name, migrate::APPLICATION_NAME);
}
