//! List commands (Redis's "list" group), with Redis 7.0's replies and errors.

use bytes::Bytes;
use protocol::{Frame, Protocol};

use crate::store::Store;

/// LPUSH: not yet.
pub(super) fn lpush(_args: &[Bytes], _store: &Store, _protocol: Protocol) -> Frame {
    Frame::error("ERR not yet")
}

/// RPUSH: not yet.
pub(super) fn rpush(_args: &[Bytes], _store: &Store, _protocol: Protocol) -> Frame {
    Frame::error("ERR not yet")
}

/// LPUSHX: not yet.
pub(super) fn lpushx(_args: &[Bytes], _store: &Store, _protocol: Protocol) -> Frame {
    Frame::error("ERR not yet")
}

/// RPUSHX: not yet.
pub(super) fn rpushx(_args: &[Bytes], _store: &Store, _protocol: Protocol) -> Frame {
    Frame::error("ERR not yet")
}

/// LPOP: not yet.
pub(super) fn lpop(_args: &[Bytes], _store: &Store, _protocol: Protocol) -> Frame {
    Frame::error("ERR not yet")
}

/// RPOP: not yet.
pub(super) fn rpop(_args: &[Bytes], _store: &Store, _protocol: Protocol) -> Frame {
    Frame::error("ERR not yet")
}

/// LLEN: not yet.
pub(super) fn llen(_args: &[Bytes], _store: &Store, _protocol: Protocol) -> Frame {
    Frame::error("ERR not yet")
}

/// LRANGE: not yet.
pub(super) fn lrange(_args: &[Bytes], _store: &Store, _protocol: Protocol) -> Frame {
    Frame::error("ERR not yet")
}

/// LINDEX: not yet.
pub(super) fn lindex(_args: &[Bytes], _store: &Store, _protocol: Protocol) -> Frame {
    Frame::error("ERR not yet")
}

/// LSET: not yet.
pub(super) fn lset(_args: &[Bytes], _store: &Store, _protocol: Protocol) -> Frame {
    Frame::error("ERR not yet")
}

/// LREM: not yet.
pub(super) fn lrem(_args: &[Bytes], _store: &Store, _protocol: Protocol) -> Frame {
    Frame::error("ERR not yet")
}

/// LTRIM: not yet.
pub(super) fn ltrim(_args: &[Bytes], _store: &Store, _protocol: Protocol) -> Frame {
    Frame::error("ERR not yet")
}

/// LINSERT: not yet.
pub(super) fn linsert(_args: &[Bytes], _store: &Store, _protocol: Protocol) -> Frame {
    Frame::error("ERR not yet")
}

/// LPOS: not yet.
pub(super) fn lpos(_args: &[Bytes], _store: &Store, _protocol: Protocol) -> Frame {
    Frame::error("ERR not yet")
}

/// LMOVE: not yet.
pub(super) fn lmove(_args: &[Bytes], _store: &Store, _protocol: Protocol) -> Frame {
    Frame::error("ERR not yet")
}
