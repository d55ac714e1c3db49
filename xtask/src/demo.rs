//! `cargo xtask demo`: a first command that works on a fresh machine. It
//! provisions what is missing (as `cargo xtask test --provision-only` does),
//! then deploys the demo stack (`prod` in this workspace's Cargo.toml) with
//! drydock's own pipeline and shows its status.
//!
//! Images: the official ones (`postgres:16`, `redis:7`, `debian:bookworm-slim`)
//! when a registry answers, else the local stand-ins the provisioning builds;
//! `POSTGRES_IMAGE`, `REDIS_IMAGE` and `BASE_IMAGE` set by the caller win.

use std::time::Duration;

use eyre::{bail, Result, WrapErr};

use crate::Ctx;

/// The official images the demo's compose files default to.
const OFFICIAL: [&str; 3] = ["postgres:16", "redis:7", "debian:bookworm-slim"];

#[derive(clap::Args)]
pub(crate) struct Args {
    /// Use the local stand-in images without asking a registry first.
    #[arg(long)]
    local_images: bool,
}

pub(crate) fn run(ctx: &Ctx, args: Args) -> Result<()> {
    let caller_set =
        ["POSTGRES_IMAGE", "REDIS_IMAGE", "BASE_IMAGE"].iter().all(|v| std::env::var(v).is_ok_and(|s| !s.is_empty()));
    let images = if caller_set || (!args.local_images && registry_answers(ctx)) {
        // Provision the engine and compose only; compose pulls the images.
        crate::test::provision(ctx)?;
        Vec::new()
    } else {
        crate::test::provision(ctx)?
    };
    let exe = std::env::current_exe().wrap_err("cannot find the running drydock binary")?;
    for task in [&["deploy-prod"][..], &["status", "prod"][..]] {
        ctx.ui.line(ctx.ui.bold(&format!("==> cargo xtask {}", task.join(" "))));
        let status = std::process::Command::new(&exe)
            .args(task)
            .envs(images.iter().map(|(k, v)| (*k, v.as_str())))
            .status()
            .wrap_err_with(|| format!("cannot run cargo xtask {}", task.join(" ")))?;
        if !status.success() {
            bail!("`cargo xtask {}` failed: read its message above", task.join(" "));
        }
    }
    if !images.is_empty() {
        let vars: Vec<String> = images.iter().map(|(k, v)| format!("{k}={v}")).collect();
        ctx.ui.line(format!(
            "the demo runs on local stand-in images; to run other tasks on it, export them first:\n  export {}",
            vars.join(" ")
        ));
    }
    ctx.ui.line("next: `cargo xtask deploy-prod` again (a no-op), `cargo xtask backup prod`, `cargo xtask history`");
    Ok(())
}

/// True if every official image is present or can be pulled within a short wait.
fn registry_answers(ctx: &Ctx) -> bool {
    if duct::cmd!("docker", "version")
        .stdout_null()
        .stderr_null()
        .unchecked()
        .run()
        .map_or(true, |o| !o.status.success())
    {
        // No engine yet: the provisioning starts one; ask again afterwards.
        if crate::test::provision(ctx).is_err() {
            return false;
        }
    }
    OFFICIAL.iter().all(|image| {
        let present = duct::cmd!("docker", "image", "inspect", image).stdout_null().stderr_null().unchecked().run();
        if present.is_ok_and(|o| o.status.success()) {
            return true;
        }
        ctx.ui.line(format!("asking the registry for {image} ..."));
        let Ok(pull) = duct::cmd!("docker", "pull", "-q", image).stdout_null().stderr_null().unchecked().start() else {
            return false;
        };
        let deadline = std::time::Instant::now() + Duration::from_secs(60);
        loop {
            match pull.try_wait() {
                Ok(Some(out)) => return out.status.success(),
                Ok(None) if std::time::Instant::now() < deadline => std::thread::sleep(Duration::from_millis(200)),
                _ => {
                    let _ = pull.kill();
                    return false;
                }
            }
        }
    })
}
