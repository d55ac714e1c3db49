//! Tidy checks of the repository itself, as ordinary tests.

use std::path::{Path, PathBuf};

use clap::CommandFactory;

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap().flatten() {
        let path = entry.path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

fn workspace_files(sub: &str) -> Vec<PathBuf> {
    let mut files = Vec::new();
    rust_files(&crate::context::workspace_root().join(sub).into_std_path_buf(), &mut files);
    files
}

#[test]
fn every_rust_file_starts_with_a_doc_line() {
    let mut files = workspace_files("crates");
    files.extend(workspace_files("xtask"));
    for file in files {
        let text = std::fs::read_to_string(&file).unwrap();
        assert!(text.starts_with("//!"), "{} does not start with a `//!` line saying what it is", file.display());
    }
}

#[test]
fn library_crates_never_print() {
    // Library code only: benches and tests may print.
    let libraries = workspace_files("crates").into_iter().filter(|f| f.to_string_lossy().contains("/src/"));
    for file in libraries {
        let text = std::fs::read_to_string(&file).unwrap();
        for (i, line) in text.lines().enumerate() {
            let code = line.trim_start();
            if code.starts_with("//") {
                continue;
            }
            for banned in ["println!(", "eprintln!(", "print!(", "eprint!(", "dbg!("] {
                assert!(
                    !code.contains(banned),
                    "{}:{}: library crates return values; the xtask prints",
                    file.display(),
                    i + 1
                );
            }
        }
    }
}

#[test]
fn no_code_emits_compose_down_or_volume_removal() {
    // testbench is test-only cleanup of its own throwaway projects; preflight
    // names these commands to refuse them.
    let mut files = workspace_files("crates/compose");
    for krate in ["backup", "restore", "migrate", "deploylock", "config"] {
        files.extend(workspace_files(&format!("crates/{krate}/src")));
    }
    files.extend(workspace_files("xtask/src").into_iter().filter(|f| !f.to_string_lossy().contains("/tests")));
    for file in files {
        let text = std::fs::read_to_string(&file).unwrap();
        // Unit tests below `#[cfg(test)]` name the forbidden commands on purpose.
        let code = text.split("#[cfg(test)]").next().unwrap_or_default();
        for (i, line) in code.lines().enumerate() {
            if line.trim_start().starts_with("//") || line.contains("FORBIDDEN") {
                continue;
            }
            // The subcommands and flags ARCHITECTURE.md says no code path runs.
            for banned in [
                "\"down\"",
                "\"rm\"",
                "\"kill\"",
                "\"restart\"",
                "\"--volumes\"",
                "\"--remove-orphans\"",
                "\"volume\", \"rm\"",
            ] {
                assert!(!line.contains(banned), "{}:{}: `{banned}` is never emitted", file.display(), i + 1);
            }
            // `-v` is also psql's `--variable` (the restore benchmark's raw
            // baseline): banned where compose argv is rendered.
            if file.to_string_lossy().contains("crates/compose/") {
                assert!(!line.contains("\"-v\""), "{}:{}: `-v` is never emitted", file.display(), i + 1);
            }
        }
    }
}

#[test]
fn every_library_crate_denies_missing_docs() {
    let crates = crate::context::workspace_root().join("crates");
    let mut count = 0;
    for entry in std::fs::read_dir(&crates).unwrap().flatten() {
        let lib = entry.path().join("src/lib.rs");
        if !lib.is_file() {
            continue;
        }
        count += 1;
        let text = std::fs::read_to_string(&lib).unwrap();
        assert!(text.contains("#![deny(missing_docs)]"), "{} lacks `#![deny(missing_docs)]`", lib.display());
    }
    assert!(count >= 10, "found only {count} library crates under {crates}");
}

#[test]
fn every_task_is_in_the_readme() {
    let readme = std::fs::read_to_string(crate::context::workspace_root().join("README.md")).unwrap();
    for sub in crate::Cli::command().get_subcommands() {
        let name = sub.get_name();
        assert!(readme.contains(&format!("cargo xtask {name}")), "README.md does not document `cargo xtask {name}`");
    }
}

/// clap's own consistency checks of the command line (cargo-release does the same).
#[test]
fn the_command_line_is_consistent() {
    crate::Cli::command().debug_assert();
}

#[test]
fn backups_never_enter_git() {
    let gitignore = std::fs::read_to_string(crate::context::workspace_root().join(".gitignore")).unwrap();
    assert!(gitignore.lines().any(|l| l.trim() == "/backups/*"), ".gitignore must keep dumps out of git");
}

#[test]
fn code_is_formatted() {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let out = std::process::Command::new(cargo)
        .args(["fmt", "--all", "--", "--check"])
        .current_dir(crate::context::workspace_root())
        .output()
        .expect("cargo fmt runs");
    assert!(out.status.success(), "run `cargo fmt --all`:\n{}", String::from_utf8_lossy(&out.stdout));
}

/// `rust-version` in the root Cargo.toml is the newest `rust-version` among the locked
/// dependencies built for this platform: a claim a user's older toolchain can rely on.
#[test]
fn rust_version_is_truthful() {
    fn parse(v: &str) -> Vec<u64> {
        v.split('.').map(|p| p.parse().unwrap_or(0)).collect()
    }
    let root = crate::context::workspace_root();
    let host = std::process::Command::new("rustc").arg("-vV").output().unwrap();
    let host = String::from_utf8(host.stdout).unwrap();
    let host = host.lines().find_map(|l| l.strip_prefix("host: ")).unwrap().to_owned();
    let out = std::process::Command::new(env!("CARGO"))
        .args(["metadata", "--format-version", "1", "--locked", "--offline", "--filter-platform", &host])
        .current_dir(root.as_std_path())
        .output()
        .unwrap();
    assert!(out.status.success(), "cargo metadata failed: {}", String::from_utf8_lossy(&out.stderr));
    let meta: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let built: std::collections::HashSet<&str> =
        meta["resolve"]["nodes"].as_array().unwrap().iter().filter_map(|n| n["id"].as_str()).collect();
    let needed = meta["packages"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|p| p["id"].as_str().is_some_and(|id| built.contains(id)) && p["source"].is_string())
        .filter_map(|p| {
            Some((
                parse(p["rust_version"].as_str()?),
                format!("{} {}", p["name"].as_str().unwrap_or("?"), p["version"].as_str().unwrap_or("?")),
            ))
        })
        .max()
        .expect("locked dependencies declare a rust-version");
    let manifest = std::fs::read_to_string(root.join("Cargo.toml")).unwrap();
    let declared = manifest.lines().find_map(|l| l.strip_prefix("rust-version = ")).unwrap().trim_matches('"');
    let mut declared = parse(declared);
    declared.resize(3, 0);
    let mut need = needed.0.clone();
    need.resize(3, 0);
    assert!(
        declared >= need,
        "rust-version {declared:?} is older than {} needs ({need:?}): raise it in Cargo.toml",
        needed.1
    );
}
