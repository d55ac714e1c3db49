//! drydock killed mid-run (SIGKILL, SIGINT) at seeded points spread over the
//! run, then run again; the invariants of issue 10 checked after each.
//! `DRYDOCK_SEED=N` replays a run; the seed is in every failure message.
//!
//! - `backup_interrupted_at_seeded_points`: no final-named backup is
//!   incomplete, the data is unchanged, the rerun succeeds, and the children
//!   a SIGKILL orphaned (`docker exec pg_dump`) end on their own.
//! - `no_partial_survives_a_rerun_after_sigkill`: the `.partial` file a
//!   SIGKILLed backup leaves is removed by the next backup once no process
//!   writes it (crates/backup locks it while a writer holds it; 2efcf4c).
//! - `restore_interrupted_at_seeded_points`, `migrate_interrupted_at_seeded_points`,
//!   `deploy_interrupted_at_seeded_points`: 10 points each, SIGKILL or SIGINT
//!   (5 of each, the order drawn from the seed), each followed at once by a
//!   rerun (a SIGKILL's orphans still running). After each: the data (md5 of
//!   all rows but the ledger's) is exactly before or exactly after; no ledger
//!   row is unfinished and each migration's table exists iff its ledger row
//!   does; the rerun succeeds (the lock was free or taken over); the app
//!   services are healthy after it.

mod common;

use std::time::{Duration, Instant};

use camino::Utf8Path;
use common::{drydock, spawn_drydock, workspace};
use compose::Flavor;
use testbench::Stack;

/// xorshift64*: enough for spreading kill points, reproducible from the seed.
struct Rng(u64);

impl Rng {
    fn from_env() -> (Rng, u64) {
        let seed = std::env::var("DRYDOCK_SEED").ok().and_then(|s| s.parse().ok()).unwrap_or_else(|| {
            std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos() as u64
        });
        (Rng(seed.max(1)), seed)
    }

    /// Uniform in [0, 1).
    fn next(&mut self) -> f64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        (self.0.wrapping_mul(0x2545_f491_4f6c_dd1d) >> 11) as f64 / (1u64 << 53) as f64
    }
}

fn files(stack: &Stack, suffix: &str) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(stack.backups())
        .map(|d| d.flatten().map(|e| e.file_name().to_string_lossy().into_owned()).collect())
        .unwrap_or_default();
    names.retain(|n| n.ends_with(suffix));
    names.sort();
    names
}

/// pg_dump processes still running in the database container (a SIGKILLed
/// drydock leaves its `docker exec` children behind).
fn dumps_running(stack: &Stack) -> usize {
    let out =
        duct::cmd!("docker", "top", stack.db_container(), "-o", "pid,comm").unchecked().read().unwrap_or_default();
    out.lines().filter(|l| l.contains("pg_dump")).count()
}

#[test]
fn backup_interrupted_at_seeded_points() {
    let (mut rng, seed) = Rng::from_env();
    eprintln!("backup interruptions: DRYDOCK_SEED={seed}");
    let stack = Stack::with_demo_copy("intr-backup", Flavor::V2, |_| {});
    let root = workspace(&stack);
    stack.up_database();
    stack.psql(
        "CREATE TABLE load (id int PRIMARY KEY, body text);
         INSERT INTO load SELECT g, repeat(md5(g::text), 4) FROM generate_series(1, 200000) g;",
    );
    let before = stack.data_checksum();

    // One run undisturbed: how long a backup takes here.
    let started = Instant::now();
    let (code, text) = drydock(&root, &["backup", "prod"], None);
    assert_eq!(code, 0, "{text}");
    let full = started.elapsed();

    let mut trials = Vec::new();
    for signal in ["KILL", "INT"] {
        for i in 0..10 {
            // Spread over the run: point i of 10, jittered within its tenth.
            let at = full.mul_f64((i as f64 + rng.next()) / 10.0);
            let mut child = spawn_drydock(&root, &["backup", "prod"]);
            std::thread::sleep(at);
            duct::cmd!("kill", format!("-{signal}"), child.id().to_string()).unchecked().run().unwrap();
            let deadline = Instant::now() + Duration::from_secs(60);
            let status = loop {
                if let Some(status) = child.try_wait().unwrap() {
                    break status;
                }
                assert!(Instant::now() < deadline, "seed {seed}: drydock did not end 60 s after SIG{signal}");
                std::thread::sleep(Duration::from_millis(50));
            };
            // Every final-named backup is complete (verified by drydock itself).
            for name in files(&stack, ".sql") {
                let path = stack.backups().join(&name);
                let (code, text) = drydock(&root, &["backup", "verify", path.as_str()], None);
                assert_eq!(code, 0, "seed {seed}, SIG{signal} at {at:?}: {name} is incomplete:\n{text}");
            }
            trials.push(format!("SIG{signal} at {:.0} ms: exit {:?}", at.as_secs_f64() * 1000.0, status.code()));
        }
    }

    // The children a SIGKILL left behind end on their own...
    let deadline = Instant::now() + Duration::from_secs(120);
    while dumps_running(&stack) > 0 {
        assert!(Instant::now() < deadline, "seed {seed}: orphaned pg_dump still running after 120 s");
        std::thread::sleep(Duration::from_millis(200));
    }
    // ...and a rerun succeeds.
    let (code, text) = drydock(&root, &["backup", "prod"], None);
    assert_eq!(code, 0, "seed {seed}: the rerun failed:\n{text}\ntrials: {trials:#?}");
    for name in files(&stack, ".sql") {
        let path = stack.backups().join(&name);
        let (code, text) = drydock(&root, &["backup", "verify", path.as_str()], None);
        assert_eq!(code, 0, "seed {seed}: {name} is incomplete after the rerun:\n{text}");
    }
    assert_eq!(stack.data_checksum(), before, "seed {seed}: a backup changed the data");
    eprintln!(
        "seed {seed}: {} partial file(s) left by the interrupted runs; trials: {trials:#?}",
        files(&stack, ".partial").len()
    );
}

