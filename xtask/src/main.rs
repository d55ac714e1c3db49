//! `cargo xtask`: drydock's command line. This file only parses and dispatches;
//! each task lives in its own module and reads top to bottom.

mod backup;
mod bench;
mod check;
mod context;
mod db;
mod demo;
mod deploy;
mod downtime;
mod exit;
mod init;
mod interrupt;
mod journal;
mod logs;
mod migrate;
mod pipeline;
mod restore;
mod status;
mod steps;
mod test;
mod tunnel;
mod ui;

#[cfg(test)]
mod tests;

use clap::{Parser, Subcommand};

pub(crate) use context::Ctx;

/// drydock: safe deploys for docker-compose + PostgreSQL stacks.
#[derive(Parser)]
#[command(name = "cargo xtask", bin_name = "cargo xtask", version, about, disable_help_subcommand = true)]
struct Cli {
    #[command(subcommand)]
    task: Task,
}

#[derive(Subcommand)]
enum Task {
    /// The safe production deploy: backup, stop only the app, restart from new images, migrate.
    DeployProd(deploy::Args),
    /// The same pipeline for the dev environment.
    DeployDev(deploy::Args),
    /// The deploy pipeline for any configured environment (`deploy staging`).
    Deploy(deploy::EnvArgs),
    /// Run any pipeline of `cargo xtask pipelines` against an environment.
    Run(deploy::RunArgs),
    /// Run the deploy preflight alone (read-only): every finding at once.
    Check(check::Args),
    /// Adopt an existing compose project: write the `[workspace.metadata.deploy]` block, then check it.
    Init(init::Args),
    /// List every pipeline with its steps.
    Pipelines,
    /// Benchmarks of the dev-profile binary beside the raw tools it wraps (one table).
    Bench(bench::Args),
    /// Benchmark: app downtime of a deploy vs the naive stop-build-start order.
    BenchDeploy(downtime::Args),
    /// Show the journal of pipeline runs, newest first.
    History(journal::HistoryArgs),
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
    /// First command on a fresh machine: provision what is missing, deploy the demo stack, show its status.
    Demo(demo::Args),
    /// Provision Docker, compose v1/v2 and base images if missing, then run every test.
    Test(test::Args),
}

fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    let result = match cli.task {
        // Before any configuration is read: adopting a project is writing it.
        Task::Init(args) => init::run(args),
        task => Ctx::new().and_then(|ctx| match task {
            Task::DeployProd(args) => deploy::run(&ctx, "prod", args),
            Task::DeployDev(args) => deploy::run(&ctx, "dev", args),
            Task::Deploy(args) => deploy::deploy_env(&ctx, args),
            Task::Run(args) => deploy::run_pipeline(&ctx, args),
            Task::Check(args) => check::run(&ctx, args),
            Task::Init(_) => unreachable!("dispatched before the configuration is read"),
            Task::Pipelines => pipeline::list(&ctx),
            Task::Bench(args) => bench::run(&ctx, args),
            Task::BenchDeploy(args) => downtime::run(&ctx, args),
            Task::History(args) => journal::history(&ctx, args),
            Task::Status(args) => status::run(&ctx, args),
            Task::Logs(args) => logs::run(&ctx, args),
            Task::Backup(args) => backup::run(&ctx, args),
            Task::Backups(args) => backup::list(&ctx, args),
            Task::Restore(args) => restore::run(&ctx, args),
            Task::Migrate(args) => match args.parsed() {
                migrate::Parsed::Env(env, flags) => deploy::migrate_env(&ctx, &env, flags),
                migrate::Parsed::Subcommand(args) => migrate::run(&ctx, args),
            },
            Task::Demo(args) => demo::run(&ctx, args),
            Task::Test(args) => test::run(&ctx, args),
        }),
    };
    tunnel::close_all();
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(err) => {
            ui::Ui::detect().error(&err);
            std::process::ExitCode::from(exit::of(&err).code())
        }
    }
}
