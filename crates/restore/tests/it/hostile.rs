//! Hostile backups, class by class: each is refused before anything
//! changes, by the pre-check and by the replay on its own, with the line and
//! what to do; the data is unchanged and nothing ran in the container.

use std::sync::atomic::AtomicBool;

use restore::{Outcome, RestoreError};
use testbench::Stack;

use crate::{backup, client, seeded};

/// What is put where pg_dump's settings end (before its first `CREATE`),
/// and what the refusal must say.
const CASES: &[(&str, &str)] = &[
    // Transaction control, in spellings the server accepts.
    ("END;\nSELECT 1 / 0;", "would end or change the restore's transaction"),
    ("  COMMIT;", "would end or change"),
    ("COMMIT /* x */ ;", "would end or change"),
    ("commit\n;", "would end or change"),
    ("/* c */ CoMmIt -- y\n;", "would end or change"),
    ("ROLLBACK AND CHAIN;", "would end or change"),
    ("COMMIT AND CHAIN;", "would end or change"),
    ("ABORT;", "would end or change"),
    ("START TRANSACTION;", "would end or change"),
    ("PREPARE TRANSACTION 'x';", "would end or change"),
    ("COMMIT PREPARED 'x';", "would end or change"),
    ("SAVEPOINT s;", "would end or change"),
    ("SELECT pg_catalog.set_config('search_path', '', false); COMMIT;", "would end or change"),
    // psql meta-commands wherever psql would see one.
    ("\\! touch /tmp/pwned", "psql meta-command"),
    ("   \\! touch /tmp/pwned", "psql meta-command"),
    ("SELECT 1 \\! touch /tmp/pwned", "psql meta-command"),
    ("SET row_security = off; \\! touch /tmp/pwned", "psql meta-command"),
    ("\\connect postgres", "psql meta-command"),
    ("\\o /tmp/pwned", "psql meta-command"),
    ("\\set ON_ERROR_STOP off", "psql meta-command"),
    // COPY anywhere but from pg_dump's stdin.
    ("COPY public.customers FROM PROGRAM 'touch /tmp/pwned';", "is not pg_dump's `COPY"),
    ("copy public.customers to program 'touch /tmp/pwned';", "is not pg_dump's `COPY"),
    ("COPY public.customers (id) FROM '/etc/passwd';", "is not pg_dump's `COPY"),
    ("COPY (SELECT 1) TO '/tmp/pwned';", "is not pg_dump's `COPY"),
    // A COPY in a comment or a function body is no COPY: what follows is SQL.
    ("-- COPY public.customers (id) FROM stdin;\nCOMMIT;", "would end or change"),
    ("/*\nCOPY public.customers (id) FROM stdin;\n*/\nCOMMIT;", "would end or change"),
    ("CREATE FUNCTION public.h() RETURNS void LANGUAGE sql AS $$\nCOPY public.customers (id) FROM stdin;\n$$;\nCOMMIT;", "would end or change"),
    // Settings and code pg_dump never writes.
    ("SET standard_conforming_strings = off;", "standard_conforming_strings"),
    ("SET SESSION AUTHORIZATION postgres;", "SET SESSION"),
    ("SET ROLE postgres;", "SET ROLE"),
    ("DO $$ BEGIN EXECUTE 'COPY (SELECT 1) TO PROGRAM ''touch /tmp/pwned'''; END $$;", "would run code"),
    ("CALL public.p();", "would run code"),
    ("SELECT pg_catalog.pg_read_file('/etc/passwd');", "pg_catalog.pg_read_file"),
    ("SELECT 1 / 0;", "is a query pg_dump never writes"),
    // Destruction and the server itself.
    ("DROP TABLE public.customers;", "would drop"),
    ("DROP SCHEMA IF EXISTS public CASCADE;", "CASCADE"),
    ("CREATE DATABASE pwned;", "a database"),
    ("ALTER SYSTEM SET fsync = off;", "ALTER SYSTEM"),
    ("TRUNCATE public.customers;", "is not a statement pg_dump writes"),
    ("VACUUM;", "is not a statement pg_dump writes"),
    ("LISTEN x;", "is not a statement pg_dump writes"),
];

/// No program ran in the database container.
fn nothing_ran(stack: &Stack) -> bool {
    duct::cmd!("docker", "exec", stack.db_container(), "test", "!", "-e", "/tmp/pwned")
        .unchecked()
        .run()
        .unwrap()
        .status
        .success()
}

