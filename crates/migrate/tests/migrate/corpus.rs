//! The real-world check: the documenso history (163 Prisma migrations) applies
//! fully, a rerun applies nothing, and the schema equals psql's.
//!
//! Ignored by default (the corpus lives outside the repository):
//! `cargo test -p migrate --test migrate -- --ignored corpus --nocapture`.
//! The folder is `$DRYDOCK_CORPUS`, else `../shared/corpus/documenso/migrations`
//! beside the workspace; the test passes with a note when it is absent.

use std::time::{Duration, Instant};

use camino::Utf8PathBuf;
use migrate::Options;
use testbench::Cluster;

use crate::support::deploy;

/// The corpus folder, if present.
pub fn corpus() -> Option<Utf8PathBuf> {
    let dir = match std::env::var("DRYDOCK_CORPUS") {
        Ok(d) if !d.is_empty() => Utf8PathBuf::from(d),
        _ => Utf8PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/corpus/documenso/migrations"),
    };
    dir.is_dir().then_some(dir)
}

/// `pg_dump --schema-only` of `url`, without the ledger and without the
/// random `\restrict` keys of recent pg_dump versions.
fn schema_dump(cluster: &Cluster, url: &str) -> String {
    let dump = duct::cmd!(
        cluster.tool("pg_dump"),
        "--schema-only",
        "--no-owner",
        "--exclude-table=_prisma_migrations",
        "-d",
        url
    )
    .read()
    .expect("pg_dump");
    dump.lines()
        .filter(|l| !l.starts_with("\\restrict") && !l.starts_with("\\unrestrict"))
        .collect::<Vec<_>>()
        .join("\n")
}

#[tokio::test]
#[ignore = "needs ../shared/corpus; run with -- --ignored corpus"]
async fn corpus_applies_fully_once_and_matches_psql() {
    let Some(dir) = corpus() else {
        eprintln!("skipped: no corpus folder (set DRYDOCK_CORPUS)");
        return;
    };
    let cluster = Cluster::shared();
    let local = migrate::load_dir(&dir).unwrap();
    assert!(local.len() >= 163, "{} migrations", local.len());

    // drydock, on a fresh database.
    let ours = cluster.database();
    let client = migrate::connect(&ours.url).await.unwrap();
    let started = Instant::now();
    let applied = deploy(&client, &dir, &Options::default(), Duration::from_secs(10)).await.unwrap();
    eprintln!("drydock applied {} migrations in {:?}", applied.len(), started.elapsed());
    assert_eq!(applied.len(), local.len());
    assert!(deploy(&client, &dir, &Options::default(), Duration::from_secs(10)).await.unwrap().is_empty());
    let status = migrate::status(&migrate::read_history(&client, local.clone()).await.unwrap());
    assert!(status.is_up_to_date(), "{:?}", status.problems);

    // psql, every file in one session, on another fresh database.
    let theirs = cluster.database();
    let mut args: Vec<String> =
        vec!["-X".into(), "-q".into(), "-v".into(), "ON_ERROR_STOP=1".into(), "-d".into(), theirs.url.clone()];
    for m in &local {
        args.push("-f".into());
        args.push(m.path.to_string());
    }
    duct::cmd(cluster.tool("psql"), args).stdout_null().run().expect("psql applies the corpus");

    let (a, b) = (schema_dump(&cluster, &ours.url), schema_dump(&cluster, &theirs.url));
    assert!(a.len() > 10_000, "the dump has the schema");
    if a != b {
        let first = a.lines().zip(b.lines()).position(|(x, y)| x != y).unwrap_or(0);
        panic!(
            "schemas differ at line {first}:\ndrydock: {:?}\npsql:    {:?}",
            a.lines().nth(first),
            b.lines().nth(first)
        );
    }
}
