//! `migrate ENV` as the migrate pipeline: the dry run changes nothing and
//! refuses what the run would refuse; the run backs up, applies and leaves
//! its journal line; a run applies the files it planned.

use super::deploy::{add_migration, deployed};
use super::{backup_files, ctx, options, run_on};
use crate::journal;
use crate::pipeline::{Options, Pipeline, Run, MIGRATE};
use crate::steps::{self, Step};

const PLANNED: &str = "20260402000000_add_planned";

/// The migrate pipeline with a step that rewrites the pending file after the plan.
const EDITED_AFTER_PLAN: Pipeline = Pipeline {
    name: "migrate",
    about: "migrate, with the pending file edited between the plan and the apply",
    steps: &[&steps::LOCK_RUNNING, &steps::PLAN, &EDIT, &steps::BACKUP_IF_PENDING, &steps::APPLY, &steps::UNLOCK],
};

const EDIT: Step =
    Step { name: "edit", about: "rewrite the planned file", alone: "-", run: edit_planned, plan: |_| Ok(Vec::new()) };

fn edit_planned(run: &mut Run) -> eyre::Result<String> {
    std::fs::write(run.env.migrations().join(PLANNED).join("migration.sql"), "CREATE TABLE swapped (id int);\n")?;
    Ok("edited".to_owned())
}

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
    assert_eq!(names, ["lock", "plan", "backup", "migrate", "unlock"]);

    // An edited applied migration: the dry run refuses as the run would (exit 2).
    std::fs::write(
        stack.env.migrations().join("20260401000000_add_mp/migration.sql"),
        "CREATE TABLE mp (id bigint);\n",
    )
    .unwrap();
    let err = run_on(&ctx(), &stack, &MIGRATE, Options { dry_run: true, ..options() }).unwrap_err();
    assert_eq!(crate::exit::of(&err).code(), 2, "{err:#}");
    assert!(format!("{err:#}").contains("--allow-drift"), "{err:#}");

    std::fs::write(stack.env.migrations().join("20260401000000_add_mp/migration.sql"), "CREATE TABLE mp (id int);\n")
        .unwrap();

    // The folder is read once per run: what the plan showed is what runs, and
    // the ledger's checksum is the planned file's.
    let planned = "CREATE TABLE planned (id int);\n";
    add_migration(&stack, PLANNED, planned);
    run_on(&ctx(), &stack, &EDITED_AFTER_PLAN, options()).expect("migrate with an edit after the plan");
    assert_eq!(stack.psql("SELECT to_regclass('public.planned') IS NOT NULL"), "t", "the planned file did not run");
    assert_eq!(stack.psql("SELECT to_regclass('public.swapped') IS NULL"), "t", "a file edited after the plan ran");
    let recorded = stack.psql(&format!("SELECT checksum FROM _prisma_migrations WHERE migration_name = '{PLANNED}'"));
    assert_eq!(recorded, migrate::checksum(planned.as_bytes()));

    // `migrate ENV` never starts the database: a stopped one is an error, and stays stopped.
    let db = stack.db_container();
    stack.raw_compose(&["stop", stack.env.database_service()]).stdout_null().stderr_null().run().unwrap();
    let err = run_on(&ctx(), &stack, &MIGRATE, options()).unwrap_err();
    assert!(format!("{err:#}").contains("not running"), "{err:#}");
    let running = duct::cmd!("docker", "inspect", "-f", "{{.State.Running}}", &db).read().unwrap();
    assert_eq!(running, "false", "migrate ENV started the stopped database");
}
