//! `deploy-ENV` against the demo stack.

use std::time::Duration;

use compose::Flavor;
use testbench::Stack;

use super::{backup_files, ctx, identities, options, run_on};
use crate::pipeline::DEPLOY;

/// A copy of the demo with its migrations, deployed once and seeded.
pub(super) fn deployed(tag: &str, edit: impl FnOnce(&camino::Utf8Path)) -> Stack {
    let stack = Stack::with_demo_copy(tag, Flavor::V2, edit);
    stack.up();
    run_on(&ctx(), &stack, &DEPLOY, options()).expect("first deploy");
    stack.psql(r#"INSERT INTO "User" (email, name) VALUES ('a@example.com', 'Ada'), ('b@example.com', 'Bob');"#);
    stack
}

/// Changes the api's image (a new release): its entrypoint gets a comment.
pub(super) fn new_api_release(stack: &Stack, release: &str) {
    let path = stack.env.root().join("demo/api/entrypoint.sh");
    let text = std::fs::read_to_string(&path).unwrap();
    std::fs::write(&path, format!("{text}# release {release}\n")).unwrap();
}

pub(super) fn add_migration(stack: &Stack, name: &str, sql: &str) {
    let dir = stack.env.migrations().join(name);
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("migration.sql"), sql).unwrap();
}

/// Watches docker events for container `id` from now on (the engine keeps
/// only a short history, so the watch must start before the deploy); the
/// returned function gives the Unix time (s) of its `stop` event.
fn watch_stop(id: &str) -> impl FnOnce() -> f64 {
    use std::io::BufRead;
    let reader =
        duct::cmd!("docker", "events", "--filter", format!("container={id}"), "--format", "{{.Status}} {{.TimeNano}}")
            .reader()
            .unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in std::io::BufReader::new(&reader).lines().map_while(Result::ok) {
            if let Some(nanos) = line.strip_prefix("stop ") {
                let _ = tx.send(nanos.trim().parse::<f64>().unwrap() / 1e9);
                break;
            }
        }
        let _ = reader.kill();
    });
    move || rx.recv_timeout(Duration::from_secs(10)).expect("a stop event for the old api container")
}

