//! `cargo xtask deploy-prod` / `deploy-dev`: the deploy pipeline (see
//! `pipeline.rs` for its steps and runner).

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
}

pub(crate) fn run(ctx: &Ctx, env: &str, args: Args) -> Result<()> {
    let options = Options {
        dry_run: args.dry_run,
        allow_destructive: args.allow_destructive,
        lock_wait: Duration::from_secs(args.lock_wait),
    };
    pipeline::deploy(ctx, env, options)
}
