//! `cargo bench -p migrate --bench corpus`: drydock against `psql` applying the same real history.
//!
//! Each round applies `../shared/corpus/documenso/migrations` (or
//! `$DRYDOCK_CORPUS`) to two fresh databases of one throwaway cluster with
//! PostgreSQL's default durability (fsync on): once with `psql -f ... -f ...`
//! in one session, once with drydock (read folder, connect, lock, validate,
//! apply with ledger rows, unlock), alternating which goes first. Prints each
//! round with its ratio, then the median ratio of the rounds (paired runs see
//! the same machine load), the medians and the bests; the target is at most 0.7x psql.
//! `DRYDOCK_BENCH_ROUNDS` sets the number of rounds (default 5);
//! `DRYDOCK_BENCH_FSYNC=off` runs the cluster without fsync (DDL cost only).

use std::time::{Duration, Instant};

use camino::{Utf8Path, Utf8PathBuf};
use testbench::{Cluster, Durability};

fn main() {
    let dir = match std::env::var("DRYDOCK_CORPUS") {
        Ok(d) if !d.is_empty() => Utf8PathBuf::from(d),
        _ => Utf8PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/corpus/documenso/migrations"),
    };
    if !dir.is_dir() {
        println!("skipped: no corpus at {dir} (set DRYDOCK_CORPUS)");
        return;
    }
    let rounds: usize = std::env::var("DRYDOCK_BENCH_ROUNDS").ok().and_then(|r| r.parse().ok()).unwrap_or(5);
    let durability = match std::env::var("DRYDOCK_BENCH_FSYNC").as_deref() {
        Ok("off") => Durability::Fast,
        _ => Durability::Default,
    };
    let cluster = Cluster::start(durability).unwrap_or_else(|e| panic!("{e}"));
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let count = migrate::load_dir(&dir).unwrap().len();
    println!("corpus: {count} migrations from {dir}");

    let (mut ours, mut theirs, mut ratios) = (Vec::new(), Vec::new(), Vec::<f64>::new());
    for round in 0..rounds {
        let (a, b) = if round % 2 == 0 {
            let b = psql(&cluster, &dir);
            (drydock(&cluster, &rt, &dir, count), b)
        } else {
            let a = drydock(&cluster, &rt, &dir, count);
            (a, psql(&cluster, &dir))
        };
        let ratio = a.as_secs_f64() / b.as_secs_f64();
        println!("round {}: drydock {:>8.1} ms   psql {:>8.1} ms   ratio {ratio:.2}", round + 1, ms(a), ms(b));
        ours.push(a);
        theirs.push(b);
        ratios.push(ratio);
    }
    ratios.sort_by(f64::total_cmp);
    let ratio = ratios[ratios.len() / 2];
    let (best_a, best_b) = (*ours.iter().min().unwrap(), *theirs.iter().min().unwrap());
    println!(
        "median: drydock {:.1} ms, psql {:.1} ms; best: drydock {:.1} ms, psql {:.1} ms ({:.2}x)",
        ms(median(&mut ours)),
        ms(median(&mut theirs)),
        ms(best_a),
        ms(best_b),
        best_a.as_secs_f64() / best_b.as_secs_f64()
    );
    let verdict = if ratio <= 0.7 { "met" } else { "NOT met" };
    println!("ratio (median of the rounds' ratios): {ratio:.2}x psql (target <= 0.70x: {verdict})");
}

fn psql(cluster: &Cluster, dir: &Utf8Path) -> Duration {
    let db = cluster.database();
    let mut args: Vec<String> =
        vec!["-X".into(), "-q".into(), "-v".into(), "ON_ERROR_STOP=1".into(), "-d".into(), db.url];
    let started = Instant::now();
    for m in migrate::load_dir(dir).unwrap() {
        args.push("-f".into());
        args.push(m.path.to_string());
    }
    let out = duct::cmd(cluster.tool("psql"), args).stdout_null().stderr_capture().unchecked().run().unwrap();
    let elapsed = started.elapsed();
    assert!(out.status.success(), "psql failed: {}", String::from_utf8_lossy(&out.stderr));
    elapsed
}

fn drydock(cluster: &Cluster, rt: &tokio::runtime::Runtime, dir: &Utf8Path, count: usize) -> Duration {
    let db = cluster.database();
    let started = Instant::now();
    let applied = rt.block_on(async {
        let local = migrate::load_dir(dir)?;
        let client = migrate::connect(&db.url).await?;
        migrate::lock(&client, Duration::from_secs(10), |_, _| {}).await?;
        let history = migrate::read_history(&client, local).await?;
        let plan = migrate::plan(&history, &migrate::Options::default())?;
        let applied = migrate::apply(&client, &plan, |_| {}).await?;
        migrate::unlock(&client).await?;
        Ok::<_, migrate::MigrateError>(applied)
    });
    let elapsed = started.elapsed();
    assert_eq!(applied.unwrap_or_else(|e| panic!("{e}")).len(), count);
    elapsed
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

fn median(v: &mut [Duration]) -> Duration {
    v.sort();
    v[v.len() / 2]
}
