//! Files that are refused before anything is touched.

use crate::{backup, seeded, snapshot, verify_and_replay};

#[test]
fn doubtful_files_are_refused_and_the_database_is_unchanged() {
    let stack = seeded("rs-refuse");
    let backup = backup(&stack);
    stack.psql("UPDATE customers SET name = 'after backup' WHERE id = 1");
    let before = snapshot(&stack);
    let dir = stack.backups();
    let bytes = std::fs::read(&backup.path).unwrap();

    let truncated = dir.join("backup_test_20200101_000000.sql");
    std::fs::write(&truncated, &bytes[..bytes.len() * 2 / 3]).unwrap();

    let corrupted = dir.join("backup_test_20200101_000001.sql");
    std::fs::write(&corrupted, &bytes).unwrap();
    std::fs::write(format!("{corrupted}.sha256"), format!("{}  {}\n", "0".repeat(64), corrupted.file_name().unwrap()))
        .unwrap();

    let text = dir.join("notes.sql");
    std::fs::write(&text, "DROP TABLE customers CASCADE;\n-- PostgreSQL database dump complete\n").unwrap();

    let cases = [
        (truncated.clone(), "incomplete"),
        (corrupted.clone(), "does not match its .sha256 sidecar"),
        (text.clone(), "not a plain-SQL pg_dump"),
        (dir.join("no such file.sql"), "no such file"),
        (dir.to_owned(), "is a directory"),
    ];
    for (path, reason) in cases {
        let err = verify_and_replay(&stack, &path).unwrap_err();
        assert!(err.contains(reason), "{path}: {err}");
        assert!(err.contains(path.as_str()), "the message names the file: {err}");
        assert_eq!(snapshot(&stack), before, "{path}: database changed");
    }
}
