//! The terminal: the only place drydock prints. Progress bars and colors on a
//! TTY; plain lines when stdout is not a TTY or `NO_COLOR` is set. Every
//! line passes [`redact`] first: known secret values and any password
//! written in a connection string become `***`.

use std::io::{BufRead, IsTerminal, Write};
use std::time::Duration;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

/// How to talk to the operator.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Ui {
    /// stdout is a terminal: progress bars are drawn.
    pub(crate) tty: bool,
    /// ANSI colors are allowed.
    pub(crate) color: bool,
}

impl Ui {
    pub(crate) fn detect() -> Ui {
        let tty = std::io::stdout().is_terminal();
        let no_color = std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty());
        Ui { tty, color: tty && !no_color }
    }

    fn paint(&self, code: &str, text: &str) -> String {
        if self.color {
            format!("\x1b[{code}m{text}\x1b[0m")
        } else {
            text.to_owned()
        }
    }

    pub(crate) fn bold(&self, text: &str) -> String {
        self.paint("1", text)
    }

    pub(crate) fn green(&self, text: &str) -> String {
        self.paint("32", text)
    }

    pub(crate) fn red(&self, text: &str) -> String {
        self.paint("31", text)
    }

    pub(crate) fn yellow(&self, text: &str) -> String {
        self.paint("33", text)
    }

    /// A plain line on stdout. A terminal that went away (a dropped SSH
    /// session) must not panic the run mid-deploy, so write errors are ignored.
    pub(crate) fn line(&self, text: impl AsRef<str>) {
        let _ = writeln!(std::io::stdout(), "{}", redact(text.as_ref()));
    }

    /// A warning on stderr.
    pub(crate) fn warn(&self, text: impl AsRef<str>) {
        let _ = writeln!(std::io::stderr(), "{} {}", self.yellow("warning:"), redact(text.as_ref()));
    }

    /// The final error of a run, with its chain of causes, on stderr.
    pub(crate) fn error(&self, err: &eyre::Report) {
        let _ = writeln!(std::io::stderr(), "{} {}", self.red("error:"), redact(&err.to_string()));
        for cause in err.chain().skip(1) {
            let _ = writeln!(std::io::stderr(), "  caused by: {}", redact(&cause.to_string()));
        }
    }

    /// The one progress display of a task (the runner draws one per step):
    /// a spinner line on a terminal whose message the work updates with
    /// [`Progress`] events; on a non-TTY, one plain line now and a plain line
    /// every [`PLAIN_PROGRESS_STEP`] bytes.
    pub(crate) fn progress(&self, message: &str) -> Progress {
        if !self.tty {
            self.line(format!("{message} ..."));
            return Progress {
                ui: *self,
                bar: ProgressBar::hidden(),
                label: message.to_owned(),
                next_line: PLAIN_PROGRESS_STEP.into(),
            };
        }
        let bar = ProgressBar::new_spinner()
            .with_style(ProgressStyle::with_template("{spinner} {msg} {elapsed}").expect("static template"));
        bar.set_draw_target(ProgressDrawTarget::stdout());
        bar.set_message(redact(message));
        bar.enable_steady_tick(Duration::from_millis(120));
        Progress { ui: *self, bar, label: message.to_owned(), next_line: PLAIN_PROGRESS_STEP.into() }
    }

    /// stdin is a terminal: a question can be answered.
    pub(crate) fn tty_input(&self) -> bool {
        std::io::stdin().is_terminal()
    }

    /// Asks `question` on the terminal and returns the answer line (trimmed).
    pub(crate) fn ask(&self, question: &str) -> std::io::Result<String> {
        print!("{} ", self.bold(&redact(question)));
        std::io::stdout().flush()?;
        let mut answer = String::new();
        std::io::stdin().lock().read_line(&mut answer)?;
        Ok(answer.trim().to_owned())
    }

    /// One step's line of a pipeline run, `ok     build       1.20 s  built api`:
    /// padded before it is coloured, so the columns line up.
    pub(crate) fn step_line(&self, ok: bool, name: &str, took: &str, outcome: &str) -> String {
        let status = if ok { self.green("ok    ") } else { self.red("FAILED") };
        format!("{status} {name:<10} {took:>9}  {outcome}")
    }

    /// A left-aligned table with a bold header row.
    pub(crate) fn table(&self, header: &[&str], rows: &[Vec<String>]) {
        for line in self.table_lines(header, rows) {
            self.line(line);
        }
    }

    /// The lines of [`Ui::table`]: columns aligned by visible width (colour
    /// codes in a cell do not shift the columns after it).
    pub(crate) fn table_lines(&self, header: &[&str], rows: &[Vec<String>]) -> Vec<String> {
        let mut widths: Vec<usize> = header.iter().map(|h| visible_width(h)).collect();
        for row in rows {
            for (i, cell) in row.iter().enumerate() {
                if i >= widths.len() {
                    widths.push(0);
                }
                widths[i] = widths[i].max(visible_width(cell));
            }
        }
        let fmt = |cells: &[String]| {
            cells
                .iter()
                .enumerate()
                .map(|(i, c)| format!("{c}{}", " ".repeat(widths[i] - visible_width(c))))
                .collect::<Vec<_>>()
                .join("  ")
                .trim_end()
                .to_owned()
        };
        let mut lines = vec![self.bold(&fmt(&header.iter().map(|h| h.to_string()).collect::<Vec<_>>()))];
        lines.extend(rows.iter().map(|row| fmt(row)));
        lines
    }
}

