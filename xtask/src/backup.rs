//! `cargo xtask backup` and `cargo xtask backups`: verified backups (issue 3). Stub.

use camino::Utf8PathBuf;
use config::Environment;
use eyre::Result;

use crate::Ctx;

#[derive(clap::Args)]
pub(crate) struct Args {
    /// Environment to back up.
    #[arg(default_value = "prod")]
    env: String,
}

#[derive(clap::Args)]
pub(crate) struct ListArgs {
    /// Environment whose backups to list (default: all).
    env: Option<String>,
}

pub(crate) fn run(_ctx: &Ctx, args: Args) -> Result<()> {
    eyre::bail!("backup {} is not implemented yet", args.env)
}

pub(crate) fn list(_ctx: &Ctx, _args: ListArgs) -> Result<()> {
    eyre::bail!("backups is not implemented yet")
}

/// Takes a verified backup of `env` and returns its path; used by migrate,
/// restore and deploy before they mutate data.
#[allow(dead_code)]
pub(crate) fn take_verified(_ctx: &Ctx, env: &Environment) -> Result<Utf8PathBuf> {
    eyre::bail!("backup of {} is not implemented yet", env.name)
}
