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

mod common;

use std::time::{Duration, Instant};

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