/// A plain progress line every this many bytes when stdout is not a terminal.
pub(crate) const PLAIN_PROGRESS_STEP: u64 = 256 << 20;

/// The progress display of one task or pipeline step: the work sends events
/// (bytes written, a message, a line to keep), the display draws them.
pub(crate) struct Progress {
    ui: Ui,
    bar: ProgressBar,
    label: String,
    next_line: std::sync::atomic::AtomicU64,
}

impl Progress {
    /// A display that draws nothing (before a run's first step).
    pub(crate) fn hidden(ui: Ui) -> Progress {
        Progress { ui, bar: ProgressBar::hidden(), label: String::new(), next_line: PLAIN_PROGRESS_STEP.into() }
    }

    /// Event: `done` bytes of `total` (if known) are through.
    pub(crate) fn bytes(&self, done: u64, total: Option<u64>) {
        if self.ui.tty {
            let of = total.map(|t| format!(" of {}", human_bytes(t))).unwrap_or_default();
            self.bar.set_message(redact(&format!("{}: {}{of}", self.label, human_bytes(done))));
            return;
        }
        use std::sync::atomic::Ordering;
        let next = self.next_line.load(Ordering::Relaxed);
        if done >= next {
            self.ui.line(format!("  {} written", human_bytes(done)));
            self.next_line.store(next + PLAIN_PROGRESS_STEP, Ordering::Relaxed);
        }
    }

    /// Event: what the work is doing now (`3/10 20240101_add_users`).
    pub(crate) fn message(&self, text: &str) {
        self.bar.set_message(redact(&format!("{}: {text}", self.label)));
    }

    /// Event: a line to keep above the display.
    pub(crate) fn line(&self, text: impl AsRef<str>) {
        self.bar.suspend(|| self.ui.line(text));
    }

    /// Runs `f` (a question to the operator) with the display hidden.
    pub(crate) fn suspend<R>(&self, f: impl FnOnce() -> R) -> R {
        self.bar.suspend(f)
    }

    /// Removes the display.
    pub(crate) fn finish(&self) {
        self.bar.finish_and_clear();
    }
}

/// The width `text` takes on a terminal: its characters without ANSI escape sequences.
pub(crate) fn visible_width(text: &str) -> usize {
    let mut width = 0;
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        if c == '\x1b' {
            // CSI: ESC [ parameters final-byte (0x40..=0x7e).
            if chars.next() == Some('[') {
                for c in chars.by_ref() {
                    if ('\x40'..='\x7e').contains(&c) {
                        break;
                    }
                }
            }
            continue;
        }
        width += 1;
    }
    width
}

/// Secret values known to this run (with the spellings they take in URLs,
/// JSON and compose files), longest first.
static SECRETS: std::sync::Mutex<Vec<String>> = std::sync::Mutex::new(Vec::new());

/// Secrets shorter than this are not searched for (they would blank ordinary words).
const MIN_SECRET_LEN: usize = 3;

