//! `cargo xtask bench`: drydock measured where users run it (this very binary,
//! the dev profile `cargo xtask` builds), side by side with the raw tool it
//! wraps, in one run, alternating A/B, several rounds; one table of medians.
//!
//! Each benchmark runs drydock as a child process (this binary again, pointed
//! at a throwaway workspace whose one environment, `bench`, is a demo stack
//! under a unique compose project), so its time is the whole process and its
//! peak RSS (`VmHWM`, polled from `/proc`) is its own, not compose's. The raw
//! side runs the command drydock wraps, on the same network path. Everything
//! the bench created is removed when it ends (testbench's `Stack` drop).
//! No figure here is asserted: targets are printed beside the figures.

use std::time::{Duration, Instant};

use camino::{Utf8Path, Utf8PathBuf};
use eyre::{bail, eyre, Result, WrapErr};
use testbench::Stack;

use crate::Ctx;

/// Every benchmark, in the order they run.
const ALL: [&str; 6] = ["backup", "restore", "migrate", "noop-deploy", "startup", "cold-build"];

#[derive(clap::Args)]
pub(crate) struct Args {
    /// Benchmarks to run: backup, restore, migrate, noop-deploy, startup, cold-build
    /// (default: all but cold-build, which clones and builds the workspace afresh).
    names: Vec<String>,
    /// Size of the generated database for backup and restore (e.g. 200MB, 1GB).
    #[arg(long, value_name = "SIZE", default_value = "100MB", value_parser = parse_size)]
    db_size: u64,
    /// Rounds of each A/B pair (the median is reported, with min–max).
    #[arg(long, default_value_t = 3)]
    rounds: usize,
    /// Generated migrations for the migrate benchmark.
    #[arg(long, default_value_t = 1000)]
    migrations: usize,
    /// Also measure backup and restore at three sizes (--db-size × 1, 5, 10)
    /// and migrate at 100, 1,000 and 5,000 migrations, and write an SVG plot.
    #[arg(long)]
    scaling: bool,
    /// Where the scaling plot is written.
    #[arg(long, default_value = "target/bench/scaling.svg")]
    plot: Utf8PathBuf,
}

fn parse_size(text: &str) -> Result<u64, String> {
    let t = text.trim().to_ascii_uppercase();
    let (num, unit) = t.split_at(t.find(|c: char| c.is_ascii_alphabetic()).unwrap_or(t.len()));
    let n: f64 = num.trim().parse().map_err(|_| format!("`{text}` is not a size like 200MB or 1GB"))?;
    let mult = match unit.trim_end_matches("IB").trim_end_matches('B') {
        "" => 1.0,
        "K" => 1024.0,
        "M" => 1024.0 * 1024.0,
        "G" => 1024.0 * 1024.0 * 1024.0,
        _ => return Err(format!("`{text}`: unknown unit (use KB, MB or GB)")),
    };
    Ok((n * mult) as u64)
}

/// `1.23 s` or `2 min 05 s`, as ui::human_duration writes them.
fn parse_duration(text: &str) -> Option<f64> {
    match text.split_once(" min ") {
        Some((min, sec)) => {
            Some(min.trim().parse::<f64>().ok()? * 60.0 + sec.trim_end_matches(" s").trim().parse::<f64>().ok()?)
        }
        None => text.trim_end_matches(" s").trim().parse().ok(),
    }
}

/// One measured process: wall time and peak RSS (bytes; 0 when not measured).
#[derive(Clone, Copy)]
struct Sample {
    secs: f64,
    rss: u64,
}

/// One line of the table.
struct Row {
    name: String,
    drydock: Vec<Sample>,
    baseline: Vec<Sample>,
    baseline_name: &'static str,
    target: String,
}

