//! Backups that fail leave nothing that looks like a backup.

use std::sync::atomic::{AtomicBool, Ordering};

use backup::{BackupError, PgClient};

use crate::{files, seeded};

#[test]
fn a_failing_pg_dump_leaves_no_file() {
    let stack = seeded("bk-wrongdb");
    let client = PgClient::container(&stack.compose).unwrap().with_dbname("no_such_database");
    let err = backup::dump(&client, stack.backups(), "test", &|| false, &mut |_| {}).unwrap_err();
    assert!(matches!(err, BackupError::PgDumpFailed { .. }), "{err:?}");
    let msg = err.to_string();
    assert!(msg.contains("no_such_database") && msg.contains("no backup was written"), "{msg}");
    assert_eq!(files(stack.backups()), Vec::<String>::new());
}

#[test]
fn a_stopped_database_container_leaves_no_file() {
    let stack = seeded("bk-stopped");
    let client = PgClient::container(&stack.compose).unwrap();
    stack.raw_compose(&["stop", "postgres"]).stdout_null().stderr_null().run().unwrap();
    // pg_dump runs in the container the client was made for: once it has
    // stopped, the failed exec is followed by asking the engine, and the
    // error says how to start it.
    let err = backup::dump(&client, stack.backups(), "test", &|| false, &mut |_| {}).unwrap_err();
    assert!(matches!(err, BackupError::Compose { .. }) && err.to_string().contains("not running"), "{err:?}");
    assert_eq!(files(stack.backups()), Vec::<String>::new());
    let err = PgClient::container(&stack.compose).unwrap_err().to_string();
    assert!(err.contains("not running"), "{err}");
}

#[test]
fn an_interrupted_dump_leaves_no_file() {
    let stack = seeded("bk-interrupt");
    stack.psql("CREATE TABLE big AS SELECT g, repeat('x', 200) AS pad FROM generate_series(1, 200000) g");
    let client = PgClient::container(&stack.compose).unwrap();
    let cancel = AtomicBool::new(false);
    let err = backup::dump(&client, stack.backups(), "test", &|| cancel.load(Ordering::Relaxed), &mut |_| {
        cancel.store(true, Ordering::Relaxed)
    })
    .unwrap_err();
    assert_eq!(err, BackupError::Interrupted);
    assert_eq!(files(stack.backups()), Vec::<String>::new());
}

#[test]
fn a_full_disk_leaves_no_file() {
    let stack = seeded("bk-diskfull");
    stack.psql("CREATE TABLE big AS SELECT g, repeat('x', 200) AS pad FROM generate_series(1, 20000) g");
    let dir = crate::TempDir::new("diskfull");
    let mount = duct::cmd!("mount", "-t", "tmpfs", "-o", "size=512k", "tmpfs", &dir.0)
        .stderr_capture()
        .unchecked()
        .run()
        .unwrap();
    if !mount.status.success() {
        eprintln!("skipped: mounting a small tmpfs needs root ({})", String::from_utf8_lossy(&mount.stderr).trim());
        return;
    }
    let client = PgClient::container(&stack.compose).unwrap();
    let result = backup::dump(&client, &dir.0, "test", &|| false, &mut |_| {});
    let left = files(&dir.0);
    duct::cmd!("umount", &dir.0).run().unwrap();
    let err = result.unwrap_err();
    assert!(matches!(err, BackupError::DiskFull { .. }), "{err:?}");
    assert!(err.to_string().contains("free space"), "{err}");
    assert_eq!(left, Vec::<String>::new());
}
