//! `cargo xtask restore`: replay a backup atomically (issue 5). Stub.

use eyre::Result;

use crate::Ctx;

#[derive(clap::Args)]
pub(crate) struct Args {
    /// The backup file to restore.
    file: String,
}

pub(crate) fn run(_ctx: &Ctx, args: Args) -> Result<()> {
    eyre::bail!("restore {} is not implemented yet", args.file)
}
