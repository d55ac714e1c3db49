//! `migrate ENV` as the migrate pipeline: the dry run changes nothing and
//! refuses what the run would refuse; the run backs up, applies and leaves
//! its journal line.

use super::deploy::{add_migration, deployed};
use super::{backup_files, ctx, options, run_on};
use crate::journal;
use crate::pipeline::{Options, MIGRATE};

#[test]
fn the_migrate_pipeline_plans_backs_up_applies_and_journals() {
    let stack = deployed("migpipe", |_| {});
    add_migration(&stack, "20260401000000_add_mp", "CREATE TABLE mp (id int);\n");
    let exists = || stack.psql("SELECT to_regclass('public.mp') IS NOT NULL");
    let backups = backup_files(&stack).len();

    run_on(&ctx(), &stack, &MIGRATE, Options { dry_run: true, ..options() }).expect("dry run");
    assert_eq!(exists(), "f", "the dry run applied the migration");
    assert_eq!(backup_files(&stack).len(), backups, "the dry run took a backup");

    run_on(&ctx(), &stack, &MIGRATE, options()).expect("migrate");
    assert_eq!(exists(), "t");
    assert_eq!(backup_files(&stack).len(), backups + 1, "no pre-migration backup");
    let last = journal::read(stack.backups()).pop().expect("a journal line");
    assert!(last.pipeline == "migrate" && last.ok && last.backup.is_some(), "{last:?}");
    let names: Vec<&str> = last.steps.iter().map(|s| s.name.as_str()).collect();
    assert_eq!(names, ["plan", "lock", "backup", "migrate", "unlock"]);

    // An edited applied migration: the dry run refuses as the run would (exit 2).
    std::fs::write(
        stack.env.migrations().join("20260401000000_add_mp/migration.sql"),
        "CREATE TABLE mp (id bigint);\n",
    )
    .unwrap();
    let err = run_on(&ctx(), &stack, &MIGRATE, Options { dry_run: true, ..options() }).unwrap_err();
    assert_eq!(crate::exit::of(&err).code(), 2, "{err:#}");
    assert!(format!("{err:#}").contains("--allow-drift"), "{err:#}");
}
