//! `cargo xtask migrate`: apply pending Prisma-layout migrations (issue 4). Stub.

use eyre::Result;

use crate::Ctx;

#[derive(clap::Args)]
pub(crate) struct Args {
    /// Environment (prod, dev).
    env: String,
}

pub(crate) fn run(_ctx: &Ctx, args: Args) -> Result<()> {
    eyre::bail!("migrate {} is not implemented yet", args.env)
}

/// Number of pending migrations of `env` (for `status`).
pub(crate) fn pending_count(_ctx: &Ctx, _env: &config::Environment, _compose: &compose::Compose) -> Result<usize> {
    eyre::bail!("not implemented yet")
}