/// A point of the scaling plot: (panel of [`PANELS`], series, x, seconds).
type Point = (usize, &'static str, f64, f64);

pub(crate) fn run(ctx: &Ctx, args: Args) -> Result<()> {
    let names: Vec<String> = if args.names.is_empty() {
        ALL.iter().filter(|n| **n != "cold-build").map(|n| n.to_string()).collect()
    } else {
        args.names.clone()
    };
    if let Some(bad) = names.iter().find(|n| !ALL.contains(&n.as_str())) {
        return Err(crate::exit::refused(eyre!("unknown benchmark `{bad}`: choose among {}", ALL.join(", "))));
    }
    if args.rounds == 0 {
        return Err(crate::exit::refused(eyre!("--rounds must be at least 1")));
    }
    for (name, value) in crate::test::provision(ctx)? {
        // Single-threaded here: nothing else reads the environment yet.
        std::env::set_var(name, value);
    }
    let exe = Utf8PathBuf::from_path_buf(std::env::current_exe()?).map_err(|p| eyre!("non-UTF-8 path {p:?}"))?;
    let mut rows = Vec::new();
    let mut points: Vec<Point> = Vec::new();
    let want = |n: &str| names.iter().any(|x| x == n);

    // Every figure gathered is printed, also when a later benchmark fails.
    let result = (|| -> Result<()> {
        if want("backup") || want("restore") {
            let sizes =
                if args.scaling { vec![args.db_size, args.db_size * 5, args.db_size * 10] } else { vec![args.db_size] };
            for size in sizes {
                let bench = Bench::new(ctx, &exe, "dump", None, want("restore"))?;
                bench.generate(ctx, size)?;
                let mib = size as f64 / (1024.0 * 1024.0);
                if want("backup") {
                    let row = bench_backup(ctx, &bench, args.rounds, mib)?;
                    points.push((0, "backup (drydock)", mib, median(&row.drydock).secs));
                    points.push((0, "pg_dump > file + fsync", mib, median(&row.baseline).secs));
                    rows.push(row);
                }
                if want("restore") {
                    let (replay, whole) = bench_restore(ctx, &bench, args.rounds, mib)?;
                    points.push((0, "restore (drydock), whole", mib, median(&whole.drydock).secs));
                    points.push((0, "raw parts of a restore", mib, median(&whole.baseline).secs));
                    rows.push(replay);
                    rows.push(whole);
                }
            }
        }
        if want("migrate") {
            let counts = if args.scaling { vec![100, 1000, 5000] } else { vec![args.migrations] };
            for n in counts {
                let dir = generated_history(n)?;
                let measured = bench_migrate(ctx, &exe, &format!("migrate {n} generated"), &dir, args.rounds)?;
                let row = &measured[0];
                points.push((1, "drydock migrate", n as f64, median(&row.drydock).secs * 1000.0 / n as f64));
                points.push((1, "psql, one session", n as f64, median(&row.baseline).secs * 1000.0 / n as f64));
                rows.extend(measured);
                let _ = std::fs::remove_dir_all(dir.parent().unwrap_or(&dir));
            }
            let corpus = ctx.root.join("../shared/corpus/documenso/migrations");
            if corpus.join("migration_lock.toml").is_file() {
                rows.extend(bench_migrate(ctx, &exe, "migrate documenso (163)", &corpus, args.rounds)?);
            }
        }
        if want("noop-deploy") {
            rows.push(bench_noop_deploy(ctx, &exe, args.rounds)?);
        }
        if want("startup") {
            rows.push(bench_startup(ctx, &exe, args.rounds)?);
        }
        if want("cold-build") {
            rows.push(bench_cold_build(ctx, args.rounds)?);
        }
        Ok(())
    })();

    print_table(ctx, &rows);
    if args.scaling && !points.is_empty() {
        let path = if args.plot.is_absolute() { args.plot.clone() } else { ctx.root.join(&args.plot) };
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).wrap_err_with(|| format!("cannot create {dir}"))?;
        }
        std::fs::write(&path, svg(&points)).wrap_err_with(|| format!("cannot write {path}"))?;
        ctx.ui.line(format!("plot: {path}"));
    }
    result
}

/// A throwaway workspace with one environment, `bench`: the demo stack under a
/// unique compose project, with its own backups and migrations folders.
struct Bench {
    stack: Stack,
    /// The workspace the bench runs from (its `target/bench` keeps the logs).
    root: Utf8PathBuf,
    dir: Utf8PathBuf,
    exe: Utf8PathBuf,
}

impl Bench {
    fn new(ctx: &Ctx, exe: &Utf8Path, tag: &str, migrations: Option<&Utf8Path>, whole_stack: bool) -> Result<Bench> {
        let stack = Stack::new(&format!("bench-{tag}"), compose::Flavor::V2);
        let dir = Utf8PathBuf::from_path_buf(std::env::temp_dir())
            .map_err(|p| eyre!("non-UTF-8 temp dir {p:?}"))?
            .join(format!("drydock-{}", stack.project));
        std::fs::create_dir_all(dir.join("xtask"))?;
        std::fs::create_dir_all(dir.join("backups"))?;
        let migrations = match migrations {
            Some(m) => m.to_owned(),
            None => {
                let m = dir.join("migrations");
                std::fs::create_dir_all(&m)?;
                std::fs::write(m.join(migrate::LOCK_FILE), "provider = \"postgresql\"\n")?;
                m
            }
        };
        let manifest = format!(
            r#"[workspace]
members = []

[workspace.metadata.deploy]
migrations = "{migrations}"
backups = "backups"

[workspace.metadata.deploy.environments.bench]
compose-files = ["{compose}"]
project-name = "{project}"
database-service = "postgres"
app-services = ["api", "web", "redis"]
health-timeout = 120
"#,
            compose = ctx.root.join("demo/docker-compose.prod.yml"),
            project = stack.project,
        );
        std::fs::write(dir.join("Cargo.toml"), manifest)?;
        std::fs::write(dir.join("xtask/Cargo.toml"), "[package]\nname = \"xtask\"\nversion = \"0.0.0\"\n")?;
        if whole_stack {
            stack.up();
        } else {
            stack.up_database();
        }
        Ok(Bench { stack, root: ctx.root.clone(), dir, exe: exe.to_owned() })
    }

