//! The terminal: the only place drydock prints. Progress bars and colors on a
//! TTY; plain lines when stdout is not a TTY or `NO_COLOR` is set.

use std::io::{IsTerminal, Write};
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
        let _ = writeln!(std::io::stdout(), "{}", text.as_ref());
    }

    /// A warning on stderr.
    pub(crate) fn warn(&self, text: impl AsRef<str>) {
        let _ = writeln!(std::io::stderr(), "{} {}", self.yellow("warning:"), text.as_ref());
    }

    /// The final error of a run, with its chain of causes, on stderr.
    pub(crate) fn error(&self, err: &eyre::Report) {
        let _ = writeln!(std::io::stderr(), "{} {err}", self.red("error:"));
        for cause in err.chain().skip(1) {
            let _ = writeln!(std::io::stderr(), "  caused by: {cause}");
        }
    }

    /// A bar of bytes with rate; hidden (and replaced by the caller's plain
    /// lines) when stdout is not a terminal.
    pub(crate) fn bytes_bar(&self, total: Option<u64>, message: &str) -> ProgressBar {
        if !self.tty {
            return ProgressBar::hidden();
        }
        let bar = match total {
            Some(total) => ProgressBar::new(total).with_style(
                ProgressStyle::with_template("{msg} [{bar:30}] {bytes}/{total_bytes} {bytes_per_sec} {eta}")
                    .expect("static template")
                    .progress_chars("=> "),
            ),
            None => ProgressBar::new_spinner().with_style(
                ProgressStyle::with_template("{spinner} {msg} {bytes} {bytes_per_sec} {elapsed}")
                    .expect("static template"),
            ),
        };
        bar.set_draw_target(ProgressDrawTarget::stdout());
        bar.set_message(message.to_owned());
        bar.enable_steady_tick(Duration::from_millis(120));
        bar
    }

    /// A spinner for work of unknown length; on a non-TTY, one plain line.
    pub(crate) fn spinner(&self, message: &str) -> ProgressBar {
        if !self.tty {
            self.line(format!("{message} ..."));
            return ProgressBar::hidden();
        }
        let bar = ProgressBar::new_spinner()
            .with_style(ProgressStyle::with_template("{spinner} {msg} {elapsed}").expect("static template"));
        bar.set_draw_target(ProgressDrawTarget::stdout());
        bar.set_message(message.to_owned());
        bar.enable_steady_tick(Duration::from_millis(120));
        bar
    }

    /// A left-aligned table with a bold header row.
    pub(crate) fn table(&self, header: &[&str], rows: &[Vec<String>]) {
        let mut widths: Vec<usize> = header.iter().map(|h| h.len()).collect();
        for row in rows {
            for (i, cell) in row.iter().enumerate() {
                widths[i] = widths[i].max(cell.chars().count());
            }
        }
        let fmt = |cells: Vec<String>| {
            cells
                .iter()
                .enumerate()
                .map(|(i, c)| format!("{c:<w$}", w = widths[i]))
                .collect::<Vec<_>>()
                .join("  ")
                .trim_end()
                .to_owned()
        };
        self.line(self.bold(&fmt(header.iter().map(|h| h.to_string()).collect())));
        for row in rows {
            self.line(fmt(row.clone()));
        }
    }
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