#[test]
fn no_partial_survives_a_rerun_after_sigkill() {
    let stack = Stack::with_demo_copy("intr-partial", Flavor::V2, |_| {});
    let root = workspace(&stack);
    stack.up_database();
    stack.psql(
        "CREATE TABLE load AS SELECT g AS id, repeat(md5(g::text), 4) AS body FROM generate_series(1, 200000) g;",
    );
    for at in [300, 800, 1500] {
        let mut child = spawn_drydock(&root, &["backup", "prod"]);
        std::thread::sleep(Duration::from_millis(at));
        child.kill().unwrap();
        child.wait().unwrap();
    }
    let deadline = Instant::now() + Duration::from_secs(120);
    while dumps_running(&stack) > 0 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(200));
    }
    let (code, text) = drydock(&root, &["backup", "prod"], None);
    assert_eq!(code, 0, "{text}");
    assert_eq!(files(&stack, ".partial"), Vec::<String>::new(), "partial files survived the rerun");
}

/// 10 signals, 5 SIGKILL and 5 SIGINT, in an order drawn from the seed.
fn signals(rng: &mut Rng) -> Vec<&'static str> {
    let mut all = vec!["KILL"; 5];
    all.extend(["INT"; 5]);
    for i in (1..all.len()).rev() {
        all.swap(i, (rng.next() * (i + 1) as f64) as usize);
    }
    all
}