    /// drydock itself, as `cargo xtask ARGS` would run it in this workspace.
    fn drydock(&self, args: &[&str]) -> std::process::Command {
        let mut cmd = std::process::Command::new(&self.exe);
        cmd.args(args)
            .current_dir(&self.dir)
            .env("CARGO_MANIFEST_DIR", self.dir.join("xtask"))
            .env("NO_COLOR", "1")
            .env_remove("DATABASE_URL")
            .stdin(std::process::Stdio::null())
            .stderr(std::process::Stdio::piped());
        // Each run's own report (steps and durations) appended, for reading the figures.
        let log = self.root.join(format!("target/bench/drydock-{}.log", args.first().unwrap_or(&"run")));
        let out = log
            .parent()
            .and_then(|d| std::fs::create_dir_all(d).ok())
            .and_then(|_| std::fs::OpenOptions::new().create(true).append(true).open(&log).ok());
        cmd.stdout(out.map_or_else(std::process::Stdio::null, std::process::Stdio::from));
        cmd
    }

    /// A compose command of this stack, as the raw baseline runs it.
    fn compose(&self, args: &[&str]) -> std::process::Command {
        let mut cmd = std::process::Command::new("docker");
        cmd.arg("compose");
        for f in self.stack.env.compose_files() {
            cmd.arg("-f").arg(f.as_str());
        }
        cmd.arg("-p").arg(&self.stack.project).args(args).current_dir(self.stack.env.root().as_std_path());
        cmd.stdin(std::process::Stdio::null()).stderr(std::process::Stdio::piped());
        cmd
    }

    /// `docker exec [-i] <database container> ARGS`, the container looked up
    /// before the clock starts.
    fn exec_db(&self, stdin: bool, args: &[&str]) -> std::process::Command {
        let mut cmd = std::process::Command::new("docker");
        cmd.arg("exec");
        if stdin {
            cmd.arg("-i");
        }
        cmd.arg(self.stack.db_container()).args(args);
        cmd.stdin(std::process::Stdio::null()).stderr(std::process::Stdio::piped());
        cmd
    }

    /// Fills the database with about `bytes` of table data.
    fn generate(&self, ctx: &Ctx, bytes: u64) -> Result<()> {
        let rows = (bytes / 200).max(1);
        ctx.ui.line(format!("generating about {} ({rows} rows) ...", crate::ui::human_bytes(bytes)));
        self.stack.psql(&format!(
            "DROP TABLE IF EXISTS bench; CREATE TABLE bench AS SELECT g AS id, md5(g::text) AS a, \
             repeat(md5(g::text), 4) AS pad, now() AS at FROM generate_series(1, {rows}) g; \
             ALTER TABLE bench ADD PRIMARY KEY (id);"
        ));
        Ok(())
    }

    fn newest_backup(&self) -> Result<Utf8PathBuf> {
        let mut files: Vec<Utf8PathBuf> = std::fs::read_dir(self.dir.join("backups"))?
            .flatten()
            .filter_map(|e| Utf8PathBuf::from_path_buf(e.path()).ok())
            .filter(|p| p.extension() == Some("sql"))
            .collect();
        files.sort();
        files.pop().ok_or_else(|| eyre!("drydock wrote no backup in {}", self.dir.join("backups")))
    }

    /// The replay time in the newest restore report (`… replayed in 1.23 s`).
    fn last_replay_secs(&self) -> Option<f64> {
        let log = std::fs::read_to_string(self.root.join("target/bench/drydock-restore.log")).ok()?;
        let text = log.lines().rev().find_map(|l| l.split_once(" replayed in ").map(|(_, t)| t.trim()))?;
        parse_duration(text)
    }

    fn remove_backups(&self) {
        let _ = std::fs::remove_dir_all(self.dir.join("backups"));
        let _ = std::fs::create_dir_all(self.dir.join("backups"));
    }
}

