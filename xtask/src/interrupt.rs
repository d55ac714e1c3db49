//! Ctrl-C and SIGTERM: one process-wide flag instead of dying mid-step, so
//! every task can clean up (remove a partial backup, bring the app back,
//! release the deploy lock, write the journal) and then exit non-zero.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, OnceLock};

static FLAG: OnceLock<Arc<AtomicBool>> = OnceLock::new();

/// The flag set by SIGINT or SIGTERM; registers the handlers on first use.
/// Child processes in the foreground process group still receive Ctrl-C
/// themselves, so a running `pg_dump` or `compose build` stops and its step fails.
pub(crate) fn flag() -> Arc<AtomicBool> {
    FLAG.get_or_init(|| {
        let flag = Arc::new(AtomicBool::new(false));
        for signal in [signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM] {
            // Registration fails only for forbidden signals; these are not.
            let _ = signal_hook::flag::register(signal, flag.clone());
        }
        flag
    })
    .clone()
}

/// Whether Ctrl-C or SIGTERM arrived since the handlers were registered.
pub(crate) fn interrupted() -> bool {
    FLAG.get().is_some_and(|f| f.load(Ordering::SeqCst))
}
