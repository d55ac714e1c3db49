//! `cargo xtask logs ENV [SERVICE...] [--follow] [--tail N]`.

use eyre::{Context, Result};

use crate::Ctx;

#[derive(clap::Args)]
pub(crate) struct Args {
    /// Environment (as configured in Cargo.toml).
    env: String,
    /// Services to show (default: all configured ones).
    services: Vec<String>,
    /// Keep following new log lines.
    #[arg(long, short)]
    follow: bool,
    /// Number of lines to show from the end of each log.
    #[arg(long)]
    tail: Option<usize>,
}

pub(crate) fn run(ctx: &Ctx, args: Args) -> Result<()> {
    let env = ctx.env(&args.env)?;
    let compose = ctx.compose(&env)?;
    let configured = env.configured_services();
    if let Some(unknown) = args.services.iter().find(|s| !configured.contains(s)) {
        eyre::bail!("`{unknown}` is not a service of {}: use one of {}", env.name(), configured.join(", "));
    }
    let services = if args.services.is_empty() { configured } else { args.services };
    compose.logs(&services, args.follow, args.tail)?.stdin_null().run().wrap_err("compose logs failed")?;
    Ok(())
}