/// Remembers `secret` so that [`redact`] hides it, in every spelling it can
/// take where drydock's text comes from: as is, percent-encoded (URLs),
/// JSON-escaped (the journal, `--json`), Rust-escaped (`{:?}`), with compose's
/// `$$` and with libpq's `\'` quoting.
pub(crate) fn add_secret(secret: &str) {
    if secret.chars().count() < MIN_SECRET_LEN {
        return;
    }
    let encoded = |upper: bool| -> String {
        secret
            .bytes()
            .map(|b| {
                if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
                    (b as char).to_string()
                } else if upper {
                    format!("%{b:02X}")
                } else {
                    format!("%{b:02x}")
                }
            })
            .collect()
    };
    let json = serde_json::to_string(secret).unwrap_or_default();
    let debug = format!("{secret:?}");
    let variants = [
        secret.to_owned(),
        encoded(true),
        encoded(false),
        json.trim_matches('"').to_owned(),
        debug.trim_matches('"').to_owned(),
        secret.replace('$', "$$"),
        secret.replace('\\', "\\\\").replace('\'', "\\'"),
    ];
    let mut secrets = SECRETS.lock().unwrap_or_else(|e| e.into_inner());
    for v in variants {
        if !v.is_empty() && !secrets.contains(&v) {
            secrets.push(v);
        }
    }
    secrets.sort_by_key(|s| std::cmp::Reverse(s.len()));
}

/// Remembers the password of a connection string (any form `pgconn` reads).
pub(crate) fn add_secrets_of_url(url: &str) {
    if let Ok(params) = pgconn::parse(url) {
        if let Some(p) = params.password() {
            add_secret(p);
        }
    }
}

/// Remembers the secrets of the process environment: `DATABASE_URL`'s
/// password, and the value of every variable whose name contains
/// `PASSWORD`, `SECRET` or `TOKEN` (compose interpolates them into files).
pub(crate) fn add_secrets_of_environment() {
    for (key, value) in std::env::vars_os() {
        let (Some(key), Some(value)) = (key.to_str(), value.to_str()) else { continue };
        let upper = key.to_ascii_uppercase();
        if upper == "DATABASE_URL" || upper.ends_with("_URL") && value.contains("://") {
            add_secrets_of_url(value);
        } else if ["PASSWORD", "SECRET", "TOKEN"].iter().any(|w| upper.contains(w)) {
            add_secret(value);
        }
    }
}

/// `text` with every known secret, and every password written in a
/// connection string, replaced by `***`. Everything that leaves drydock
/// (terminal, errors, journal) goes through here.
pub(crate) fn redact(text: &str) -> String {
    let mut out = text.to_owned();
    {
        let secrets = SECRETS.lock().unwrap_or_else(|e| e.into_inner());
        for secret in secrets.iter() {
            if out.contains(secret.as_str()) {
                out = out.replace(secret.as_str(), "***");
            }
        }
    }
    compose::redact_url(&out)
}

/// `text` with every control character (a newline, an escape sequence)
/// shown as `\u{..}`: for names a file or a server chose, so they cannot
/// forge lines or colours on the terminal.
pub(crate) fn printable(text: &str) -> String {
    text.chars().map(|c| if c.is_control() { c.escape_unicode().to_string() } else { c.to_string() }).collect()
}

/// Human size: `1.5 MiB`.
pub(crate) fn human_bytes(bytes: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut value = bytes as f64;
    let mut unit = 0;
    while value >= 1024.0 && unit < UNITS.len() - 1 {
        value /= 1024.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{bytes} B")
    } else {
        format!("{value:.1} {}", UNITS[unit])
    }
}