#[test]
fn full_deploy_keeps_the_database_and_applies_migrations() {
    let stack = deployed("full", |_| {});
    new_api_release(&stack, "2");
    add_migration(
        &stack,
        "20260301000000_add_user_role",
        "ALTER TABLE \"User\" ADD COLUMN \"role\" TEXT NOT NULL DEFAULT 'member';\n",
    );
    let db_before = stack.db_identity();
    let api_before = stack.compose.container_ids("api").unwrap();
    let backups_before = backup_files(&stack);
    let api_stopped_at = watch_stop(&api_before[0]);

    run_on(&ctx(), &stack, &DEPLOY, options()).expect("deploy");

    assert_eq!(stack.db_identity(), db_before, "the database container was stopped or recreated");
    assert_eq!(
        stack.psql(r#"SELECT string_agg(email || ':' || role, ',' ORDER BY id) FROM "User""#),
        "a@example.com:member,b@example.com:member"
    );
    assert_ne!(stack.compose.container_ids("api").unwrap(), api_before, "the api container is not new");
    assert_eq!(
        stack.psql("SELECT count(*) FROM _prisma_migrations WHERE finished_at IS NOT NULL AND rolled_back_at IS NULL"),
        "3"
    );
    // The backup was complete on disk before the first app container stopped.
    let new: Vec<_> = backup_files(&stack).into_iter().filter(|b| !backups_before.contains(b)).collect();
    assert_eq!(new.len(), 1, "{new:?}");
    let written = std::fs::metadata(stack.backups().join(&new[0])).unwrap().modified().unwrap();
    let written = written.duration_since(std::time::UNIX_EPOCH).unwrap().as_secs_f64();
    assert!(written < api_stopped_at(), "backup finished after the api stopped");
}

#[test]
fn destructive_dockerfile_is_refused_and_nothing_changes() {
    let stack = Stack::with_demo_copy("dbpush", Flavor::V2, |root| {
        let dockerfile = root.join("demo/api/Dockerfile");
        let text = std::fs::read_to_string(&dockerfile).unwrap();
        // The seed's mistake: the API pushes the schema at every start.
        std::fs::write(
            &dockerfile,
            format!("{text}CMD [\"sh\", \"-c\", \"npx prisma db push --accept-data-loss && node dist/main.js\"]\n"),
        )
        .unwrap();
    });
    stack.up();
    let before = identities(&stack);
    let err = run_on(&ctx(), &stack, &DEPLOY, options()).unwrap_err();
    let msg = format!("{err:#}");
    assert!(msg.contains("accept-data-loss") && msg.contains("Dockerfile:"), "{msg}");
    assert!(msg.contains("nothing was changed"), "{msg}");
    assert_eq!(identities(&stack), before, "a container was stopped or recreated");
    assert!(backup_files(&stack).is_empty(), "a backup was taken");
}

#[test]
fn sqlite_lock_file_is_refused() {
    let stack = Stack::with_demo_copy("sqlite", Flavor::V2, |root| {
        std::fs::write(root.join("migrations/migration_lock.toml"), "# x\n# y\nprovider = \"sqlite\"\n").unwrap();
    });
    stack.up();
    let before = identities(&stack);
    let msg = format!("{:#}", run_on(&ctx(), &stack, &DEPLOY, options()).unwrap_err());
    assert!(msg.contains("sqlite") && msg.contains("migration_lock.toml"), "{msg}");
    assert_eq!(identities(&stack), before);
    assert!(backup_files(&stack).is_empty());
}

#[test]
fn a_second_deploy_is_refused_or_waits() {
    let stack = Stack::new("twice", Flavor::V2);
    stack.up();
    std::fs::create_dir_all(stack.backups()).unwrap();
    let url = stack.compose.database_url().unwrap();
    let held =
        deploylock::acquire(&url, stack.backups(), "test", "cargo xtask deploy-test (other)", Duration::ZERO).unwrap();
    let before = identities(&stack);
    let msg = format!("{:#}", run_on(&ctx(), &stack, &DEPLOY, options()).unwrap_err());
    assert!(msg.contains("another deploy of test is running") && msg.contains("deploy-test (other)"), "{msg}");
    assert_eq!(identities(&stack), before);
    // With --lock-wait the second deploy waits for the first to finish.
    let releaser = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_secs(2));
        held.release();
    });
    let mut waiting = options();
    waiting.lock_wait = Duration::from_secs(60);
    run_on(&ctx(), &stack, &DEPLOY, waiting).expect("deploy after waiting for the lock");
    releaser.join().unwrap();
}

#[test]
fn failing_migration_leaves_data_and_app_running() {
    let stack = deployed("badmig", |_| {});
    add_migration(
        &stack,
        "20260301000000_broken",
        "CREATE TABLE half_done (id int);\nINSERT INTO half_done VALUES (1);\nSELECT 1/0;\n",
    );
    let users = stack.psql(r#"SELECT string_agg(email, ',' ORDER BY id) FROM "User""#);
    let msg = format!("{:#}", run_on(&ctx(), &stack, &DEPLOY, options()).unwrap_err());
    assert!(msg.contains("cargo xtask restore"), "no restore command: {msg}");
    assert_eq!(stack.psql(r#"SELECT string_agg(email, ',' ORDER BY id) FROM "User""#), users);
    assert_eq!(stack.psql("SELECT count(*) FROM pg_tables WHERE tablename = 'half_done'"), "0");
    let apps: Vec<String> = stack.env.app_services().names().to_vec();
    stack.compose.wait_healthy(&apps, Duration::from_secs(5)).expect("app services running");
}

#[test]
fn release_that_never_gets_healthy_is_rolled_back() {
    let stack = deployed("rollback", |_| {});
    let old_image = stack.compose.containers("api").unwrap()[0].image_id.clone();
    // The new release's image never becomes healthy.
    std::fs::write(
        stack.env.root().join("demo/api/entrypoint.sh"),
        "#!/bin/sh\ntrap 'exit 0' TERM\nwhile :; do sleep 1; done\n",
    )
    .unwrap();
    let msg = format!("{:#}", run_on(&ctx(), &stack, &DEPLOY, options()).unwrap_err());
    assert!(msg.contains("previous images were restored"), "{msg}");
    let api = stack.compose.containers("api").unwrap();
    assert_eq!(api[0].image_id, old_image, "api does not run the previous image");
    stack.compose.wait_healthy(&["api".into()], Duration::from_secs(5)).expect("api healthy again");
}