impl Drop for Bench {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// Runs `cmd` to completion: wall time, and its own peak RSS polled from `/proc`.
fn measure(mut cmd: std::process::Command, what: &str) -> Result<Sample> {
    let start = Instant::now();
    let mut child = cmd.spawn().wrap_err_with(|| format!("cannot start {what}"))?;
    let status_file = format!("/proc/{}/status", child.id());
    let mut rss = 0u64;
    let stderr = child.stderr.take();
    let reader = std::thread::spawn(move || {
        let mut text = String::new();
        if let Some(mut e) = stderr {
            let _ = std::io::Read::read_to_string(&mut e, &mut text);
        }
        text
    });
    let status = loop {
        if let Ok(text) = std::fs::read_to_string(&status_file) {
            if let Some(kb) = text.lines().find_map(|l| l.strip_prefix("VmHWM:")) {
                let kb: u64 = kb.trim().trim_end_matches("kB").trim().parse().unwrap_or(0);
                rss = rss.max(kb * 1024);
            }
        }
        if let Some(status) = child.try_wait()? {
            break status;
        }
        std::thread::sleep(Duration::from_millis(10));
    };
    let secs = start.elapsed().as_secs_f64();
    let stderr = reader.join().unwrap_or_default();
    if !status.success() {
        bail!("{what} failed ({status}): {}", stderr.lines().rev().take(8).collect::<Vec<_>>().join(" | "));
    }
    Ok(Sample { secs, rss })
}

/// Raw `docker exec CONTAINER pg_dump > file` (how drydock runs pg_dump, without
/// compose's start-up), timed with and without the fsync drydock does.
fn raw_dump(bench: &Bench, file: &Utf8Path) -> Result<(Sample, Sample)> {
    let mut cmd = bench.exec_db(false, &[&["pg_dump", "-U", "demo", "-d", "demo"][..], &backup::DUMP_OPTIONS].concat());
    cmd.stdout(std::fs::File::create(file)?);
    let start = Instant::now();
    let plain = measure(cmd, "raw pg_dump")?;
    std::fs::File::open(file)?.sync_all()?;
    let synced = Sample { secs: start.elapsed().as_secs_f64(), rss: plain.rss };
    Ok((plain, synced))
}

fn bench_backup(ctx: &Ctx, bench: &Bench, rounds: usize, mib: f64) -> Result<Row> {
    let raw_file = bench.dir.join("raw.sql");
    let (mut dd, mut raw, mut raw_plain) = (Vec::new(), Vec::new(), Vec::new());
    for round in 1..=rounds {
        ctx.ui.line(format!("backup {mib:.0} MiB, round {round}/{rounds}"));
        let (plain, synced) = raw_dump(bench, &raw_file)?;
        raw_plain.push(plain);
        raw.push(synced);
        bench.remove_backups();
        dd.push(measure(bench.drydock(&["backup", "bench"]), "cargo xtask backup bench")?);
    }
    let _ = std::fs::remove_file(&raw_file);
    ctx.ui.line(format!(
        "  raw pg_dump without fsync: median {:.2} s (drydock fsyncs its file before calling it a backup)",
        median(&raw_plain).secs
    ));
    Ok(Row {
        name: format!("backup {mib:.0} MiB"),
        drydock: dd,
        baseline: raw,
        baseline_name: "docker exec pg_dump > file + fsync",
        target: "≤ 1.05×, RSS < 50 MiB".into(),
    })
}

/// The restore's replay against raw psql, and the whole restore against the
/// sum of the raw parts it is made of (pg_dump for the safety backup + psql).
fn bench_restore(ctx: &Ctx, bench: &Bench, rounds: usize, mib: f64) -> Result<(Row, Row)> {
    bench.remove_backups();
    measure(bench.drydock(&["backup", "bench"]), "cargo xtask backup bench")?;
    let file = bench.newest_backup()?;
    let kept = bench.dir.join("restore-input.sql");
    std::fs::rename(&file, &kept)?;
    std::fs::rename(format!("{file}.sha256"), format!("{kept}.sha256")).ok();
    // The sidecar names the file: keep the backup's own name in a folder of its own.
    let input_dir = bench.dir.join("input");
    std::fs::create_dir_all(&input_dir)?;
    let input = input_dir.join(file.file_name().unwrap_or("backup.sql"));
    std::fs::rename(&kept, &input)?;
    std::fs::rename(format!("{kept}.sha256"), format!("{input}.sha256")).ok();
    let raw_dump_file = bench.dir.join("raw.sql");
    let (mut dd, mut raw, mut parts, mut replays) = (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    let (mut dumps, mut stops, mut starts) = (Vec::new(), Vec::new(), Vec::new());
    for round in 1..=rounds {
        ctx.ui.line(format!("restore {mib:.0} MiB, round {round}/{rounds}"));
        let mut psql = bench.exec_db(
            true,
            &[
                "psql",
                "-X",
                "-q",
                "-v",
                "ON_ERROR_STOP=1",
                "--single-transaction",
                "-U",
                "demo",
                "-d",
                "demo",
                "-f",
                "-",
            ],
        );
        psql.stdin(std::fs::File::open(&input)?).stdout(std::process::Stdio::null());
        let raw_replay = measure(psql, "raw psql --single-transaction")?;
        raw.push(raw_replay);
        let (_, dump) = raw_dump(bench, &raw_dump_file)?;
        let mut stop = bench.compose(&["stop", "api", "web", "redis"]);
        stop.stdout(std::process::Stdio::null());
        let stop = measure(stop, "raw compose stop")?;
        let mut start = bench.compose(&["up", "-d", "--no-deps", "--no-build", "--wait", "api", "web", "redis"]);
        start.stdout(std::process::Stdio::null());
        let start = measure(start, "raw compose up --wait")?;
        parts.push(Sample { secs: raw_replay.secs + dump.secs + stop.secs + start.secs, rss: 0 });
        (dumps.push(dump), stops.push(stop), starts.push(start));
        bench.remove_backups();
        dd.push(measure(
            bench.drydock(&["restore", input.as_str(), "--env", "bench", "--yes"]),
            "cargo xtask restore --yes",
        )?);
        let secs = bench.last_replay_secs().ok_or_else(|| eyre!("drydock's restore report names no replay time"))?;
        replays.push(Sample { secs, rss: 0 });
    }
    let _ = std::fs::remove_file(&raw_dump_file);
    ctx.ui.line(format!(
        "  raw parts, medians: pg_dump + fsync {:.2} s, stop {:.2} s, psql {:.2} s, up --wait {:.2} s",
        median(&dumps).secs,
        median(&stops).secs,
        median(&raw).secs,
        median(&starts).secs
    ));
    let whole = Row {
        name: format!("restore {mib:.0} MiB, whole"),
        drydock: dd,
        baseline: parts,
        baseline_name: "raw parts: pg_dump + stop + psql + up --wait",
        target: "≤ 1.1×".into(),
    };
    // The replay step as drydock timed it (BEGIN to COMMIT over its own
    // connection, read from its report), beside psql's whole process.
    let replay = Row {
        name: format!("restore {mib:.0} MiB, replay"),
        drydock: replays,
        baseline: raw,
        baseline_name: "psql --single-transaction < file",
        target: "≤ 1.05× (drydock's replay step)".into(),
    };
    Ok((replay, whole))
}

/// A history of `n` small migrations (tables, indexes, columns, a foreign key).
fn generated_history(n: usize) -> Result<Utf8PathBuf> {
    let root = Utf8PathBuf::from_path_buf(std::env::temp_dir())
        .map_err(|p| eyre!("non-UTF-8 temp dir {p:?}"))?
        .join(format!("drydock-bench-history-{}-{n}", std::process::id()));
    let dir = root.join("migrations");
    let _ = std::fs::remove_dir_all(&root);
    std::fs::create_dir_all(&dir)?;
    std::fs::write(dir.join(migrate::LOCK_FILE), "provider = \"postgresql\"\n")?;
    for i in 0..n {
        let sql = match i % 4 {
            0 => format!(
                "CREATE TABLE \"T{i}\" (\"id\" SERIAL NOT NULL, \"name\" TEXT NOT NULL, \"createdAt\" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP, CONSTRAINT \"T{i}_pkey\" PRIMARY KEY (\"id\"));\n"
            ),
            1 => format!("CREATE INDEX \"T{p}_name_idx\" ON \"T{p}\"(\"name\");\n", p = i - 1),
            2 => format!("ALTER TABLE \"T{p}\" ADD COLUMN \"note\" TEXT;\n", p = i - 2),
            _ => format!(
                "ALTER TABLE \"T{p}\" ADD COLUMN \"ref\" INTEGER;\nALTER TABLE \"T{p}\" ADD CONSTRAINT \"T{p}_ref_fkey\" FOREIGN KEY (\"ref\") REFERENCES \"T{p}\"(\"id\") ON DELETE SET NULL ON UPDATE CASCADE;\n",
                p = i - 3
            ),
        };
        let m = dir.join(format!("2026{:010}_m{i}", i));
        std::fs::create_dir_all(&m)?;
        std::fs::write(m.join("migration.sql"), sql)?;
    }
    Ok(dir)
}

/// `cargo xtask migrate bench` on a fresh database against psql in one
/// session over the same network path (the container's address), each
/// file in its own transaction as drydock runs it; and against the same
/// work by hand, the backup drydock takes before it changes anything
/// (`docker exec pg_dump > file` + fsync) and then psql: the physical limit.
fn bench_migrate(ctx: &Ctx, exe: &Utf8Path, name: &str, dir: &Utf8Path, rounds: usize) -> Result<Vec<Row>> {
    let bench = Bench::new(ctx, exe, "migrate", Some(dir), false)?;
    let loaded = migrate::load_dir(dir).map_err(|e| eyre!("{e}"))?;
    let mut script = String::new();
    for m in &loaded {
        let text = &m.script;
        // The baseline's own rule, as a hand-written runner would have it.
        let upper = text.to_ascii_uppercase();
        let tx = !upper.contains("CONCURRENTLY") && !upper.contains("-- DRYDOCK: NO-TRANSACTION");
        script.push_str(&format!("\\echo {}\n", m.name));
        if tx {
            script.push_str("BEGIN;\n");
        }
        script.push_str(text);
        script.push_str(if tx { "\n;COMMIT;\n" } else { "\n;\n" });
    }
    let script_file = bench.dir.join("all.sql");
    std::fs::write(&script_file, script)?;
    let ip = container_ip(&bench.stack.db_container())?;
    let fresh = || -> Result<()> {
        bench.stack.psql_db("postgres", "DROP DATABASE IF EXISTS demo WITH (FORCE);");
        bench.stack.psql_db("postgres", "CREATE DATABASE demo OWNER demo;");
        Ok(())
    };
    let psql = || {
        let mut psql = std::process::Command::new("psql");
        psql.args([
            "-X",
            "-q",
            "-v",
            "ON_ERROR_STOP=1",
            "-h",
            &ip,
            "-U",
            "demo",
            "-d",
            "demo",
            "-f",
            script_file.as_str(),
        ])
        .env("PGPASSWORD", db_password())
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped());
        psql
    };
    let dump_file = bench.dir.join("raw.sql");
    let (mut dd, mut raw, mut by_hand) = (Vec::new(), Vec::new(), Vec::new());
    for round in 1..=rounds {
        ctx.ui.line(format!("{name}, round {round}/{rounds}"));
        // The same work by hand: the backup drydock takes first, then psql.
        fresh()?;
        let (_, dumped) = raw_dump(&bench, &dump_file)?;
        let applied = measure(psql(), "psql one session")?;
        by_hand.push(Sample { secs: dumped.secs + applied.secs, rss: dumped.rss.max(applied.rss) });
        fresh()?;
        raw.push(measure(psql(), "psql one session")?);
        // drydock last: the runs with nothing pending below need its ledger.
        fresh()?;
        bench.remove_backups();
        dd.push(measure(bench.drydock(&["migrate", "bench"]), "cargo xtask migrate bench")?);
    }
    let _ = std::fs::remove_file(&dump_file);
    // drydock's own fixed cost: the same command with nothing pending (find the
    // database through the engine, read the folder, connect, read the ledger),
    // beside psql opening one session on the same path.
    let (mut idle, mut one) = (Vec::new(), Vec::new());
    for _ in 0..rounds {
        let mut psql = std::process::Command::new("psql");
        psql.args(["-X", "-q", "-h", &ip, "-U", "demo", "-d", "demo", "-c", "SELECT 1"])
            .env("PGPASSWORD", db_password())
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::piped());
        one.push(measure(psql, "psql -c 'SELECT 1'")?);
        idle.push(measure(bench.drydock(&["migrate", "bench"]), "cargo xtask migrate bench (nothing pending)")?);
    }
    Ok(vec![
        Row {
            name: name.to_owned(),
            drydock: dd.clone(),
            baseline: raw,
            baseline_name: "psql, one session, tx per file",
            target: "≤ 1.0×".into(),
        },
        Row {
            name: format!("{name}, backup by hand too"),
            drydock: dd.clone(),
            baseline: by_hand,
            baseline_name: "docker exec pg_dump > file + fsync, then psql",
            target: "the physical limit".into(),
        },
        Row {
            name: format!("{name}: nothing pending"),
            drydock: idle,
            baseline: one,
            baseline_name: "psql -c 'SELECT 1', same path",
            target: "fixed cost ≤ 0.25 s".into(),
        },
    ])
}

