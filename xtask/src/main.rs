//! `cargo xtask`: drydock's command line. This file only parses and dispatches;
//! each task lives in its own module and reads top to bottom.

mod backup;
mod context;
mod db;
mod logs;
mod migrate;
mod restore;
mod status;
mod test;
mod ui;

use clap::{Parser, Subcommand};

pub(crate) use context::Ctx;

/// drydock: safe deploys for docker-compose + PostgreSQL stacks.
#[derive(Parser)]
#[command(name = "cargo xtask", version, about, disable_help_subcommand = true)]
struct Cli {
    #[command(subcommand)]
    task: Task,
}

#[derive(Subcommand)]
enum Task {
    /// Show each service's state and health, and whether the database answers.
    Status(status::Args),
    /// Show (or follow) the logs of an environment's services.
    Logs(logs::Args),
    /// Take a verified backup of an environment's database (default: prod).
    Backup(backup::Args),
    /// List backups, newest first, with their checksum status.
    Backups(backup::ListArgs),
    /// Replay a backup file into an environment's database, atomically.
    Restore(restore::Args),
    /// Apply pending migrations; also `migrate status|new|resolve`.
    Migrate(migrate::Args),
    /// Provision Docker, compose v1/v2 and base images if missing, then run every test.
    Test(test::Args),
}

fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    let result = Ctx::new().and_then(|ctx| match cli.task {
        Task::Status(args) => status::run(&ctx, args),
        Task::Logs(args) => logs::run(&ctx, args),
        Task::Backup(args) => backup::run(&ctx, args),
        Task::Backups(args) => backup::list(&ctx, args),
        Task::Restore(args) => restore::run(&ctx, args),
        Task::Migrate(args) => migrate::run(&ctx, args),
        Task::Test(args) => test::run(&ctx, args),
    });
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(err) => {
            ui::Ui::detect().error(&err);
            std::process::ExitCode::FAILURE
        }
    }
}
