//! Replays that commit.

use std::sync::atomic::AtomicBool;

use crate::{backup, client, seeded, snapshot, verify_and_replay, CHANGES};

#[test]
fn round_trip_after_changes_restores_every_table() {
    let stack = seeded("rs-roundtrip");
    let before = snapshot(&stack);
    let backup = backup(&stack);
    stack.psql(CHANGES);
    assert_ne!(snapshot(&stack), before);

    let mut progress = 0;
    let verified = ::backup::verify(&backup.path).unwrap();
    let replayed = restore::replay(&client(&stack), &verified, &AtomicBool::new(false), &mut |n| progress = n).unwrap();
    assert_eq!(replayed.bytes, backup.size);
    assert_eq!(progress, backup.size);
    assert_eq!(snapshot(&stack), before, "every table equals the backup, the later table is gone");

    let counts = restore::table_counts(&client(&stack)).unwrap();
    assert_eq!(counts.get("audit.log"), Some(&100));
    assert_eq!(counts.get("public.\"Weird Name\""), Some(&2));
    assert_eq!(replayed.rows, counts, "the replay's COPY tags are every table's rows, as the server counts them");
    let public = stack.psql("SELECT nspowner::regrole FROM pg_namespace WHERE nspname = 'public'");
    assert_eq!(public, "pg_database_owner", "public is as a fresh database has it");
    // The database still accepts a second restore of the same file.
    verify_and_replay(&stack, &backup.path).unwrap();
    assert_eq!(snapshot(&stack), before);
}

#[test]
fn a_plain_pg_dump_made_without_drydock_restores_over_a_live_database() {
    let stack = seeded("rs-plain");
    stack.psql("CREATE INDEX orders_total ON orders (total); CREATE VIEW big_orders AS SELECT * FROM orders WHERE total > 100;");
    let before = snapshot(&stack);
    let file = stack.backups().join("hand made.sql");
    std::fs::create_dir_all(stack.backups()).unwrap();
    let id = stack.db_container();
    duct::cmd!("docker", "exec", id, "pg_dump", "-U", "demo", "demo").stdout_path(&file).run().unwrap();
    let text = std::fs::read_to_string(&file).unwrap();
    assert!(!text.contains("DROP TABLE") && text.contains("OWNER TO demo"), "a plain dump without --clean");
    stack.psql(CHANGES);

    verify_and_replay(&stack, &file).unwrap();
    assert_eq!(snapshot(&stack), before);
    assert_eq!(
        stack.psql("SELECT count(*) FROM big_orders"),
        stack.psql("SELECT count(*) FROM orders WHERE total > 100")
    );
}

#[test]
fn a_file_name_with_spaces_and_quotes_works() {
    let stack = seeded("rs-names");
    let before = snapshot(&stack);
    let backup = backup(&stack);
    let odd = stack.backups().join("it's a \"backup\" $(touch pwned); `x` & more.sql");
    std::fs::copy(&backup.path, &odd).unwrap();
    std::fs::write(format!("{odd}.sha256"), format!("{}  {}\n", backup.sha256, odd.file_name().unwrap())).unwrap();
    stack.psql(CHANGES);

    let verified = ::backup::verify(&odd).unwrap();
    assert_eq!(verified.sidecar, ::backup::Sidecar::Matched);
    verify_and_replay(&stack, &odd).unwrap();
    assert_eq!(snapshot(&stack), before);
    assert!(!std::path::Path::new("pwned").exists() && !stack.backups().join("pwned").exists());
}

#[test]
fn the_restore_test_replays_into_a_scratch_database_and_drops_it() {
    let stack = seeded("rs-scratch");
    let backup = backup(&stack);
    stack.psql(CHANGES);
    let changed = snapshot(&stack);
    let verified = ::backup::verify(&backup.path).unwrap();
    let test = restore::restore_test(&client(&stack), &verified, &AtomicBool::new(false)).unwrap();
    assert!(test.mismatches().is_empty(), "{test:?}");
    assert_eq!(test.tables.len(), 4);
    assert!(test.tables.iter().any(|t| t.table == "public.orders" && t.restored == Some(2000)));
    let left = stack.psql(&format!("SELECT count(*) FROM pg_database WHERE datname = '{}'", test.database));
    assert_eq!(left, "0", "the scratch database is dropped");
    assert_eq!(snapshot(&stack), changed, "the live database is untouched");
}
