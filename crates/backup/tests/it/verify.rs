//! `verify` rejects what is not a complete backup.

use std::io::Write;

use backup::{Sidecar, VerifyError};

use crate::{dump, seeded, TempDir};

#[test]
fn a_file_cut_in_the_middle_is_rejected() {
    let stack = seeded("bk-verify");
    let backup = dump(&stack).unwrap();
    let bytes = std::fs::read(&backup.path).unwrap();
    let dir = TempDir::new("cut");

    // A copy cut in half, without sidecar: the trailer check rejects it.
    let cut = dir.0.join("backup_test_20260101_000000.sql");
    std::fs::write(&cut, &bytes[..bytes.len() / 2]).unwrap();
    assert!(matches!(backup::verify(&cut), Err(VerifyError::Truncated { .. })));

    // The backup itself cut just before its trailer, sidecar kept.
    let at = String::from_utf8_lossy(&bytes).rfind(backup::TRAILER).unwrap();
    std::fs::write(&backup.path, &bytes[..at]).unwrap();
    let err = backup::verify(&backup.path).unwrap_err();
    assert!(matches!(err, VerifyError::Truncated { .. }), "{err:?}");
    assert!(err.to_string().starts_with("backup is incomplete (no \"dump complete\" trailer): "), "{err}");

    // Complete again but one byte changed: the sidecar catches it.
    let mut changed = bytes.clone();
    let pos = String::from_utf8_lossy(&bytes).find("c250").unwrap();
    changed[pos + 1] = b'9';
    std::fs::write(&backup.path, &changed).unwrap();
    assert!(matches!(backup::verify(&backup.path), Err(VerifyError::ChecksumMismatch { .. })));

    // Restored bytes, no sidecar: accepted on the trailer alone.
    std::fs::write(&backup.path, &bytes).unwrap();
    std::fs::remove_file(&backup.sidecar).unwrap();
    assert_eq!(backup::verify(&backup.path).unwrap().sidecar, Sidecar::Missing);
    std::fs::write(&backup.sidecar, "garbage\n").unwrap();
    assert!(matches!(backup::verify(&backup.path), Err(VerifyError::SidecarMalformed { .. })));
}

#[test]
fn what_is_not_a_dump_is_rejected() {
    let dir = TempDir::new("notdump");
    assert!(matches!(backup::verify(&dir.0.join("nope.sql")), Err(VerifyError::Missing { .. })));
    assert!(matches!(backup::verify(&dir.0), Err(VerifyError::Directory { .. })));
    let empty = dir.0.join("empty.sql");
    std::fs::write(&empty, "").unwrap();
    assert!(matches!(backup::verify(&empty), Err(VerifyError::Empty { .. })));
    let text = dir.0.join("notes.txt");
    std::fs::write(&text, "shopping list\n-- PostgreSQL database dump complete\n").unwrap();
    assert!(matches!(backup::verify(&text), Err(VerifyError::NotPlainSql { .. })));
    let custom = dir.0.join("custom.dump");
    std::fs::File::create(&custom).unwrap().write_all(b"PGDMP\x01\x0e\x00").unwrap();
    let err = backup::verify(&custom).unwrap_err();
    assert!(err.to_string().contains("pg_restore"), "{err}");
}