/// The password of the demo stack's database (the compose file's default).
fn db_password() -> String {
    std::env::var("DEMO_DB_PASSWORD").unwrap_or_else(|_| "demo-prod-password".into())
}

fn container_ip(id: &str) -> Result<String> {
    let out = std::process::Command::new("docker")
        .args(["inspect", "-f", "{{range .NetworkSettings.Networks}}{{.IPAddress}} {{end}}", id])
        .output()?;
    String::from_utf8_lossy(&out.stdout)
        .split_whitespace()
        .next()
        .map(str::to_owned)
        .ok_or_else(|| eyre!("the database container {id} has no IP address"))
}

/// A deploy with nothing to do: every image unchanged, nothing pending.
fn bench_noop_deploy(ctx: &Ctx, exe: &Utf8Path, rounds: usize) -> Result<Row> {
    let bench = Bench::new(ctx, exe, "deploy", Some(&ctx.root.join("migrations")), true)?;
    ctx.ui.line("no-op deploy: first deploy of the demo stack");
    measure(bench.drydock(&["deploy", "bench"]), "first cargo xtask deploy bench")
        .or_else(|_| measure(bench.drydock(&["deploy-prod"]), "first deploy"))?;
    let mut dd = Vec::new();
    for round in 1..=rounds {
        ctx.ui.line(format!("no-op deploy, round {round}/{rounds}"));
        bench.remove_backups();
        dd.push(measure(bench.drydock(&["deploy", "bench"]), "cargo xtask deploy bench")?);
    }
    Ok(Row { name: "no-op deploy".into(), drydock: dd, baseline: vec![], baseline_name: "-", target: "≤ 2 s".into() })
}

