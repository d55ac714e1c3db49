//! `cargo xtask status ENV`: one row per service, whether the database answers,
//! and how many migrations are pending.

use eyre::Result;
use serde::Serialize;

use crate::Ctx;

#[derive(clap::Args)]
pub(crate) struct Args {
    /// Environment (as configured in Cargo.toml).
    env: String,
    /// Print JSON for scripts instead of a table.
    #[arg(long)]
    json: bool,
}

#[derive(Serialize)]
struct Report {
    environment: String,
    compose: String,
    services: Vec<Row>,
    database_answers: bool,
    database_error: Option<String>,
    pending_migrations: Option<usize>,
}

#[derive(Serialize)]
struct Row {
    service: String,
    role: &'static str,
    state: String,
    health: Option<String>,
    container_id: Option<String>,
    image: Option<String>,
    started_at: Option<String>,
}

pub(crate) fn run(ctx: &Ctx, args: Args) -> Result<()> {
    let env = ctx.env(&args.env)?;
    let compose = ctx.compose(&env)?;
    compose.ping()?;

    let mut services = Vec::new();
    for state in compose.states()? {
        let role = if state.service == env.database_service() { "database" } else { "app" };
        if state.containers.is_empty() {
            services.push(Row {
                service: state.service.clone(),
                role,
                state: "absent".into(),
                health: None,
                container_id: None,
                image: None,
                started_at: None,
            });
        }
        for c in &state.containers {
            services.push(Row {
                service: state.service.clone(),
                role,
                state: c.status.clone(),
                health: c.health.clone(),
                container_id: Some(compose::short_id(&c.id).to_owned()),
                image: Some(c.image.clone()),
                started_at: Some(c.started_at.clone()),
            });
        }
    }
    let (database_answers, database_error) = match crate::db::ping(ctx, &compose) {
        Ok(()) => (true, None),
        Err(e) => (false, Some(format!("{e:#}"))),
    };
    let pending_migrations =
        if database_answers { crate::migrate::pending_count(ctx, &env, &compose).ok() } else { None };
    let report = Report {
        environment: env.name().to_owned(),
        compose: compose.flavor().command_name().to_owned(),
        services,
        database_answers,
        database_error,
        pending_migrations,
    };

    if args.json {
        ctx.ui.line(serde_json::to_string_pretty(&report)?);
        return Ok(());
    }
    let ui = &ctx.ui;
    ui.line(ui.bold(&format!("{} ({})", report.environment, report.compose)));
    let rows: Vec<Vec<String>> = report
        .services
        .iter()
        .map(|r| {
            let state = match r.state.as_str() {
                "running" => ui.green("running"),
                other => ui.red(other),
            };
            vec![
                r.service.clone(),
                r.role.to_owned(),
                state,
                r.health.clone().unwrap_or_else(|| "-".into()),
                r.container_id.clone().unwrap_or_else(|| "-".into()),
                r.image.clone().unwrap_or_else(|| "-".into()),
                r.started_at.clone().unwrap_or_else(|| "-".into()),
            ]
        })
        .collect();
    ui.table(&["SERVICE", "ROLE", "STATE", "HEALTH", "CONTAINER", "IMAGE", "STARTED AT"], &rows);
    match &report.database_error {
        None => ui.line(format!("database: {}", ui.green("answers"))),
        Some(e) => ui.line(format!("database: {} ({e})", ui.red("does not answer"))),
    }
    match report.pending_migrations {
        Some(0) => ui.line("migrations: up to date"),
        Some(n) => ui.line(format!("migrations: {n} pending (apply with `cargo xtask migrate {}`)", env.name())),
        None => ui.line("migrations: unknown"),
    }
    Ok(())
}
