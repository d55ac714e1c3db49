//! The schema-destroying commands the preflight refuses, and how to fix each.

/// (pattern words that must all appear in order on one line, lowercase; why; fix).
pub const DESTRUCTIVE_COMMANDS: &[(&[&str], &str, &str)] = &[
    (
        &["prisma", "db push", "--accept-data-loss"],
        "`prisma db push --accept-data-loss` drops columns and tables whose data does not fit the schema",
        "remove it; apply migrations with `cargo xtask migrate` (drydock runs them after the backup)",
    ),
    (
        &["prisma", "db push", "--force-reset"],
        "`prisma db push --force-reset` drops the whole database schema",
        "remove it; apply migrations with `cargo xtask migrate`",
    ),
    (
        &["prisma", "migrate reset"],
        "`prisma migrate reset` drops the database and recreates it",
        "remove it; it is for development databases only",
    ),
    (
        &["prisma", "migrate dev"],
        "`prisma migrate dev` may reset the database when it detects drift",
        "use `cargo xtask migrate` (deploy semantics) in deployed containers",
    ),
    (&["dropdb"], "`dropdb` removes a database", "remove it from the app's start-up"),
    (&["drop database"], "`DROP DATABASE` removes a database", "remove it from the app's start-up"),
    (
        &["drop schema"],
        "`DROP SCHEMA` removes a schema and, with CASCADE, every table in it",
        "remove it from the app's start-up",
    ),
    (
        &["compose", "down", "-v"],
        "`compose down -v` removes the database volume",
        "use `cargo xtask deploy-prod`, which never stops the database",
    ),
    (
        &["compose", "down", "--volumes"],
        "`compose down --volumes` removes the database volume",
        "use `cargo xtask deploy-prod`",
    ),
    (&["docker volume rm"], "`docker volume rm` deletes volumes, data included", "remove it"),
    (&["docker volume prune"], "`docker volume prune` deletes unused volumes, data included", "remove it"),
    (&["docker system prune", "--volumes"], "`docker system prune --volumes` deletes volumes", "remove it"),
];

/// The first destructive command on `line` (case-insensitive; shell and
/// Dockerfile comments ignored): (why, fix).
pub fn destructive_command(line: &str) -> Option<(&'static str, &'static str)> {
    let code = line.trim_start();
    if code.starts_with('#') || code.starts_with("//") || code.starts_with("--") {
        return None;
    }
    // Exec forms (`CMD ["npx", "prisma", "db", "push", ...]`) and YAML lists
    // become plain words.
    let lower: String =
        code.to_lowercase().chars().map(|c| if matches!(c, '[' | ']' | '"' | '\'' | ',') { ' ' } else { c }).collect();
    let lower = lower.split_whitespace().collect::<Vec<_>>().join(" ");
    DESTRUCTIVE_COMMANDS.iter().find_map(|(words, why, fix)| {
        let mut rest = lower.as_str();
        for word in words.iter() {
            let at = find_word(rest, word)?;
            rest = &rest[at + word.len()..];
        }
        Some((*why, *fix))
    })
}

/// Position of `word` in `text` at word boundaries (`dropdb` does not match
/// `mydropdbtool`; `-v` does not match `-verbose`).
fn find_word(text: &str, word: &str) -> Option<usize> {
    let is_word = |c: char| c.is_ascii_alphanumeric() || c == '_';
    let mut from = 0;
    while let Some(pos) = text[from..].find(word) {
        let at = from + pos;
        let before = text[..at].chars().next_back();
        let after = text[at + word.len()..].chars().next();
        let starts = before.is_none_or(|c| !is_word(c));
        let ends = after.is_none_or(|c| !is_word(c));
        if starts && ends {
            return Some(at);
        }
        from = at + 1;
    }
    None
}

#[cfg(test)]
mod tests {
    use super::destructive_command;

    #[test]
    fn the_seed_lesson_is_caught() {
        for line in [
            "RUN npx prisma db push --accept-data-loss",
            "CMD npx prisma db push --skip-generate --accept-data-loss && node dist/main.js",
            r#"command: ["sh", "-c", "npx prisma db push --force-reset && node index.js"]"#,
            "npx prisma migrate reset --force",
            "pnpm prisma migrate dev",
            "dropdb -U app app",
            "psql -c 'DROP DATABASE app'",
            "docker compose down -v",
            "docker-compose down --volumes",
            "docker volume rm app_pgdata",
            r#"CMD ["npx","prisma","db","push","--accept-data-loss"]"#,
            r#"ENTRYPOINT ["npx", "prisma", "migrate", "reset"]"#,
        ] {
            assert!(destructive_command(line).is_some(), "{line}");
        }
    }

    #[test]
    fn safe_lines_pass() {
        for line in [
            "RUN npx prisma generate",
            "CMD npx prisma migrate deploy && node dist/main.js",
            "# never run prisma db push --accept-data-loss here",
            "docker compose down",
            "docker compose logs -v",
            "echo mydropdbtool",
            "prisma db push",
        ] {
            assert!(destructive_command(line).is_none(), "{line}");
        }
    }
}
