//! Ctrl-C, SIGTERM and SIGHUP (a dropped SSH session): while at least one [`Interruptible`] guard lives, they
//! only set a flag, so the work in progress cleans up (removes a partial
//! backup, rolls a restore back, brings the app back, releases the deploy
//! lock, writes the journal) and returns an error; otherwise they keep their
//! default action. Child processes in the foreground process group still get
//! Ctrl-C themselves, so a running `compose build` stops and its step fails;
//! those in a process group of their own (pg_dump and psql through `docker
//! exec`, compose's stop, start and up) finish or are stopped by the work that
//! sees the flag (the backup kills pg_dump and ends its server session).

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::OnceLock;

use eyre::{Result, WrapErr};

/// While at least one guard lives, Ctrl-C and SIGTERM set a flag (the work
/// cleans up and returns an error) instead of killing drydock; otherwise they
/// keep their default action.
pub(crate) struct Interruptible(());

static INTERRUPTED: AtomicBool = AtomicBool::new(false);
static DEFAULT_ACTION: AtomicBool = AtomicBool::new(true);
static DEPTH: AtomicUsize = AtomicUsize::new(0);
static REGISTERED: OnceLock<()> = OnceLock::new();

impl Interruptible {
    pub(crate) fn enter() -> Result<Interruptible> {
        if REGISTERED.get().is_none() {
            for signal in [signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM, signal_hook::consts::SIGHUP] {
                signal_hook::flag::register_conditional_default(signal, &DEFAULT_ACTION)
                    .wrap_err("cannot install the Ctrl-C handler")?;
                signal_hook::flag::register(signal, &INTERRUPTED).wrap_err("cannot install the Ctrl-C handler")?;
            }
            let _ = REGISTERED.set(());
        }
        if DEPTH.fetch_add(1, Ordering::SeqCst) == 0 {
            INTERRUPTED.store(false, Ordering::SeqCst);
            DEFAULT_ACTION.store(false, Ordering::SeqCst);
        }
        Ok(Interruptible(()))
    }

    /// Set once Ctrl-C or SIGTERM arrived while guarded.
    pub(crate) fn flag(&self) -> &'static AtomicBool {
        &INTERRUPTED
    }
}

impl Drop for Interruptible {
    fn drop(&mut self) {
        if DEPTH.fetch_sub(1, Ordering::SeqCst) == 1 {
            DEFAULT_ACTION.store(true, Ordering::SeqCst);
        }
    }
}
