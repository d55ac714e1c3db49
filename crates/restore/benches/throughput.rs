//! Benchmark (not a timed test) of drydock's backup and restore against the
//! raw commands they wrap, in one run, on a generated database of about
//! `DRYDOCK_BENCH_MB` MiB (default 1024):
//!
//! - backup: `docker compose exec -T postgres pg_dump ... > file` vs `backup::dump`;
//! - restore: `docker compose exec -T postgres psql --single-transaction -f - < file`
//!   vs `restore::replay`.
//!
//! drydock's side runs in a child process (this binary again) so that its
//! peak RSS (`VmHWM`) is its own. Targets: throughput ≥ 0.95× raw, peak RSS
//! < 50 MiB. Run: `cargo bench -p restore --bench throughput` with the test
//! bench's image variables set (as `cargo xtask test` exports them).

use std::sync::atomic::AtomicBool;
use std::time::{Duration, Instant};

use backup::PgClient;
use camino::{Utf8Path, Utf8PathBuf};
use compose::{Compose, Flavor};
use testbench::Stack;

const CHILD: &str = "DRYDOCK_BENCH_CHILD";
const PROJECT: &str = "DRYDOCK_BENCH_PROJECT";
const FILE: &str = "DRYDOCK_BENCH_FILE";

fn main() {
    match std::env::var(CHILD).ok().as_deref() {
        Some("backup") => child_backup(),
        Some("restore") => child_restore(),
        _ => parent(),
    }
}

fn parent() {
    testbench::require_bench();
    let mb: u64 = std::env::var("DRYDOCK_BENCH_MB").ok().and_then(|v| v.parse().ok()).unwrap_or(1024);
    let stack = Stack::new("bench", Flavor::V2);
    stack.up_database();
    let rows = mb * 1024 * 1024 / 200;
    eprintln!("generating about {mb} MiB ({rows} rows) ...");
    let t = Instant::now();
    stack.psql(&format!(
        "CREATE TABLE bench AS SELECT g AS id, md5(g::text) AS a, repeat(md5(g::text), 4) AS pad, now() AS at
         FROM generate_series(1, {rows}) g; ALTER TABLE bench ADD PRIMARY KEY (id);"
    ));
    eprintln!("generated in {:.1} s", t.elapsed().as_secs_f64());
    let dir = stack.backups().to_owned();
    std::fs::create_dir_all(&dir).unwrap();

    // Backup: raw and drydock alternately, best of two each.
    let raw_file = dir.join("raw.sql");
    let mut raw_backup = Vec::new();
    let mut raw_synced = Vec::new();
    let mut dd_backup = Vec::new();
    let mut drydock_file = Utf8PathBuf::new();
    for _ in 0..2 {
        let t = Instant::now();
        stack
            .raw_compose(
                &[&["exec", "-T", "postgres", "pg_dump", "-U", "demo", "-d", "demo"][..], &backup::DUMP_OPTIONS]
                    .concat(),
            )
            .stdout_path(&raw_file)
            .run()
            .unwrap();
        raw_backup.push((size(&raw_file), t.elapsed()));
        // drydock fsyncs its file before it calls it a backup; the raw
        // command leaves it in the page cache. Both figures are reported.
        std::fs::File::open(&raw_file).unwrap().sync_all().unwrap();
        raw_synced.push((size(&raw_file), t.elapsed()));
        let (bytes, secs, hwm, path) = child(&stack, "backup", None);
        dd_backup.push((bytes, secs));
        drydock_file = path;
        last_hwm_backup(hwm);
    }
    let _ = std::fs::remove_file(&raw_file);

    // Restore: raw psql replay and drydock alternately, best of two each.
    let mut raw_restore = Vec::new();
    let mut dd_restore = Vec::new();
    for _ in 0..2 {
        let t = Instant::now();
        stack
            .raw_compose(&[
                "exec",
                "-T",
                "postgres",
                "psql",
                "-X",
                "-q",
                "--set=ON_ERROR_STOP=1",
                "--single-transaction",
                "-U",
                "demo",
                "-d",
                "demo",
                "-f",
                "-",
            ])
            .stdin_path(&drydock_file)
            .stdout_null()
            .run()
            .unwrap();
        raw_restore.push((size(&drydock_file), t.elapsed()));
        let (bytes, secs, hwm, _) = child(&stack, "restore", Some(&drydock_file));
        dd_restore.push((bytes, secs));
        last_hwm_restore(hwm);
    }

    report("backup ", &raw_backup, &dd_backup, HWM_BACKUP.with(|h| h.get()));
    report("backup vs raw + fsync", &raw_synced, &dd_backup, HWM_BACKUP.with(|h| h.get()));
    report("restore", &raw_restore, &dd_restore, HWM_RESTORE.with(|h| h.get()));
}

