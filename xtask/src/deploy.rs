//! `cargo xtask deploy ENV` (and the seed's `deploy-prod` / `deploy-dev`):
//! the deploy pipeline; `cargo xtask run PIPELINE ENV`: any pipeline (see
//! `pipeline.rs` for the steps and the runner); `migrate ENV`, the migrate pipeline.

use std::time::Duration;

use eyre::Result;

use crate::pipeline::{self, Options};
use crate::Ctx;

#[derive(clap::Args)]
pub(crate) struct Args {
    /// Print the plan (environment, services, backup name, pending migrations); change nothing.
    #[arg(long)]
    dry_run: bool,
    /// Apply pending migrations that drop, truncate or rewrite data.
    #[arg(long)]
    allow_destructive: bool,
    /// Wait up to SECONDS for another deploy of the same environment to finish.
    #[arg(long, value_name = "SECONDS", default_value_t = 0)]
    lock_wait: u64,
    /// Stop and recreate every app service, even those whose image and configuration are unchanged.
    #[arg(long)]
    restart_all: bool,
}

/// `deploy ENV`.
#[derive(clap::Args)]
pub(crate) struct EnvArgs {
    /// The environment, as configured in Cargo.toml (`prod`, `dev`, `staging`, ...).
    env: String,
    #[command(flatten)]
    args: Args,
}

/// `run PIPELINE ENV`.
#[derive(clap::Args)]
pub(crate) struct RunArgs {
    /// A pipeline of `cargo xtask pipelines`.
    pipeline: String,
    /// The environment, as configured in Cargo.toml.
    env: String,
    #[command(flatten)]
    args: Args,
}

pub(crate) fn run(ctx: &Ctx, env: &str, args: Args) -> Result<()> {
    pipeline::deploy(ctx, env, args.options())
}

/// `cargo xtask deploy ENV`.
pub(crate) fn deploy_env(ctx: &Ctx, args: EnvArgs) -> Result<()> {
    pipeline::deploy(ctx, &args.env, args.args.options())
}

/// `cargo xtask run PIPELINE ENV`.
pub(crate) fn run_pipeline(ctx: &Ctx, args: RunArgs) -> Result<()> {
    pipeline::run_named(ctx, &args.pipeline, &args.env, args.args.options())
}

/// `cargo xtask migrate ENV`: the migrate pipeline through the one runner.
pub(crate) fn migrate_env(ctx: &Ctx, env: &str, flags: crate::migrate::Flags) -> Result<()> {
    let options = Options { dry_run: flags.dry_run, migrate: flags, ..Options::default() };
    pipeline::run_named(ctx, pipeline::MIGRATE.name, env, options)
}

impl Args {
    fn options(&self) -> Options {
        Options {
            dry_run: self.dry_run,
            allow_destructive: self.allow_destructive,
            lock_wait: Duration::from_secs(self.lock_wait),
            restart_all: self.restart_all,
            migrate: Default::default(),
        }
    }
}