/// `drydock ARGS` started, sent SIG`signal` after `at`, waited for (60 s at most).
fn interrupt(root: &Utf8Path, args: &[&str], signal: &str, at: Duration, seed: u64) -> Option<i32> {
    let mut child = spawn_drydock(root, args);
    std::thread::sleep(at);
    duct::cmd!("kill", format!("-{signal}"), child.id().to_string()).unchecked().run().unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            return status.code();
        }
        assert!(Instant::now() < deadline, "seed {seed}: drydock {args:?} did not end 60 s after SIG{signal}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// md5 of every table's rows but the migration ledger's (its timestamps and
/// ids differ from run to run; [`assert_ledger_agrees`] checks it).
fn user_data(stack: &Stack) -> String {
    stack.psql(
        "SELECT md5(coalesce(string_agg(t, '|' ORDER BY t), '')) FROM (
           SELECT format('%s:%s', c.relname, (xpath('/row/c/text()', query_to_xml(
             format('SELECT md5(coalesce(string_agg(x::text, '','' ORDER BY x::text), '''')) AS c FROM %I.%I x', n.nspname, c.relname), false, true, '')))[1]::text) AS t
           FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
           WHERE c.relkind = 'r' AND n.nspname NOT IN ('pg_catalog', 'information_schema')
             AND c.relname <> '_prisma_migrations') s",
    )
}

/// No migration half-applied: no ledger row is unfinished (Prisma's P3009),
/// and each `(migration, table)` has its table iff its ledger row is finished.
fn assert_ledger_agrees(stack: &Stack, migrations: &[(String, String)], context: &str) {
    if stack.psql("SELECT to_regclass('public._prisma_migrations') IS NOT NULL") != "t" {
        return;
    }
    let unfinished =
        stack.psql("SELECT count(*) FROM _prisma_migrations WHERE finished_at IS NULL AND rolled_back_at IS NULL");
    assert_eq!(unfinished, "0", "{context}: a ledger row is neither finished nor rolled back");
    for (name, table) in migrations {
        let applied = stack.psql(&format!(
            "SELECT count(*) FROM _prisma_migrations
             WHERE migration_name = '{name}' AND finished_at IS NOT NULL AND rolled_back_at IS NULL"
        ));
        let exists = stack.psql(&format!("SELECT to_regclass('public.{table}') IS NOT NULL"));
        match (applied.as_str(), exists.as_str()) {
            ("0", "f") | ("1", "t") => {}
            _ => panic!("{context}: {name}: the ledger says applied {applied} time(s), its table exists: {exists}"),
        }
    }
}

/// Migration number `n`: creates table `intr_n` with rows, then sleeps, so
/// kill points land inside its transaction. Returns (migration, table).
fn add_migration(root: &Utf8Path, n: usize, sleep: f64) -> (String, String) {
    let name = format!("20270101{n:06}_intr_{n}");
    let table = format!("intr_{n}");
    let dir = root.join("migrations").join(&name);
    std::fs::create_dir_all(&dir).unwrap();
    let sql = format!(
        "CREATE TABLE \"{table}\" (id int PRIMARY KEY, body text);\n\
         INSERT INTO \"{table}\" SELECT g, md5(g::text) FROM generate_series(1, 2000) g;\n\
         SELECT pg_sleep({sleep});\n"
    );
    std::fs::write(dir.join("migration.sql"), sql).unwrap();
    (name, table)
}

fn app_services() -> Vec<String> {
    ["api", "web", "redis"].map(String::from).to_vec()
}

/// The backups (final names) not in `before`.
fn new_backups(stack: &Stack, before: &[String]) -> Vec<String> {
    files(stack, ".sql")
        .into_iter()
        .filter(|n| !before.contains(n))
        .map(|n| stack.backups().join(n).to_string())
        .collect()
}

#[test]
fn restore_interrupted_at_seeded_points() {
    let (mut rng, seed) = Rng::from_env();
    eprintln!("restore interruptions: DRYDOCK_SEED={seed}");
    let stack = Stack::with_demo_copy("intr-restore", Flavor::V2, |_| {});
    let root = workspace(&stack);
    stack.up();
    stack.psql(
        "CREATE TABLE load (id int PRIMARY KEY, body text);
         INSERT INTO load SELECT g, repeat(md5(g::text), 4) FROM generate_series(1, 20000) g;",
    );
    // Two backups, A and B, of different data; the trials restore them in turn.
    let mut states: Vec<(String, String)> = Vec::new();
    for edit in ["", "UPDATE load SET body = md5(body) WHERE id % 3 = 0;"] {
        if !edit.is_empty() {
            stack.psql(edit);
        }
        let before = files(&stack, ".sql");
        let (code, text) = drydock(&root, &["backup", "prod"], None);
        assert_eq!(code, 0, "{text}");
        let made = new_backups(&stack, &before);
        assert_eq!(made.len(), 1, "{text}");
        states.push((made[0].clone(), stack.data_checksum()));
    }
    // One run undisturbed (B to A): how long a restore takes here.
    let started = Instant::now();
    let (code, text) = drydock(&root, &["restore", &states[0].0, "--env", "prod", "--yes"], None);
    assert_eq!(code, 0, "{text}");
    let full = started.elapsed();
    assert_eq!(stack.data_checksum(), states[0].1);
    let mut current = 0;

    let mut trials = Vec::new();
    for (i, signal) in signals(&mut rng).into_iter().enumerate() {
        let target = 1 - current;
        let at = full.mul_f64((i as f64 + rng.next()) / 10.0);
        let args = ["restore", states[target].0.as_str(), "--env", "prod", "--yes"];
        let code = interrupt(&root, &args, signal, at, seed);
        let context = format!("seed {seed}, SIG{signal} at {at:?}");
        let now = stack.data_checksum();
        assert!(
            now == states[current].1 || now == states[target].1,
            "{context}: the database holds neither the data before nor the backup's"
        );
        let kept = if now == states[target].1 { "after" } else { "before" };
        // The rerun at once (a SIGKILL's orphans may still run), waiting for
        // a lock a dying session may still hold.
        let rerun_args = ["restore", states[target].0.as_str(), "--env", "prod", "--yes", "--lock-wait", "60"];
        let (rerun, text) = drydock(&root, &rerun_args, None);
        assert_eq!(rerun, 0, "{context}: the rerun failed:\n{text}");
        assert_eq!(stack.data_checksum(), states[target].1, "{context}: the rerun did not restore");
        let healthy = stack.compose.wait_healthy(&app_services(), Duration::from_secs(60));
        assert!(healthy.is_ok(), "{context}: {healthy:?}");
        let stale = if text.contains("replaced the lock file") { ", stale lock taken over" } else { "" };
        trials.push(format!("SIG{signal} at {:.0} ms: exit {code:?}, data {kept}{stale}", at.as_secs_f64() * 1000.0));
        current = target;
    }
    eprintln!("seed {seed}: restore of {:.1} s; trials: {trials:#?}", full.as_secs_f64());
}

#[test]
fn migrate_interrupted_at_seeded_points() {
    let (mut rng, seed) = Rng::from_env();
    eprintln!("migrate interruptions: DRYDOCK_SEED={seed}");
    let stack = Stack::with_demo_copy("intr-migrate", Flavor::V2, |_| {});
    let root = workspace(&stack);
    stack.up_database();
    let (code, text) = drydock(&root, &["migrate", "prod"], None);
    assert_eq!(code, 0, "{text}");
    stack.psql(
        "CREATE TABLE load (id int PRIMARY KEY, body text);
         INSERT INTO load SELECT g, md5(g::text) FROM generate_series(1, 20000) g;",
    );
    // One migration undisturbed: how long a migrate (backup, then apply) takes here.
    let mut migrations = vec![add_migration(&root, 0, 1.0)];
    let started = Instant::now();
    let (code, text) = drydock(&root, &["migrate", "prod"], None);
    assert_eq!(code, 0, "{text}");
    let full = started.elapsed();

    let mut trials = Vec::new();
    for (i, signal) in signals(&mut rng).into_iter().enumerate() {
        migrations.push(add_migration(&root, i + 1, 1.0));
        let before = user_data(&stack);
        let at = full.mul_f64((i as f64 + rng.next()) / 10.0);
        let code = interrupt(&root, &["migrate", "prod"], signal, at, seed);
        let context = format!("seed {seed}, SIG{signal} at {at:?}");
        let killed = user_data(&stack);
        assert_ledger_agrees(&stack, &migrations, &context);
        let (rerun, text) = drydock(&root, &["migrate", "prod"], None);
        assert_eq!(rerun, 0, "{context}: the rerun failed:\n{text}");
        assert_ledger_agrees(&stack, &migrations, &context);
        let after = user_data(&stack);
        assert_ne!(before, after, "{context}: nothing was applied");
        assert!(killed == before || killed == after, "{context}: the data is neither before nor after");
        let kept = if killed == after { "after" } else { "before" };
        trials.push(format!("SIG{signal} at {:.0} ms: exit {code:?}, data {kept}", at.as_secs_f64() * 1000.0));
    }
    eprintln!("seed {seed}: migrate of {:.1} s; trials: {trials:#?}", full.as_secs_f64());
}

#[test]
fn deploy_interrupted_at_seeded_points() {
    let (mut rng, seed) = Rng::from_env();
    eprintln!("deploy interruptions: DRYDOCK_SEED={seed}");
    let stack = Stack::with_demo_copy("intr-deploy", Flavor::V2, |_| {});
    let root = workspace(&stack);
    stack.up();
    let (code, text) = drydock(&root, &["deploy-prod"], None);
    assert_eq!(code, 0, "{text}");
    // One deploy undisturbed (a migration pending, every app service restarted).
    let mut migrations = vec![add_migration(&root, 0, 0.5)];
    let started = Instant::now();
    let (code, text) = drydock(&root, &["deploy-prod", "--restart-all"], None);
    assert_eq!(code, 0, "{text}");
    let full = started.elapsed();

    let mut trials = Vec::new();
    for (i, signal) in signals(&mut rng).into_iter().enumerate() {
        migrations.push(add_migration(&root, i + 1, 0.5));
        let before = user_data(&stack);
        let at = full.mul_f64((i as f64 + rng.next()) / 10.0);
        let code = interrupt(&root, &["deploy-prod", "--restart-all"], signal, at, seed);
        let context = format!("seed {seed}, SIG{signal} at {at:?}");
        let killed = user_data(&stack);
        assert_ledger_agrees(&stack, &migrations, &context);
        // The rerun restarts what is stopped or changed (a stopped service is never "unchanged").
        let (rerun, text) = drydock(&root, &["deploy-prod", "--lock-wait", "60"], None);
        assert_eq!(rerun, 0, "{context}: the rerun failed:\n{text}");
        assert_ledger_agrees(&stack, &migrations, &context);
        let after = user_data(&stack);
        assert!(killed == before || killed == after, "{context}: the data is neither before nor after");
        let healthy = stack.compose.wait_healthy(&app_services(), Duration::from_secs(60));
        assert!(healthy.is_ok(), "{context}: {healthy:?}");
        let kept = if killed == after { "after" } else { "before" };
        let stale = if text.contains("replaced the lock file") { ", stale lock taken over" } else { "" };
        trials.push(format!("SIG{signal} at {:.0} ms: exit {code:?}, data {kept}{stale}", at.as_secs_f64() * 1000.0));
    }
    eprintln!("seed {seed}: deploy of {:.1} s; trials: {trials:#?}", full.as_secs_f64());
}