#[test]
fn hostile_backups_are_refused_before_anything_changes() {
    let stack = seeded("rs-hostile");
    // Data that looks like SQL or meta-commands is data, and restores as such.
    stack.psql(r"INSERT INTO customers (name, note) VALUES ('\! touch /tmp/pwned', E'COMMIT;\n\\.\nx'), ('END;', 'x')");
    let backup = backup(&stack);
    let at_backup = stack.data_checksum();
    stack.psql("UPDATE customers SET name = 'after backup' WHERE id = 1");
    let before = stack.data_checksum();
    let text = std::fs::read_to_string(&backup.path).unwrap();
    let at = text.find("\nCREATE ").expect("a CREATE") + 1;
    let line = text[..at].matches('\n').count() + 1;

    for (i, (extra, says)) in CASES.iter().enumerate() {
        let file = stack.backups().join(format!("hostile {i}.sql"));
        std::fs::write(&file, format!("{}{extra}\n{}", &text[..at], &text[at..])).unwrap();
        let verified = ::backup::verify(&file).unwrap();

        let err = restore::check(&client(&stack), &verified).unwrap_err();
        let message = err.to_string();
        assert!(matches!(err, RestoreError::Refused { .. }), "{extra:?}: {err:?}");
        assert!(message.contains(says), "{extra:?}: {message}");
        assert!(
            message.contains("this file is not a pg_dump plain-SQL backup: line ")
                && message.contains("restore only files made by `cargo xtask backup` or pg_dump"),
            "{extra:?}: {message}"
        );
        let at_line = (0..=extra.lines().count()).any(|k| message.contains(&format!("line {} ", line + k)));
        assert!(at_line, "{extra:?}: not at line {line}: {message}");

        // The replay refuses it on its own too, and the server confirms the rollback.
        let err = restore::replay(&client(&stack), &verified, &AtomicBool::new(false), &mut |_| {}).unwrap_err();
        assert_eq!(err.outcome(), Outcome::Refused, "{extra:?}: {err}");
        assert_eq!(stack.data_checksum(), before, "{extra:?}: the data is unchanged");
        assert!(nothing_ran(&stack), "{extra:?}: a program ran in the database container");
    }

    // A premature `\.` in COPY data: the rest of the data is read as SQL, and refused.
    let copy = text.find("FROM stdin;\n").expect("a COPY") + "FROM stdin;\n".len();
    let file = stack.backups().join("premature end of data.sql");
    std::fs::write(&file, format!("{}\\.\n{}", &text[..copy], &text[copy..])).unwrap();
    let verified = ::backup::verify(&file).unwrap();
    let err = restore::check(&client(&stack), &verified).unwrap_err();
    assert!(err.to_string().contains("this file is not a pg_dump plain-SQL backup"), "{err}");
    assert_eq!(stack.data_checksum(), before);

    // The untouched backup still restores, its odd data included, and runs nothing.
    crate::verify_and_replay(&stack, &backup.path).unwrap();
    assert_eq!(stack.data_checksum(), at_backup);
    assert_eq!(stack.psql("SELECT count(*) FROM customers WHERE note LIKE 'COMMIT;%'"), "1");
    assert!(nothing_ran(&stack));
}

#[test]
fn a_connection_lost_mid_replay_is_a_confirmed_rollback() {
    let stack = seeded("rs-terminated");
    stack.psql("CREATE TABLE padding AS SELECT g, repeat('p', 100) AS pad FROM generate_series(1, 40000) g");
    let backup = backup(&stack);
    stack.psql("UPDATE customers SET name = 'after backup'");
    let before = stack.data_checksum();
    let verified = ::backup::verify(&backup.path).unwrap();
    let mut terminated = false;
    let err = restore::replay(&client(&stack), &verified, &AtomicBool::new(false), &mut |n| {
        if n > 1 << 20 && !terminated {
            terminated = true;
            stack.psql("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name LIKE 'drydock restore %'");
        }
    })
    .unwrap_err();
    assert!(terminated);
    // The connection is gone: txid_status from a new one is the server's word.
    assert_eq!(err.outcome(), Outcome::RolledBack, "{err}");
    assert!(err.to_string().contains("confirmed"), "{err}");
    assert_eq!(stack.data_checksum(), before);
}
