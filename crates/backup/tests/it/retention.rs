//! Retention deletes exactly the oldest matching backups; listing is newest first.

use backup::BackupError;

use crate::{files, TempDir};

#[test]
fn prune_deletes_exactly_the_oldest_matching_files() {
    let dir = TempDir::new("prune");
    let touch = |name: &str| std::fs::write(dir.0.join(name), "x").unwrap();
    let ours = [
        "backup_prod_20250101_000000.sql",
        "backup_prod_20250102_000000.sql",
        "backup_prod_20250103_000000.sql",
        "backup_prod_20250104_000000.sql",
    ];
    for name in ours {
        touch(name);
        touch(&format!("{name}.sha256"));
    }
    let others = [
        ".backup_prod_20240101_000000.sql.partial",
        "backup_prod_20240101_000000.sql.bak",
        "backup_prod_20240101_000000.sql.gz",
        "backup_prod_eu_20240101_000000.sql",
        "backup_staging_20240101_000000.sql",
        "backup_prod_20240101_000000_1.sql",
        "my_backup_prod_20240101_000000.sql",
        "notes.txt",
    ];
    for name in others {
        touch(name);
    }
    std::fs::create_dir(dir.0.join("backup_prod_20240101_000001.sql")).unwrap();

    let removed = backup::prune(&dir.0, "prod", 2).unwrap();
    let removed: Vec<&str> = removed.iter().map(|p| p.file_name().unwrap()).collect();
    assert_eq!(removed, vec![ours[1], ours[0]]);

    let mut expected: Vec<String> = others.iter().map(|s| s.to_string()).collect();
    expected.push("backup_prod_20240101_000001.sql".into());
    for name in &ours[2..] {
        expected.push(name.to_string());
        expected.push(format!("{name}.sha256"));
    }
    expected.sort();
    assert_eq!(files(&dir.0), expected);

    assert!(backup::prune(&dir.0, "prod", 2).unwrap().is_empty(), "nothing more to delete");
    assert_eq!(backup::prune(&dir.0, "prod", 0), Err(BackupError::KeepZero));
    assert_eq!(backup::prune(&dir.0, "prod", 1).unwrap().len(), 1);
    assert!(dir.0.join(ours[3]).exists(), "the newest is never deleted");
}

#[test]
fn list_is_newest_first_and_per_environment() {
    let dir = TempDir::new("list");
    for name in [
        "backup_prod_20250102_000000.sql",
        "backup_dev_20250103_000000.sql",
        "backup_prod_20250101_000000.sql",
        ".backup_prod_20250104_000000.sql.partial",
    ] {
        std::fs::write(dir.0.join(name), "x").unwrap();
    }
    let names = |env| -> Vec<String> {
        backup::list(&dir.0, env).unwrap().into_iter().map(|b| b.path.file_name().unwrap().to_owned()).collect()
    };
    assert_eq!(names(Some("prod")), vec!["backup_prod_20250102_000000.sql", "backup_prod_20250101_000000.sql"]);
    assert_eq!(names(None)[0], "backup_dev_20250103_000000.sql");
    assert_eq!(names(None).len(), 3);
    assert!(backup::list(&dir.0.join("missing"), None).unwrap().is_empty());
}
