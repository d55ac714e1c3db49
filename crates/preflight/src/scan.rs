//! Scanning services and files, and the data-safety checks.

use std::fmt;

use camino::{Utf8Path, Utf8PathBuf};
use compose::ServiceDefinition;

use crate::destructive_command;

/// One reason to refuse a deploy: where, why, and how to fix it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finding {
    /// `path:line`, or a config key / service name.
    pub place: String,
    /// What is wrong.
    pub why: String,
    /// What to do.
    pub fix: String,
}

impl fmt::Display for Finding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {} (fix: {})", self.place, self.why, self.fix)
    }
}

/// Scans a text; `place` names it in findings (`<place>:<line>`). Lines
/// continued with a trailing `\` (shell, Dockerfile) are read as one, named
/// by their first line.
pub fn scan_text(place: &str, text: &str) -> Vec<Finding> {
    let mut findings = Vec::new();
    let mut logical = String::new();
    let mut first = 0;
    for (i, line) in text.lines().enumerate() {
        if logical.is_empty() {
            first = i;
        }
        match line.trim_end().strip_suffix('\\') {
            Some(head) => {
                logical.push_str(head);
                logical.push(' ');
                continue;
            }
            None => logical.push_str(line),
        }
        if let Some((why, fix)) = destructive_command(&logical) {
            findings.push(Finding {
                place: format!("{place}:{}", first + 1),
                why: why.to_owned(),
                fix: fix.to_owned(),
            });
        }
        logical.clear();
    }
    findings
}

/// Scans the given app services: Dockerfile, compose `command` and
/// `entrypoint`, and every file of the build context whose name the
/// Dockerfile, command or entrypoint mentions (entrypoint scripts), plus
/// `package.json` (its scripts are what `npm start` runs).
pub fn scan_services(services: &[ServiceDefinition], compose_files: &[Utf8PathBuf]) -> Vec<Finding> {
    let mut findings = Vec::new();
    for service in services {
        for (what, text) in [("command", &service.command), ("entrypoint", &service.entrypoint)] {
            if let Some(text) = text {
                for f in scan_text(&format!("service `{}` {what}", service.name), text) {
                    findings.push(Finding { place: compose_place(compose_files, text).unwrap_or(f.place), ..f });
                }
            }
        }
        let Some(context) = &service.build_context else { continue };
        let dockerfile = context.join(service.dockerfile.as_deref().unwrap_or("Dockerfile"));
        let dockerfile_text = std::fs::read_to_string(&dockerfile).unwrap_or_default();
        findings.extend(scan_text(dockerfile.as_str(), &dockerfile_text));
        let mentions = format!(
            "{dockerfile_text}\n{}\n{}",
            service.command.clone().unwrap_or_default(),
            service.entrypoint.clone().unwrap_or_default()
        );
        for file in files_under(context, 3) {
            let name = file.file_name().unwrap_or_default();
            if file == dockerfile || !(mentions.contains(name) || name == "package.json") {
                continue;
            }
            if let Ok(text) = std::fs::read_to_string(&file) {
                findings.extend(scan_text(file.as_str(), &text));
            }
        }
    }
    findings.sort_by(|a, b| a.place.cmp(&b.place));
    findings.dedup();
    findings
}

/// The compose file and line where `text` (a command) is written, if found.
fn compose_place(compose_files: &[Utf8PathBuf], text: &str) -> Option<String> {
    let needle = text.split_whitespace().find(|w| destructive_command(w).is_none() && w.len() > 3)?;
    for file in compose_files {
        let content = std::fs::read_to_string(file).ok()?;
        for (i, line) in content.lines().enumerate() {
            if line.contains(needle) && destructive_command(line).is_some() {
                return Some(format!("{file}:{}", i + 1));
            }
        }
    }
    None
}

fn files_under(dir: &Utf8Path, depth: usize) -> Vec<Utf8PathBuf> {
    let mut out = Vec::new();
    let Ok(entries) = dir.read_dir_utf8() else { return out };
    for entry in entries.flatten() {
        let path = entry.path().to_owned();
        let name = entry.file_name();
        if matches!(name, "node_modules" | ".git" | "target" | "dist" | "build") {
            continue;
        }
        match entry.file_type() {
            Ok(t) if t.is_dir() && depth > 0 => out.extend(files_under(&path, depth - 1)),
            Ok(t) if t.is_file() => out.push(path),
            _ => {}
        }
    }
    out
}

/// The database service must keep its data directory (`PGDATA`, default
/// `/var/lib/postgresql/data`) on a named volume or a bind mount.
pub fn check_data_volume(db: &ServiceDefinition) -> Option<Finding> {
    let pgdata = db.environment.get("PGDATA").cloned().unwrap_or_else(|| "/var/lib/postgresql/data".to_owned());
    let covered = db.volumes.iter().any(|(kind, source, target)| {
        let persistent = kind == "bind" || (kind == "volume" && !source.is_empty());
        let target = target.trim_end_matches('/');
        persistent && (pgdata == target || pgdata.starts_with(&format!("{target}/")))
    });
    (!covered).then(|| Finding {
        place: format!("service `{}` volumes", db.name),
        why: format!(
            "the database keeps {pgdata} outside a named volume or bind mount, so its data dies with the container"
        ),
        fix: format!(
            "add a named volume, e.g. `volumes: [pgdata:{pgdata}]`, and a top-level `volumes: {{pgdata: {{}}}}`"
        ),
    })
}

/// The backups folder's disk must hold a backup of about `database_bytes`
/// (plain SQL is usually smaller than the database; we ask for the full size
/// plus 10 % as a margin).
pub fn check_disk_room(backups: &Utf8Path, free_bytes: u64, database_bytes: u64) -> Option<Finding> {
    let needed = database_bytes + database_bytes / 10;
    (free_bytes < needed).then(|| Finding {
        place: backups.to_string(),
        why: format!("{free_bytes} bytes free, a backup of this database needs about {needed}"),
        fix: "free space on that disk, or point `backups` in Cargo.toml at a larger one".to_owned(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn data_volume_rules() {
        let mut db = ServiceDefinition { name: "postgres".into(), ..Default::default() };
        assert!(check_data_volume(&db).is_some());
        db.volumes.push(("volume".into(), String::new(), "/var/lib/postgresql/data".into()));
        assert!(check_data_volume(&db).is_some(), "an anonymous volume dies with the container");
        db.volumes.push(("volume".into(), "pgdata".into(), "/var/lib/postgresql".into()));
        assert!(check_data_volume(&db).is_none());
        db.volumes = vec![("bind".into(), "/srv/pg".into(), "/pg".into())];
        db.environment.insert("PGDATA".into(), "/pg/data".into());
        assert!(check_data_volume(&db).is_none());
    }

    #[test]
    fn continued_lines_are_read_as_one() {
        let text = "FROM node\nRUN npx prisma db push \\\n    --accept-data-loss\nCMD node\n";
        let findings = scan_text("Dockerfile", text);
        assert_eq!(findings.len(), 1);
        assert_eq!(findings[0].place, "Dockerfile:2");
    }

    #[test]
    fn disk_room() {
        assert!(check_disk_room("backups".into(), 100, 1000).is_some());
        assert!(check_disk_room("backups".into(), 10_000, 1000).is_none());
    }
}
