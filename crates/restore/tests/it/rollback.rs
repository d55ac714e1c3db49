//! Replays that fail roll back.

use std::sync::atomic::{AtomicBool, Ordering};

use restore::RestoreError;

use crate::{backup, client, seeded, snapshot, SEED};

#[test]
fn an_error_in_the_middle_rolls_back() {
    let stack = testbench::Stack::new("rs-midfail", compose::Flavor::V2);
    stack.up();
    stack.psql(SEED);
    stack.psql("CREATE TABLE padding AS SELECT g, repeat('p', 100) AS pad FROM generate_series(1, 40000) g");
    let backup = backup(&stack);
    stack.psql("UPDATE customers SET name = 'after backup'");
    let before = snapshot(&stack);

    // The backup with a statement the server refuses early on, then megabytes more.
    let text = std::fs::read_to_string(&backup.path).unwrap();
    let at = text.find("CREATE TABLE public.orders").unwrap();
    let broken = stack.backups().join("broken.sql");
    std::fs::write(&broken, format!("{}GRANT SELECT ON public.no_such_table TO PUBLIC;\n{}", &text[..at], &text[at..]))
        .unwrap();
    let verified = ::backup::verify(&broken).unwrap();

    // (The app services stopped and started around it: the restore pipeline, xtask/src/tests/restore.rs.)
    let err = restore::replay(&client(&stack), &verified, &AtomicBool::new(false), &mut |_| {}).unwrap_err();
    assert!(matches!(err, RestoreError::Failed { .. }), "{err:?}");
    assert!(err.to_string().contains("no_such_table") && err.to_string().contains("rolled back"), "{err}");
    assert_eq!(snapshot(&stack), before, "rolled back");
}

#[test]
fn a_stream_cut_short_rolls_back() {
    let stack = seeded("rs-cut");
    stack.psql("CREATE TABLE padding AS SELECT g, repeat('p', 100) AS pad FROM generate_series(1, 40000) g");
    let backup = backup(&stack);
    stack.psql("UPDATE customers SET name = 'after backup'");
    let before = snapshot(&stack);
    let verified = ::backup::verify(&backup.path).unwrap();
    let cancel = AtomicBool::new(false);
    let err = restore::replay(&client(&stack), &verified, &cancel, &mut |n| {
        if n > 1 << 20 {
            cancel.store(true, Ordering::Relaxed)
        }
    })
    .unwrap_err();
    assert_eq!(err, RestoreError::Interrupted);
    assert_eq!(snapshot(&stack), before, "rolled back");
}

#[test]
fn an_interruption_after_the_last_byte_reports_what_the_server_decided() {
    let stack = seeded("rs-lastbyte");
    let backup = backup(&stack);
    let at_backup = snapshot(&stack);
    stack.psql("UPDATE customers SET name = 'after backup'");
    let before = snapshot(&stack);
    let verified = ::backup::verify(&backup.path).unwrap();
    let cancel = AtomicBool::new(false);
    let result = restore::replay(&client(&stack), &verified, &cancel, &mut |n| {
        if n == verified.size {
            cancel.store(true, Ordering::Relaxed)
        }
    });
    // Either outcome may happen; what is reported must be what happened.
    match result {
        Ok(_) => assert_eq!(snapshot(&stack), at_backup, "reported restored"),
        Err(RestoreError::Interrupted) => {
            assert_eq!(snapshot(&stack), before, "reported rolled back")
        }
        Err(e) => panic!("the server knows the outcome, yet: {e}"),
    }
    let left = stack.psql("SELECT count(*) FROM pg_stat_activity WHERE application_name LIKE 'drydock restore %'");
    assert_eq!(left, "0", "the restore's session is gone");
}