/// Human duration: `1.23 s`, `2 min 05 s`.
pub(crate) fn human_duration(d: Duration) -> String {
    let secs = d.as_secs_f64();
    if secs < 60.0 {
        format!("{secs:.2} s")
    } else {
        format!("{} min {:02} s", d.as_secs() / 60, d.as_secs() % 60)
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn names_cannot_forge_lines_or_colours() {
        for name in ["a\nrestored: 0 tables", "a\r\x1b[32mok", "\u{7f}\u{85}tab\there"] {
            let shown = super::printable(name);
            assert!(!shown.chars().any(char::is_control), "{shown:?}");
        }
        assert_eq!(super::printable("public.\"Weird Name\""), "public.\"Weird Name\"");
        assert_eq!(super::printable("a\nb"), "a\\u{a}b");
    }

    #[test]
    fn table_columns_align_by_visible_width() {
        let ui = super::Ui { tty: true, color: true };
        let rows = vec![
            vec!["a".to_owned(), ui.green("ok"), "x".to_owned()],
            vec!["bbb".to_owned(), ui.red("failed"), "y".to_owned()],
        ];
        let lines = ui.table_lines(&["NAME", "RESULT", "NEXT"], &rows);
        let columns: Vec<usize> = lines
            .iter()
            .map(|l| {
                let plain: String = strip(l);
                plain.rfind(|c: char| c == 'x' || c == 'y' || c == 'N').unwrap()
            })
            .collect();
        assert!(columns.windows(2).all(|w| w[0] == w[1]), "{lines:?}");
        assert_eq!(super::visible_width(&ui.bold("STEP")), 4);
        assert_eq!(super::visible_width("plain"), 5);
    }

    /// ui.rs owns the terminal: no `print!` family macro anywhere else in
    /// drydock's sources (xtask and library crates), test code aside.
    #[test]
    fn only_ui_prints() {
        let root = crate::context::workspace_root();
        let mut files = Vec::new();
        let mut dirs = vec![root.join("xtask/src")];
        for entry in std::fs::read_dir(root.join("crates")).unwrap().flatten() {
            dirs.push(camino::Utf8PathBuf::from_path_buf(entry.path().join("src")).unwrap());
        }
        while let Some(dir) = dirs.pop() {
            let Ok(entries) = std::fs::read_dir(&dir) else { continue };
            for entry in entries.flatten() {
                let path = camino::Utf8PathBuf::from_path_buf(entry.path()).unwrap();
                if path.is_dir() && path.file_name() != Some("tests") {
                    dirs.push(path);
                } else if path.extension() == Some("rs") && !path.ends_with("xtask/src/ui.rs") {
                    files.push(path);
                }
            }
        }
        assert!(files.len() > 20, "the search found too few files: {files:?}");
        let macros = ["print!(", "println!(", "eprint!(", "eprintln!("];
        let mut found = Vec::new();
        for file in &files {
            let text = std::fs::read_to_string(file).unwrap();
            let code = text.split("#[cfg(test)]").next().unwrap_or("");
            for (n, line) in code.lines().enumerate() {
                let line = line.split("//").next().unwrap_or("");
                if macros.iter().any(|m| line.contains(m)) {
                    found.push(format!("{file}:{}: {}", n + 1, line.trim()));
                }
            }
        }
        assert!(found.is_empty(), "print outside xtask/src/ui.rs (go through crate::ui::Ui):\n{}", found.join("\n"));
    }

    fn strip(text: &str) -> String {
        let mut out = String::new();
        let mut chars = text.chars();
        while let Some(c) = chars.next() {
            if c == '\x1b' {
                for c in chars.by_ref() {
                    if c.is_ascii_alphabetic() {
                        break;
                    }
                }
            } else {
                out.push(c);
            }
        }
        out
    }

    #[test]
    fn secrets_are_redacted_in_every_spelling() {
        let secret = "p$a{s}s w'rd\\x\"y";
        super::add_secret(secret);
        super::add_secret("ab");
        let encoded: String = secret
            .bytes()
            .map(|b| if b.is_ascii_alphanumeric() { (b as char).to_string() } else { format!("%{b:02X}") })
            .collect();
        for text in [
            format!("compose said: invalid value {secret} for POSTGRES_PASSWORD"),
            format!("postgresql://u:{encoded}@h/db"),
            format!("postgresql://h/db?password={encoded}"),
            format!("host=h password='{}'", secret.replace('\\', "\\\\").replace('\'', "\\'")),
            serde_json::to_string(&format!("error: {secret}")).unwrap(),
            format!("{:?}", format!("error: {secret}")),
            secret.replace('$', "$$"),
        ] {
            let out = super::redact(&text);
            assert!(!out.contains("s w") && !out.contains("a{s}"), "{text} -> {out}");
        }
        assert_eq!(super::redact("about abc"), "about abc", "two-character secrets are not searched for");
    }
}
