//! Scanning services and files, and the data-safety checks.

use std::fmt;

use camino::{Utf8Path, Utf8PathBuf};
use compose::ServiceDefinition;

use crate::Refusal;

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

/// Scans a shell text on its own (nothing followed into files); `place`
/// names it in findings (`<place>:<line>`).
pub fn scan_text(place: &str, text: &str) -> Vec<Finding> {
    crate::follow::text(place, text)
}

/// The first destructive command a shell line runs, if any.
pub fn destructive_command(line: &str) -> Option<Refusal> {
    crate::follow::text("", line).into_iter().next().map(|f| Refusal { why: f.why, fix: f.fix })
}

/// Scans the given app services by following what each runs: Dockerfile
/// `RUN`, `CMD`, `ENTRYPOINT`, compose `command`/`entrypoint`, and from
/// there package.json scripts, shell scripts, Makefile targets, entrypoint
/// folders and bind-mounted code. A finding's `place` is the chain, hops
/// joined by ` → ` (`Dockerfile:12 CMD npm start → package.json:5 "start" →
/// scripts/boot.sh:3`); `compose_files` name the line of a `command:` or
/// `entrypoint:`.
pub fn scan_services(services: &[ServiceDefinition], compose_files: &[Utf8PathBuf]) -> Vec<Finding> {
    let mut findings: Vec<Finding> = services.iter().flat_map(|s| crate::follow::service(s, compose_files)).collect();
    findings.sort_by(|a, b| a.place.cmp(&b.place));
    findings.dedup();
    findings
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
        let text = "set -e\nnpx prisma db push \\\n    --accept-data-loss\nnode x.js\n";
        let findings = scan_text("boot.sh", text);
        assert_eq!(findings.len(), 1);
        assert_eq!(findings[0].place, "boot.sh:2");
    }

    #[test]
    fn disk_room() {
        assert!(check_disk_room("backups".into(), 100, 1000).is_some());
        assert!(check_disk_room("backups".into(), 10_000, 1000).is_none());
    }
}