/// `cargo xtask --help` as users type it (cargo's check, then this binary),
/// beside this binary started alone.
fn bench_startup(ctx: &Ctx, exe: &Utf8Path, rounds: usize) -> Result<Row> {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let (mut dd, mut raw) = (Vec::new(), Vec::new());
    for _ in 0..rounds.max(5) {
        let mut whole = std::process::Command::new(&cargo);
        whole
            .args(["xtask", "--help"])
            .current_dir(&ctx.root)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::piped());
        dd.push(measure(whole, "cargo xtask --help")?);
        let mut alone = std::process::Command::new(exe);
        alone.arg("--help").stdout(std::process::Stdio::null()).stderr(std::process::Stdio::piped());
        raw.push(measure(alone, "xtask --help")?);
    }
    Ok(Row {
        name: "warm start (cargo xtask --help)".into(),
        drydock: dd,
        baseline: raw,
        baseline_name: "the binary alone",
        target: "≤ 0.2 s".into(),
    })
}

/// A fresh clone built from an empty target directory, as a new user's first
/// `cargo xtask`: `rounds` times, each from a new clone (the registry cache
/// stays: crates.io downloads are not the build).
fn bench_cold_build(ctx: &Ctx, rounds: usize) -> Result<Row> {
    let dir = Utf8PathBuf::from_path_buf(std::env::temp_dir())
        .map_err(|p| eyre!("non-UTF-8 temp dir {p:?}"))?
        .join(format!("drydock-cold-build-{}", std::process::id()));
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let mut samples = Vec::new();
    for round in 1..=rounds {
        let _ = std::fs::remove_dir_all(&dir);
        let status =
            std::process::Command::new("git").args(["clone", "-q", ctx.root.as_str(), dir.as_str()]).status()?;
        if !status.success() {
            bail!("git clone of {} failed", ctx.root);
        }
        ctx.ui
            .line(format!("cold build of a fresh clone (cargo build -p xtask, empty target), round {round}/{rounds}"));
        let mut build = std::process::Command::new(&cargo);
        build
            .args(["build", "-q", "-p", "xtask"])
            .current_dir(&dir)
            .env("CARGO_TARGET_DIR", dir.join("target"))
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::piped());
        let sample = measure(build, "cargo build of a fresh clone");
        let _ = std::fs::remove_dir_all(&dir);
        samples.push(Sample { rss: 0, ..sample? });
    }
    Ok(Row {
        name: "cold build (fresh clone)".into(),
        drydock: samples,
        baseline: vec![],
        baseline_name: "-",
        target: "≤ 60 s".into(),
    })
}

