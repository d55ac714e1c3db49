//! Pipeline tests against real containers (the demo stack under a unique
//! project), run in-process so each test points the pipeline at its own stack.
//!
//! - `deploy`: a full deploy keeps the database and applies migrations; the
//!   refusals (destructive Dockerfile, sqlite lock file) change nothing; two
//!   deploys at once; a failing migration; a release that never gets healthy.
//! - `compose_steps`: a new pipeline composed from existing steps runs.
//! - `release`: only what changed restarts; one-shot services; migrations
//!   before the start; `deploy ENV` and `run PIPELINE ENV`.
//! - `migrate_env`: `migrate ENV` as a pipeline: dry run, backup, journal, drift refused.
//! - `registry`: pulled app services against a registry on loopback.
//! - `restore`: the restore pipeline: a failed replay rolls back and the app
//!   runs again, the dry run changes nothing, a good one restores; journal lines.
//! - `tidy`: checks of the repository itself (doc lines, no printing in
//!   libraries, no `down`/volume removal, every task in the README).

mod compose_steps;
mod deploy;
mod migrate_env;
mod registry;
mod release;
mod restore;
mod tidy;

use std::time::Duration;

use compose::Flavor;
use testbench::Stack;

use crate::context::Ctx;
use crate::pipeline::{self, Options, Pipeline, Run};
use crate::ui::Ui;

/// A context for tests: the real workspace, plain output.
fn ctx() -> Ctx {
    let root = crate::context::workspace_root();
    let config = config::Config::load(&root).unwrap();
    Ctx { root, config, ui: Ui { tty: false, color: false }, composes: Default::default() }
}

/// Runs `pipeline` against `stack`.
fn run_on(ctx: &Ctx, stack: &Stack, pipeline: &Pipeline, options: Options) -> eyre::Result<()> {
    pipeline::run(pipeline, Run::new(ctx, stack.env.clone(), stack.compose.clone(), pipeline.name, options))
}

/// Default options with a short lock wait.
fn options() -> Options {
    Options { lock_wait: Duration::ZERO, ..Options::default() }
}

/// (id, StartedAt) of every container of the stack, for "nothing changed".
fn identities(stack: &Stack) -> Vec<(String, String, String)> {
    let mut all: Vec<_> = stack
        .compose
        .states()
        .unwrap()
        .into_iter()
        .flat_map(|s| s.containers.into_iter().map(move |c| (s.service.clone(), c.id, c.started_at)))
        .collect();
    all.sort();
    all
}

/// Backup files (not sidecars, not the journal) in the stack's backups folder.
fn backup_files(stack: &Stack) -> Vec<String> {
    let Ok(entries) = std::fs::read_dir(stack.backups()) else { return Vec::new() };
    let mut names: Vec<String> = entries
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with("backup_") && n.ends_with(".sql"))
        .collect();
    names.sort();
    names
}

#[allow(dead_code)]
const FLAVOR: Flavor = Flavor::V2;
