//! A contributor's pipeline: composed from existing steps, it runs as is.

use compose::Flavor;
use testbench::Stack;

use super::{backup_files, ctx, options, run_on};
use crate::pipeline::Pipeline;
use crate::steps;

/// Back up, then restart the app services from their current images.
const BACKUP_AND_RESTART: Pipeline = Pipeline {
    name: "backup-and-restart",
    about: "verified backup, then restart the app services",
    steps: &[&steps::LOCK, &steps::BACKUP, &steps::STOP, &steps::START, &steps::UNLOCK],
};

#[test]
fn a_pipeline_composed_from_existing_steps_runs() {
    let stack = Stack::new("composed", Flavor::V2);
    stack.up();
    let db = stack.db_identity();
    let api = stack.compose.container_ids("api").unwrap();
    // Nothing changed, so only --restart-all restarts the app services.
    let restart_all = crate::pipeline::Options { restart_all: true, ..options() };
    run_on(&ctx(), &stack, &BACKUP_AND_RESTART, restart_all).expect("composed pipeline");
    assert_eq!(backup_files(&stack).len(), 1);
    assert_eq!(stack.db_identity(), db);
    assert_ne!(stack.compose.container_ids("api").unwrap(), api);
}
