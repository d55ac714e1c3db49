//! Exit codes that carry meaning (STYLE.md 15): an operator's script can tell
//! "refused, nothing changed" from "failed, rolled back" from "outcome unknown".
//!
//! | code | meaning |
//! |---|---|
//! | 0 | success |
//! | 1 | failed; what it changed was rolled back, as the server confirmed (the default for any error) |
//! | 2 | refused before anything changed (bad input, preflight finding, lock held, usage error) |
//! | 3 | outcome unknown: drydock could not confirm what the server kept; the message says how to find out |
//!
//! A task marks its error with [`refused`], [`failed`] or [`unknown`] where it knows which it is;
//! `main` reads the mark with [`of`]. Context added later (`wrap_err`) keeps the mark.

use std::fmt;

/// What an error means for the caller; carried inside the `eyre::Report`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Exit {
    /// Exit 1: failed, and what it changed was rolled back (confirmed).
    Failed,
    /// Exit 2: refused before anything changed.
    Refused,
    /// Exit 3: the outcome could not be confirmed.
    Unknown,
}

impl Exit {
    /// The process exit code.
    pub(crate) fn code(self) -> u8 {
        match self {
            Exit::Failed => 1,
            Exit::Refused => 2,
            Exit::Unknown => 3,
        }
    }
}

/// The mark travels as the error's innermost-but-one cause, so messages are unchanged.
#[derive(Debug)]
struct Marked {
    exit: Exit,
    cause: eyre::Report,
}

impl fmt::Display for Marked {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.cause, f)
    }
}

impl std::error::Error for Marked {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.cause.source()
    }
}

fn mark(exit: Exit, report: eyre::Report) -> eyre::Report {
    eyre::Report::new(Marked { exit, cause: report })
}

/// Marks `report` as "refused before anything changed" (exit 2).
pub(crate) fn refused(report: eyre::Report) -> eyre::Report {
    mark(Exit::Refused, report)
}

/// Marks `report` as "outcome unknown" (exit 3).
pub(crate) fn unknown(report: eyre::Report) -> eyre::Report {
    mark(Exit::Unknown, report)
}

/// Marks `report` as "failed, rolled back, confirmed" (exit 1, the default; for clarity at call sites).
pub(crate) fn failed(report: eyre::Report) -> eyre::Report {
    mark(Exit::Failed, report)
}

/// What `report` means: the outermost mark wins; unmarked errors are [`Exit::Failed`].
pub(crate) fn of(report: &eyre::Report) -> Exit {
    report.chain().find_map(|e| e.downcast_ref::<Marked>().map(|m| m.exit)).unwrap_or(Exit::Failed)
}

#[cfg(test)]
mod tests {
    use super::*;
    use eyre::{eyre, WrapErr};

    #[test]
    fn marks_survive_context_and_keep_the_message() {
        let err: eyre::Result<()> = Err(refused(eyre!("backup is incomplete"))).wrap_err("restore prod");
        let err = err.unwrap_err();
        assert_eq!(of(&err), Exit::Refused);
        assert_eq!(format!("{err:#}"), "restore prod: backup is incomplete");
        assert_eq!(of(&eyre!("plain")), Exit::Failed);
        let outer = unknown(refused(eyre!("inner")));
        assert_eq!(of(&outer), Exit::Unknown);
        assert_eq!([Exit::Failed, Exit::Refused, Exit::Unknown].map(Exit::code), [1, 2, 3]);
    }
}
