//! The one way drydock opens a PostgreSQL connection: every URL form users
//! have (Prisma's `?schema=` and pool parameters, `?password=`, libpq
//! `key=value` strings), one timeout, and errors that never contain the
//! connection string or the password.
//!
//! [`parse`] reads a connection string into [`Params`] by an allow-list of
//! parameters (an unknown one is a clear error naming the key, never its
//! value); [`connect`] opens a plain connection (TLS is not supported:
//! `sslmode=disable/allow/prefer` connect without it, `require` and
//! `verify-*` are refused), spawns it on the current tokio runtime, sets
//! `application_name` and, for `schema=`, the session's `search_path`.
//!
//! Runs no program, never prints.

#![deny(missing_docs)]

mod connect;
mod parse;

pub use connect::{connect, connect_params, ConnectError, DEFAULT_CONNECT_TIMEOUT};
pub use parse::{parse, Params};
