//! Set commands (Redis's "set" group), with Redis 7.0's replies and errors.

use bytes::Bytes;
use protocol::{Frame, Protocol};

use crate::store::Store;

/// SADD: not yet.
pub(super) fn sadd(_args: &[Bytes], _store: &Store, _protocol: Protocol) -> Frame {
    Frame::error("ERR not yet")
}

/// SREM: not yet.
pub(super) fn srem(_args: &[Bytes], _store: &Store, _protocol: Protocol) -> Frame {
    Frame::error("ERR not yet")
}

/// SMEMBERS: not yet.
pub(super) fn smembers(_args: &[Bytes], _store: &Store, _protocol: Protocol) -> Frame {
    Frame::error("ERR not yet")
}

/// SISMEMBER: not yet.
pub(super) fn sismember(_args: &[Bytes], _store: &Store, _protocol: Protocol) -> Frame {
    Frame::error("ERR not yet")
}

/// SMISMEMBER: not yet.
pub(super) fn smismember(_args: &[Bytes], _store: &Store, _protocol: Protocol) -> Frame {
    Frame::error("ERR not yet")
}

/// SCARD: not yet.
pub(super) fn scard(_args: &[Bytes], _store: &Store, _protocol: Protocol) -> Frame {
    Frame::error("ERR not yet")
}

/// SPOP: not yet.
pub(super) fn spop(_args: &[Bytes], _store: &Store, _protocol: Protocol) -> Frame {
    Frame::error("ERR not yet")
}

/// SRANDMEMBER: not yet.
pub(super) fn srandmember(_args: &[Bytes], _store: &Store, _protocol: Protocol) -> Frame {
    Frame::error("ERR not yet")
}

/// SSCAN: not yet.
pub(super) fn sscan(_args: &[Bytes], _store: &Store, _protocol: Protocol) -> Frame {
    Frame::error("ERR not yet")
}

/// SMOVE: not yet.
pub(super) fn smove(_args: &[Bytes], _store: &Store, _protocol: Protocol) -> Frame {
    Frame::error("ERR not yet")
}

/// SINTER: not yet.
pub(super) fn sinter(_args: &[Bytes], _store: &Store, _protocol: Protocol) -> Frame {
    Frame::error("ERR not yet")
}

/// SUNION: not yet.
pub(super) fn sunion(_args: &[Bytes], _store: &Store, _protocol: Protocol) -> Frame {
    Frame::error("ERR not yet")
}

/// SDIFF: not yet.
pub(super) fn sdiff(_args: &[Bytes], _store: &Store, _protocol: Protocol) -> Frame {
    Frame::error("ERR not yet")
}

/// SINTERCARD: not yet.
pub(super) fn sintercard(_args: &[Bytes], _store: &Store, _protocol: Protocol) -> Frame {
    Frame::error("ERR not yet")
}

/// SINTERSTORE: not yet.
pub(super) fn sinterstore(_args: &[Bytes], _store: &Store, _protocol: Protocol) -> Frame {
    Frame::error("ERR not yet")
}

/// SUNIONSTORE: not yet.
pub(super) fn sunionstore(_args: &[Bytes], _store: &Store, _protocol: Protocol) -> Frame {
    Frame::error("ERR not yet")
}

/// SDIFFSTORE: not yet.
pub(super) fn sdiffstore(_args: &[Bytes], _store: &Store, _protocol: Protocol) -> Frame {
    Frame::error("ERR not yet")
}