thread_local! {
    static HWM_BACKUP: std::cell::Cell<u64> = const { std::cell::Cell::new(0) };
    static HWM_RESTORE: std::cell::Cell<u64> = const { std::cell::Cell::new(0) };
}

fn last_hwm_backup(kib: u64) {
    HWM_BACKUP.with(|h| h.set(h.get().max(kib)));
}

fn last_hwm_restore(kib: u64) {
    HWM_RESTORE.with(|h| h.set(h.get().max(kib)));
}

fn report(what: &str, raw: &[(u64, Duration)], drydock: &[(u64, Duration)], hwm_kib: u64) {
    let best = |runs: &[(u64, Duration)]| runs.iter().map(|(b, d)| *b as f64 / d.as_secs_f64()).fold(0.0, f64::max);
    let (raw_tp, dd_tp) = (best(raw), best(drydock));
    let mib = |bps: f64| bps / (1024.0 * 1024.0);
    let ratio = dd_tp / raw_tp;
    let size = drydock.last().map_or(0, |r| r.0);
    println!(
        "{what}: {:.0} MiB; raw {:.1} MiB/s, drydock {:.1} MiB/s, ratio {ratio:.3} (target >= 0.95: {}); drydock peak RSS {:.1} MiB (target < 50: {})",
        size as f64 / 1048576.0,
        mib(raw_tp),
        mib(dd_tp),
        if ratio >= 0.95 { "met" } else { "MISSED" },
        hwm_kib as f64 / 1024.0,
        if hwm_kib < 50 * 1024 { "met" } else { "MISSED" },
    );
}

fn size(path: &Utf8Path) -> u64 {
    std::fs::metadata(path).unwrap().len()
}

/// Runs this binary as a drydock-only child; returns (bytes, time, VmHWM KiB, backup path).
fn child(stack: &Stack, what: &str, file: Option<&Utf8Path>) -> (u64, Duration, u64, Utf8PathBuf) {
    let exe = std::env::current_exe().unwrap();
    let mut cmd = duct::cmd(exe, ["--child"])
        .env(CHILD, what)
        .env(PROJECT, &stack.project)
        .env("DRYDOCK_BENCH_DIR", stack.backups().as_str());
    if let Some(file) = file {
        cmd = cmd.env(FILE, file.as_str());
    }
    let out = cmd.read().expect("bench child");
    let fields: Vec<&str> = out.trim().split('\t').collect();
    (
        fields[0].parse().unwrap(),
        Duration::from_secs_f64(fields[1].parse().unwrap()),
        fields[2].parse().unwrap(),
        fields[3].into(),
    )
}

/// The compose of the parent's stack, rebuilt from its project name.
fn child_compose() -> Compose {
    let project = std::env::var(PROJECT).unwrap();
    let root = Utf8Path::new(env!("CARGO_MANIFEST_DIR")).join("../..").canonicalize_utf8().unwrap();
    let text = format!(
        "[workspace.metadata.deploy.environments.test]\ncompose-files = [\"demo/docker-compose.prod.yml\"]\nproject-name = \"{project}\"\ndatabase-service = \"postgres\"\napp-services = [\"api\", \"web\", \"redis\"]\n"
    );
    let env = config::Config::parse(&root, &text).unwrap().environment("test").unwrap();
    Compose::with_flavor(&env, Flavor::V2)
}

fn vm_hwm_kib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let line = status.lines().find(|l| l.starts_with("VmHWM:")).unwrap();
    line.split_whitespace().nth(1).unwrap().parse().unwrap()
}

fn child_backup() {
    let client = PgClient::container(&child_compose()).unwrap();
    let dir = Utf8PathBuf::from(std::env::var("DRYDOCK_BENCH_DIR").unwrap());
    // Only this child's own backup is kept: the previous one is removed first.
    for old in backup::list(&dir, Some("bench")).unwrap() {
        let _ = std::fs::remove_file(format!("{}.sha256", old.path));
        let _ = std::fs::remove_file(&old.path);
    }
    let backup = backup::dump(&client, &dir, "bench", &AtomicBool::new(false), &mut |_| {}).unwrap();
    println!("{}\t{}\t{}\t{}", backup.size, backup.duration.as_secs_f64(), vm_hwm_kib(), backup.path);
}

fn child_restore() {
    let client = PgClient::container(&child_compose()).unwrap();
    let file = Utf8PathBuf::from(std::env::var(FILE).unwrap());
    let verified = backup::verify(&file).unwrap();
    let start = Instant::now();
    let replayed = restore::replay(&client, &verified, &AtomicBool::new(false), &mut |_| {}).unwrap();
    let secs = start.elapsed().as_secs_f64();
    println!("{}\t{secs}\t{}\t{file}", replayed.bytes, vm_hwm_kib());
}
