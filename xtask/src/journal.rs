//! The deploy journal: one JSON line per pipeline run, appended to
//! `<backups>/journal.jsonl`; `cargo xtask history [ENV]` shows it. Never
//! holds a secret: each line passes `ui::redact` before it is written.

use std::io::Write;
use std::time::Duration;

use camino::Utf8Path;
use eyre::{Result, WrapErr};
use serde::{Deserialize, Serialize};

use crate::ui::human_duration;
use crate::Ctx;

/// The journal's file name inside the backups folder.
pub(crate) const FILE: &str = "journal.jsonl";

/// One step as recorded.
#[derive(Serialize, Deserialize, Clone, Debug)]
pub(crate) struct StepRecord {
    pub(crate) name: String,
    pub(crate) seconds: f64,
    pub(crate) result: String,
    pub(crate) outcome: String,
}

impl StepRecord {
    pub(crate) fn new(name: &str, took: Duration, result: &str, outcome: &str) -> StepRecord {
        StepRecord {
            name: name.to_owned(),
            seconds: took.as_secs_f64(),
            result: result.to_owned(),
            outcome: outcome.to_owned(),
        }
    }
}

/// One run.
#[derive(Serialize, Deserialize, Clone, Debug)]
pub(crate) struct Entry {
    pub(crate) time: String,
    pub(crate) user: String,
    pub(crate) commit: Option<String>,
    pub(crate) environment: String,
    pub(crate) pipeline: String,
    pub(crate) ok: bool,
    pub(crate) seconds: f64,
    pub(crate) steps: Vec<StepRecord>,
    pub(crate) backup: Option<String>,
    pub(crate) error: Option<String>,
}

impl Entry {
    /// The line of one run of `pipeline` on `environment` in the workspace at `root`.
    pub(crate) fn new(
        root: &Utf8Path,
        environment: &str,
        pipeline: &str,
        steps: &[StepRecord],
        took: Duration,
        backup: Option<&Utf8Path>,
        error: Option<String>,
    ) -> Entry {
        Entry {
            time: time::OffsetDateTime::now_utc()
                .format(&time::format_description::well_known::Rfc3339)
                .unwrap_or_default(),
            user: deploylock::current_user(),
            commit: git_commit(root),
            environment: environment.to_owned(),
            pipeline: pipeline.to_owned(),
            ok: error.is_none(),
            seconds: took.as_secs_f64(),
            steps: steps.to_vec(),
            backup: backup.map(|p| p.to_string()),
            error: error.map(|e| compose::redact_url(&e)),
        }
    }
}

fn git_commit(root: &Utf8Path) -> Option<String> {
    duct::cmd!("git", "rev-parse", "--short", "HEAD").dir(root).stderr_null().read().ok().filter(|s| !s.is_empty())
}

/// Appends `entry` to the journal in `backups`.
pub(crate) fn append(backups: &Utf8Path, entry: &Entry) -> Result<()> {
    std::fs::create_dir_all(backups)?;
    let path = backups.join(FILE);
    let mut file =
        std::fs::OpenOptions::new().create(true).append(true).open(&path).wrap_err_with(|| format!("open {path}"))?;
    writeln!(file, "{}", crate::ui::redact(&serde_json::to_string(entry)?))?;
    Ok(())
}

/// Every entry of the journal, oldest first; unreadable lines are skipped.
pub(crate) fn read(backups: &Utf8Path) -> Vec<Entry> {
    let text = std::fs::read_to_string(backups.join(FILE)).unwrap_or_default();
    text.lines().filter_map(|l| serde_json::from_str(l).ok()).collect()
}

#[derive(clap::Args)]
pub(crate) struct HistoryArgs {
    /// Only runs of this environment.
    env: Option<String>,
}

/// `cargo xtask history [ENV]`.
pub(crate) fn history(ctx: &Ctx, args: HistoryArgs) -> Result<()> {
    let entries: Vec<Entry> = read(&ctx.config.backups)
        .into_iter()
        .filter(|e| args.env.as_ref().is_none_or(|env| &e.environment == env))
        .collect();
    if entries.is_empty() {
        ctx.ui.line(format!("no runs recorded in {}", ctx.config.backups.join(FILE)));
        return Ok(());
    }
    let rows: Vec<Vec<String>> = entries
        .iter()
        .rev()
        .map(|e| {
            vec![
                e.time.clone(),
                e.environment.clone(),
                e.pipeline.clone(),
                if e.ok { ctx.ui.green("ok") } else { ctx.ui.red("failed") },
                human_duration(Duration::from_secs_f64(e.seconds)),
                e.user.clone(),
                e.commit.clone().unwrap_or_else(|| "-".into()),
                e.backup.clone().unwrap_or_else(|| "-".into()),
                e.error
                    .as_deref()
                    .map(|s| s.lines().next().unwrap_or("").chars().take(80).collect())
                    .unwrap_or_default(),
            ]
        })
        .collect();
    ctx.ui.table(&["TIME", "ENV", "PIPELINE", "RESULT", "DURATION", "USER", "COMMIT", "BACKUP", "ERROR"], &rows);
    Ok(())
}
