//! `cargo xtask test`: provision what is missing, then run every test. Stub.

use eyre::Result;

use crate::Ctx;

#[derive(clap::Args)]
pub(crate) struct Args {}

pub(crate) fn run(_ctx: &Ctx, _args: Args) -> Result<()> {
    eyre::bail!("not implemented yet")
}