fn median(samples: &[Sample]) -> Sample {
    let mut s: Vec<Sample> = samples.to_vec();
    s.sort_by(|a, b| a.secs.total_cmp(&b.secs));
    let rss = samples.iter().map(|x| x.rss).max().unwrap_or(0);
    let n = s.len();
    let secs = match n {
        0 => 0.0,
        // An even count: the mean of the two middle samples.
        _ if n % 2 == 0 => (s[n / 2 - 1].secs + s[n / 2].secs) / 2.0,
        _ => s[n / 2].secs,
    };
    Sample { secs, rss }
}

fn spread(samples: &[Sample]) -> String {
    let min = samples.iter().map(|s| s.secs).fold(f64::INFINITY, f64::min);
    let max = samples.iter().map(|s| s.secs).fold(0.0, f64::max);
    format!("{:.2} s ({min:.2}–{max:.2}, n={})", median(samples).secs, samples.len())
}

fn print_table(ctx: &Ctx, rows: &[Row]) {
    let table: Vec<Vec<String>> = rows
        .iter()
        .map(|r| {
            let d = median(&r.drydock);
            let (base, ratio) = if r.baseline.is_empty() {
                ("-".to_owned(), "-".to_owned())
            } else {
                let b = median(&r.baseline);
                (format!("{} {}", spread(&r.baseline), r.baseline_name), format!("{:.2}×", d.secs / b.secs))
            };
            let rss = if d.rss == 0 { "-".to_owned() } else { crate::ui::human_bytes(d.rss) };
            vec![r.name.clone(), spread(&r.drydock), base, ratio, r.target.clone(), rss]
        })
        .collect();
    ctx.ui.line("");
    ctx.ui.table(&["BENCHMARK", "DRYDOCK", "BASELINE", "RATIO", "TARGET", "PEAK RSS"], &table);
}

/// The plot's two panels: backup and restore against size, migrate per
/// migration against the history's length.
const PANELS: [(&str, &str, &str); 2] = [
    ("backup and restore", "generated table data (MiB)", "seconds"),
    ("migrate, whole process", "migrations", "seconds per 1,000 migrations"),
];

