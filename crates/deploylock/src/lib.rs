//! The deploy lock: one deploy per environment at a time, even from two machines.
//!
//! Two parts, each for what it does best:
//! - a PostgreSQL advisory lock (two-key form, key 1 = [`DEPLOY_LOCK_CLASS`],
//!   key 2 = a hash of the environment name; distinct from the migration lock
//!   72707369, which uses the one-key form) held on a dedicated connection for
//!   the whole run: authoritative, and released by the server when the
//!   process dies, whatever killed it;
//! - a lock file `<backups>/.deploy-<env>.lock` (pid, user, host, start time,
//!   command) for a readable message, and to notice a holder that is gone.
//!
//! Runs no program; talks to PostgreSQL (connecting through `pgconn`, so every
//! URL form users have works) and writes the lock file only. Never prints.

#![deny(missing_docs)]

mod lock;

pub use lock::{acquire, current_user, DeployLock, Holder, LockError, DEPLOY_LOCK_CLASS};
