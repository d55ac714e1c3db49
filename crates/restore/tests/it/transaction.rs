//! The single transaction holds whatever the file contains.

use std::sync::atomic::AtomicBool;

use restore::RestoreError;

use crate::{backup, client, edited, seeded, snapshot, verify_and_replay};

/// The large objects, as `oid:content`, sorted.
fn large_objects(stack: &testbench::Stack) -> String {
    stack.psql(
        "SELECT coalesce(string_agg(oid || ':' || encode(lo_get(oid), 'escape'), ',' ORDER BY oid), '') FROM pg_largeobject_metadata",
    )
}

fn with_large_objects(tag: &str) -> testbench::Stack {
    let stack = seeded(tag);
    stack.psql(
        "CREATE TABLE docs (id int PRIMARY KEY, body oid);
         INSERT INTO docs SELECT g, lo_from_bytea(0, convert_to('document ' || g, 'UTF8')) FROM generate_series(1, 3) g;",
    );
    stack
}

#[test]
fn a_failure_after_the_large_objects_rolls_everything_back() {
    let stack = with_large_objects("rs-lofail");
    let backup = backup(&stack);
    let text = std::fs::read_to_string(&backup.path).unwrap();
    assert!(
        text.contains("\nBEGIN;\n") && text.contains("\nCOMMIT;\n"),
        "pg_dump wraps the large objects in its own transaction"
    );
    stack.psql("UPDATE customers SET name = 'after backup'; SELECT lo_put(body, 0, '\\x58') FROM docs WHERE id = 1;");
    let before = stack.data_checksum();
    let objects = large_objects(&stack);

    let broken = edited(&stack, &text, "GRANT SELECT ON public.docs TO no_such_role;", "grant to a missing role.sql");
    let err = verify_and_replay(&stack, &broken).unwrap_err();
    assert!(err.contains("no_such_role") && err.contains("rolled back"), "{err}");
    assert_eq!(stack.data_checksum(), before, "the database is unchanged");
    assert_eq!(large_objects(&stack), objects, "the large objects are unchanged");
}

#[test]
fn a_dump_with_large_objects_restores_them() {
    let stack = with_large_objects("rs-lo");
    let before = snapshot(&stack);
    let objects = large_objects(&stack);
    let backup = backup(&stack);
    stack.psql(
        "SELECT lo_put(body, 0, '\\x58') FROM docs WHERE id = 1;
         SELECT lo_unlink(body) FROM docs WHERE id = 2;
         SELECT lo_from_bytea(0, 'new after backup');",
    );
    assert_ne!(large_objects(&stack), objects);

    let verified = ::backup::verify(&backup.path).unwrap();
    let checked = restore::check(&client(&stack), &verified).unwrap();
    assert_eq!(checked.large_object_blocks, 1);
    verify_and_replay(&stack, &backup.path).unwrap();
    assert_eq!(snapshot(&stack), before);
    assert_eq!(large_objects(&stack), objects);
}

#[test]
fn a_connect_in_the_file_is_refused_before_and_during_the_replay() {
    let stack = seeded("rs-connect");
    let backup = backup(&stack);
    stack.psql("UPDATE customers SET name = 'after backup' WHERE id = 1");
    let before = stack.data_checksum();
    let text = std::fs::read_to_string(&backup.path).unwrap();
    // After the tables' data: a replay that ran it would have dropped and
    // refilled everything before leaving the transaction.
    let file = edited(&stack, &text, "\\connect postgres\nDROP TABLE IF EXISTS x;", "connect.sql");
    let verified = ::backup::verify(&file).unwrap();

    let err = restore::check(&client(&stack), &verified).unwrap_err();
    assert!(matches!(err, RestoreError::Refused { .. }), "{err:?}");
    assert!(err.to_string().contains("\\connect"), "{err}");

    // replay() refuses it too, on its own: the stream stops, the transaction rolls back.
    let err = restore::replay(&client(&stack), &verified, &AtomicBool::new(false), &mut |_| {}).unwrap_err();
    assert!(matches!(err, RestoreError::Refused { .. }), "{err:?}");
    assert_eq!(stack.data_checksum(), before, "the database is unchanged");
}

#[test]
fn a_schema_only_dump_is_refused_over_a_database_with_rows() {
    let stack = seeded("rs-schemaonly");
    let file = stack.backups().join("schema only.sql");
    std::fs::create_dir_all(stack.backups()).unwrap();
    duct::cmd!("docker", "exec", stack.db_container(), "pg_dump", "--schema-only", "-U", "demo", "demo")
        .stdout_path(&file)
        .run()
        .unwrap();
    let before = stack.data_checksum();
    let err = verify_and_replay(&stack, &file).unwrap_err();
    assert!(err.contains("no table data") && err.contains("rows"), "{err}");
    assert_eq!(stack.data_checksum(), before);

    // Into a database without rows it is harmless, and accepted.
    stack.psql("TRUNCATE customers, orders, \"Weird Name\", audit.log");
    verify_and_replay(&stack, &file).unwrap();
}

#[test]
fn a_straggler_session_holding_a_lock_fails_the_restore_by_name() {
    let stack = seeded("rs-straggler");
    let backup = backup(&stack);
    stack.psql("UPDATE customers SET name = 'after backup' WHERE id = 1");
    let before = stack.data_checksum();
    let straggler = duct::cmd!(
        "docker",
        "exec",
        "-e",
        "PGAPPNAME=straggler",
        stack.db_container(),
        "psql",
        "-U",
        "demo",
        "-d",
        "demo",
        "-c",
        "BEGIN; LOCK TABLE customers IN ACCESS SHARE MODE; SELECT pg_sleep(300);"
    )
    .stdout_null()
    .stderr_null()
    .unchecked()
    .start()
    .unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    while stack
        .psql("SELECT count(*) FROM pg_stat_activity WHERE application_name = 'straggler' AND wait_event = 'PgSleep'")
        != "1"
    {
        assert!(std::time::Instant::now() < deadline, "the straggler session started");
        std::thread::sleep(std::time::Duration::from_millis(100));
    }

    let err = verify_and_replay(&stack, &backup.path).unwrap_err();
    stack.psql("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = 'straggler'");
    let _ = straggler.wait();
    assert!(
        err.contains("lock_timeout") && err.contains("'straggler'") && err.contains("pg_terminate_backend"),
        "{err}"
    );
    assert_eq!(stack.data_checksum(), before, "the database is unchanged");
}

#[test]
fn schemas_owned_by_an_extension_are_left_to_it() {
    let stack = seeded("rs-extschema");
    let install = |name: &str, text: &str| {
        duct::cmd!(
            "docker",
            "exec",
            "-i",
            "-u",
            "root",
            stack.db_container(),
            "sh",
            "-c",
            format!("cat > \"$(pg_config --sharedir)/extension/{name}\"")
        )
        .stdin_bytes(text)
        .run()
        .unwrap();
    };
    install("drydock_owner.control", "default_version = '1.0'\nrelocatable = false\nsuperuser = false\n");
    install(
        "drydock_owner--1.0.sql",
        "CREATE SCHEMA drydock_owned;\nCREATE FUNCTION drydock_owned.answer() RETURNS int LANGUAGE sql AS 'SELECT 42';\n",
    );
    stack.psql("CREATE EXTENSION drydock_owner SCHEMA pg_catalog");
    let backup = backup(&stack);
    let before = snapshot(&stack);
    stack.psql(crate::CHANGES);

    verify_and_replay(&stack, &backup.path).unwrap();
    assert_eq!(snapshot(&stack), before);
    assert_eq!(stack.psql("SELECT drydock_owned.answer()"), "42");
}
