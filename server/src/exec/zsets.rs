//! Sorted-set commands (Redis's "sorted_set" group), with Redis 7.0's replies and errors.

use bytes::Bytes;
use protocol::{Frame, Protocol};

use crate::store::Store;

/// ZADD: not yet.
pub(super) fn zadd(_args: &[Bytes], _store: &Store, _protocol: Protocol) -> Frame {
    Frame::error("ERR not yet")
}

/// ZREM: not yet.
pub(super) fn zrem(_args: &[Bytes], _store: &Store, _protocol: Protocol) -> Frame {
    Frame::error("ERR not yet")
}

/// ZSCORE: not yet.
pub(super) fn zscore(_args: &[Bytes], _store: &Store, _protocol: Protocol) -> Frame {
    Frame::error("ERR not yet")
}

/// ZMSCORE: not yet.
pub(super) fn zmscore(_args: &[Bytes], _store: &Store, _protocol: Protocol) -> Frame {
    Frame::error("ERR not yet")
}

/// ZINCRBY: not yet.
pub(super) fn zincrby(_args: &[Bytes], _store: &Store, _protocol: Protocol) -> Frame {
    Frame::error("ERR not yet")
}

/// ZCARD: not yet.
pub(super) fn zcard(_args: &[Bytes], _store: &Store, _protocol: Protocol) -> Frame {
    Frame::error("ERR not yet")
}

/// ZCOUNT: not yet.
pub(super) fn zcount(_args: &[Bytes], _store: &Store, _protocol: Protocol) -> Frame {
    Frame::error("ERR not yet")
}

/// ZRANK: not yet.
pub(super) fn zrank(_args: &[Bytes], _store: &Store, _protocol: Protocol) -> Frame {
    Frame::error("ERR not yet")
}

/// ZREVRANK: not yet.
pub(super) fn zrevrank(_args: &[Bytes], _store: &Store, _protocol: Protocol) -> Frame {
    Frame::error("ERR not yet")
}

/// ZRANGE: not yet.
pub(super) fn zrange(_args: &[Bytes], _store: &Store, _protocol: Protocol) -> Frame {
    Frame::error("ERR not yet")
}

/// ZRANGEBYSCORE: not yet.
pub(super) fn zrangebyscore(_args: &[Bytes], _store: &Store, _protocol: Protocol) -> Frame {
    Frame::error("ERR not yet")
}

/// ZREVRANGEBYSCORE: not yet.
pub(super) fn zrevrangebyscore(_args: &[Bytes], _store: &Store, _protocol: Protocol) -> Frame {
    Frame::error("ERR not yet")
}

/// ZREVRANGE: not yet.
pub(super) fn zrevrange(_args: &[Bytes], _store: &Store, _protocol: Protocol) -> Frame {
    Frame::error("ERR not yet")
}

/// ZRANGEBYLEX: not yet.
pub(super) fn zrangebylex(_args: &[Bytes], _store: &Store, _protocol: Protocol) -> Frame {
    Frame::error("ERR not yet")
}

/// ZREMRANGEBYSCORE: not yet.
pub(super) fn zremrangebyscore(_args: &[Bytes], _store: &Store, _protocol: Protocol) -> Frame {
    Frame::error("ERR not yet")
}

/// ZREMRANGEBYRANK: not yet.
pub(super) fn zremrangebyrank(_args: &[Bytes], _store: &Store, _protocol: Protocol) -> Frame {
    Frame::error("ERR not yet")
}

/// ZPOPMIN: not yet.
pub(super) fn zpopmin(_args: &[Bytes], _store: &Store, _protocol: Protocol) -> Frame {
    Frame::error("ERR not yet")
}

/// ZPOPMAX: not yet.
pub(super) fn zpopmax(_args: &[Bytes], _store: &Store, _protocol: Protocol) -> Frame {
    Frame::error("ERR not yet")
}

/// ZSCAN: not yet.
pub(super) fn zscan(_args: &[Bytes], _store: &Store, _protocol: Protocol) -> Frame {
    Frame::error("ERR not yet")
}

/// ZRANDMEMBER: not yet.
pub(super) fn zrandmember(_args: &[Bytes], _store: &Store, _protocol: Protocol) -> Frame {
    Frame::error("ERR not yet")
}