/// Two line plots side by side (one polyline per series, linear axes from 0),
/// hand-written SVG: a straight line through 0 is linear time, a flat one is
/// constant cost per migration.
fn svg(points: &[Point]) -> String {
    let (pw, h, pad) = (460.0, 400.0, 64.0);
    let colours = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728"];
    let mut out = format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{w}\" height=\"{h}\" font-family=\"sans-serif\" font-size=\"12\">\n\
         <rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n",
        w = pw * PANELS.len() as f64,
    );
    for (panel, (title, xlabel, ylabel)) in PANELS.iter().enumerate() {
        let mine: Vec<&Point> = points.iter().filter(|p| p.0 == panel).collect();
        if mine.is_empty() {
            continue;
        }
        let left = pw * panel as f64;
        let xmax = mine.iter().map(|p| p.2).fold(0.0, f64::max).max(1.0) * 1.05;
        let ymax = mine.iter().map(|p| p.3).fold(0.0, f64::max).max(0.001) * 1.15;
        let x = |v: f64| left + pad + v / xmax * (pw - 1.5 * pad);
        let y = |v: f64| h - pad - v / ymax * (h - 2.0 * pad);
        let (bottom, right) = (h - pad, left + pw - pad / 2.0);
        out.push_str(&format!(
            "<text x=\"{cx}\" y=\"24\" text-anchor=\"middle\" font-weight=\"bold\">{title}</text>\n\
             <line x1=\"{l}\" y1=\"{bottom}\" x2=\"{right}\" y2=\"{bottom}\" stroke=\"black\"/>\n\
             <line x1=\"{l}\" y1=\"{pad}\" x2=\"{l}\" y2=\"{bottom}\" stroke=\"black\"/>\n\
             <text x=\"{cx}\" y=\"{t}\" text-anchor=\"middle\">{xlabel}</text>\n\
             <text x=\"{yl}\" y=\"{cy}\" transform=\"rotate(-90 {yl} {cy})\" text-anchor=\"middle\">{ylabel}</text>\n",
            cx = left + pw / 2.0,
            l = left + pad,
            t = h - 20.0,
            yl = left + 16.0,
            cy = h / 2.0,
        ));
        for k in 0..=4 {
            let (vx, vy) = (xmax * k as f64 / 4.0, ymax * k as f64 / 4.0);
            out.push_str(&format!(
                "<text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"middle\">{vx:.0}</text>\n\
                 <text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"end\">{vy:.1}</text>\n\
                 <line x1=\"{l}\" y1=\"{gy:.1}\" x2=\"{right}\" y2=\"{gy:.1}\" stroke=\"#ddd\"/>\n",
                x(vx),
                bottom + 16.0,
                left + pad - 6.0,
                y(vy) + 4.0,
                l = left + pad,
                gy = y(vy),
            ));
        }
        let mut series: Vec<&str> = Vec::new();
        for p in &mine {
            if !series.contains(&p.1) {
                series.push(p.1);
            }
        }
        for (i, name) in series.iter().enumerate() {
            let colour = colours[i % colours.len()];
            let mut pts: Vec<(f64, f64)> = mine.iter().filter(|p| p.1 == *name).map(|p| (p.2, p.3)).collect();
            pts.sort_by(|a, b| a.0.total_cmp(&b.0));
            let line: Vec<String> = pts.iter().map(|(a, b)| format!("{:.1},{:.1}", x(*a), y(*b))).collect();
            out.push_str(&format!(
                "<polyline fill=\"none\" stroke=\"{colour}\" stroke-width=\"2\" points=\"{}\"/>\n",
                line.join(" ")
            ));
            for (a, b) in &pts {
                out.push_str(&format!(
                    "<circle cx=\"{:.1}\" cy=\"{:.1}\" r=\"3\" fill=\"{colour}\"><title>{name}: {a:.0}, {b:.2} s</title></circle>\n",
                    x(*a),
                    y(*b)
                ));
            }
            out.push_str(&format!(
                "<text x=\"{:.1}\" y=\"{:.1}\" fill=\"{colour}\">{name}</text>\n",
                left + pad + 8.0,
                pad + 4.0 + 15.0 * i as f64
            ));
        }
    }
    out.push_str("</svg>\n");
    out
}

#[cfg(test)]
mod tests {
    #[test]
    fn sizes_parse() {
        assert_eq!(super::parse_size("200MB"), Ok(200 << 20));
        assert_eq!(super::parse_size("1GB"), Ok(1 << 30));
        assert_eq!(super::parse_size("1.5 GiB"), Ok(3 << 29));
        assert!(super::parse_size("12 parsecs").is_err());
    }

    #[test]
    fn durations_parse_as_ui_writes_them() {
        let ui = |secs| crate::ui::human_duration(std::time::Duration::from_secs_f64(secs));
        assert_eq!(super::parse_duration(&ui(1.234)), Some(1.23));
        assert_eq!(super::parse_duration(&ui(125.0)), Some(125.0));
    }

    /// The plot is well-formed SVG with both panels and every series.
    #[test]
    fn plot_has_both_panels() {
        let points = [
            (0, "backup (drydock)", 100.0, 1.0),
            (0, "backup (drydock)", 1000.0, 10.0),
            (1, "drydock migrate", 100.0, 2.0),
            (1, "drydock migrate", 5000.0, 2.1),
        ];
        let svg = super::svg(&points);
        assert!(svg.starts_with("<svg") && svg.trim_end().ends_with("</svg>"));
        assert!(svg.contains("backup and restore") && svg.contains("migrate, whole process"), "{svg}");
        assert_eq!(svg.matches("<polyline").count(), 2);
        if let Ok(path) = std::env::var("DRYDOCK_PLOT_SAMPLE") {
            std::fs::write(path, &svg).unwrap();
        }
    }
}
