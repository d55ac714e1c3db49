//! Backups that succeed: round trip, sidecar and mode, same second, host pg_dump.

use std::os::unix::fs::PermissionsExt;

use backup::{PgClient, Sidecar};

use crate::{dump, files, replay_into_new_database, seeded, table_checksums};

#[test]
fn round_trip_into_a_scratch_database_keeps_every_row() {
    let stack = seeded("bk-roundtrip");
    let mut progress = Vec::new();
    let client = PgClient::container(&stack.compose).unwrap();
    let backup = backup::dump(&client, stack.backups(), "test", &|| false, &mut |n| progress.push(n)).unwrap();
    assert_eq!(progress.last().copied(), Some(backup.size), "progress reports every byte");

    replay_into_new_database(&stack, &backup.path, "scratch");
    let source = table_checksums(&stack, "demo");
    assert_eq!(source.lines().count(), 3, "{source}");
    assert_eq!(table_checksums(&stack, "scratch"), source);

    let counts = backup::copy_row_counts(&backup.path).unwrap();
    assert_eq!(counts.get("public.customers"), Some(&500));
    assert_eq!(counts.get("public.orders"), Some(&2000));
    assert_eq!(counts.get("public.\"Weird Name\""), Some(&2));
}

#[test]
fn a_backup_is_named_synced_private_and_has_a_sha256sum_sidecar() {
    let stack = seeded("bk-sidecar");
    let backup = dump(&stack).unwrap();
    let name = backup.path.file_name().unwrap();
    let (env, _) = backup::parse_name(name).expect("exact backup name");
    assert_eq!(env, "test");
    assert_eq!(files(stack.backups()), vec![name.to_owned(), format!("{name}.sha256")], "no partial left");
    for file in [&backup.path, &backup.sidecar] {
        let mode = std::fs::metadata(file).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600, "{file}");
    }
    let sidecar = std::fs::read_to_string(&backup.sidecar).unwrap();
    assert_eq!(sidecar, format!("{}  {name}\n", backup.sha256));
    let sha256sum = duct::cmd!("sha256sum", "-c", format!("{name}.sha256")).dir(stack.backups()).read().unwrap();
    assert!(sha256sum.contains(": OK"), "{sha256sum}");
    let verified = backup::verify(&backup.path).unwrap();
    assert_eq!(verified.sidecar, Sidecar::Matched);
    assert_eq!(verified.size, backup.size);
    let text = std::fs::read_to_string(&backup.path).unwrap();
    assert!(text.contains("DROP TABLE IF EXISTS public.orders;"), "dumped with --clean --if-exists");
    assert!(!text.contains("OWNER TO"), "dumped with --no-owner");
}

#[test]
fn same_second_backups_both_survive() {
    let stack = seeded("bk-samesecond");
    let (a, b) = std::thread::scope(|s| {
        let a = s.spawn(|| dump(&stack).unwrap());
        let b = s.spawn(|| dump(&stack).unwrap());
        (a.join().unwrap(), b.join().unwrap())
    });
    let c = dump(&stack).unwrap();
    assert_ne!(a.path, b.path);
    assert!(c.path != a.path && c.path != b.path);
    for backup in [&a, &b, &c] {
        backup::verify(&backup.path).unwrap();
    }
    assert_eq!(backup::list(stack.backups(), Some("test")).unwrap().len(), 3);
    assert_eq!(files(stack.backups()).len(), 6);
}

#[test]
fn the_hosts_pg_dump_works_over_the_url() {
    let stack = testbench::Stack::with_settings("bk-host", compose::Flavor::V2, &["pg-dump = \"host\""]);
    stack.up_database();
    stack.psql(crate::SEED);
    let url = stack.compose.database_url().unwrap();
    let client = PgClient::host(&url).unwrap();
    let backup = backup::dump(&client, stack.backups(), "test", &|| false, &mut |_| {}).unwrap();
    backup::verify(&backup.path).unwrap();
    replay_into_new_database(&stack, &backup.path, "fromhost");
    assert_eq!(table_checksums(&stack, "fromhost"), table_checksums(&stack, "demo"));
}
