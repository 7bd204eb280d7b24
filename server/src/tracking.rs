//! Where a shard's keys change, told to CLIENT TRACKING (`serve::tracking`) and to WATCH.
//!
//! ```text
//! exec::execute (a write that did not fail) ─▶ written ─▶ Hub::invalidate / Hub::flushed
//! Store removal hook (expiry, eviction) ─▶ removed ─▶ Hub::invalidate, Txn::touch
//! JUMPCACHE DROP (a key moved away in a resize) ─▶ invalidate
//! ```

use std::cell::Cell;

use bytes::Bytes;
use protocol::{Command, Kind};

use crate::state::ShardState;

thread_local! {
    /// The client whose command runs on this thread (NOLOOP skips its own writes).
    static CURRENT: Cell<u64> = const { Cell::new(0) };
}

/// Runs `f` as client `id`'s command.
pub(crate) fn as_client<R>(id: u64, f: impl FnOnce() -> R) -> R {
    let before = CURRENT.with(|c| c.replace(id));
    let out = f();
    CURRENT.with(|c| c.set(before));
    out
}

/// After a write command that did not fail: invalidates its keys (every key it names, as
/// WATCH counts them), or everything for FLUSHALL / FLUSHDB.
pub(crate) fn written(cmd: &Command, shard: &ShardState) {
    let hub = &shard.server_config.tracking;
    if !hub.active() {
        return;
    }
    let registry = &shard.server_config.clients;
    match cmd.kind() {
        Kind::FlushAll | Kind::FlushDb => hub.flushed(registry),
        _ => {
            let keys: Vec<&Bytes> = cmd.keys().collect();
            hub.invalidate(registry, CURRENT.with(Cell::get), &keys);
        }
    }
}

/// Keys that left this shard without a command writing them (JUMPCACHE DROP).
pub(crate) fn invalidate(shard: &ShardState, keys: &[&Bytes]) {
    let hub = &shard.server_config.tracking;
    if hub.active() {
        hub.invalidate(&shard.server_config.clients, 0, keys);
    }
}

/// The store removed `key` by itself (expired, evicted): tracking clients are told, and a
/// WATCH on it fails EXEC, as in Redis 7.
pub(crate) fn removed(shard: &ShardState, key: &[u8]) {
    let hub = &shard.server_config.tracking;
    let watching = shard.txn.watching();
    if !hub.active() && !watching {
        return;
    }
    let key = Bytes::copy_from_slice(key);
    if watching {
        shard.txn.touch([&key]);
    }
    hub.invalidate(&shard.server_config.clients, 0, &[&key]);
}
