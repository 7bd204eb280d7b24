//! A connection's transaction state: the commands queued since MULTI, and the WATCHed keys.
//!
//! Shared by shard and router: both queue the same way (`session::handle_local` answers
//! `+QUEUED`), and each runs EXEC its own way (`server::txn`, `router::txn`). Outside MULTI
//! and WATCH a session holds `None` here, so the hot path pays one branch.

use bytes::Bytes;
use protocol::command::{Command, Kind};

/// The commands a client queued since MULTI.
#[derive(Debug, Clone, Default)]
pub struct Multi {
    /// In the order they were sent.
    pub queued: Vec<Command>,
    /// A queued command was refused (unknown, arity, NOAUTH): EXEC answers EXECABORT.
    pub failed: bool,
}

/// Keys a client WATCHes, under one token: the shard's watch table knows the token, and
/// marks it dirty when one of its keys is written.
#[derive(Debug, Clone)]
pub struct Watched {
    /// Unique to this connection's WATCH (a router sends it to every group it touches).
    pub token: u64,
    /// Every key watched, in the order given (duplicates kept out).
    pub keys: Vec<Bytes>,
}

/// A connection's transaction state, boxed in its session when it has any.
#[derive(Debug, Clone, Default)]
pub struct TxnState {
    /// Since MULTI.
    pub multi: Option<Multi>,
    /// Since the first WATCH.
    pub watched: Option<Watched>,
}

/// Returns true for the commands Redis runs at once inside MULTI instead of queueing them
/// (`processCommand`: EXEC, DISCARD, MULTI, WATCH, QUIT, RESET).
pub fn runs_inside_multi(kind: Kind) -> bool {
    matches!(
        kind,
        Kind::Exec | Kind::Discard | Kind::Multi | Kind::Watch | Kind::Quit | Kind::Reset
    )
}
