//! A shard called in-process, without a socket: `jumpcache cluster` runs its own shards'
//! commands in the router's tasks (no loopback hop, so no syscalls, no wake-ups and no
//! kernel copies per request), while each shard keeps its TCP listener for redis-cli and
//! its maintenance task.
//!
//! ```text
//! router task ─▶ Embedded::call(request bytes) ─▶ Decoder ─▶ handler::reply ─▶ Store
//!             ◀─ RESP2 reply bytes ◀───────────── encode ◀──┘
//! ```
//! The caller is the router, which sends one complete command at a time and speaks RESP2 to
//! its shards: each call is one command with a fresh, authenticated session (in-process,
//! there is no one to authenticate; the shard's TCP listener still asks for its password).

use std::cell::RefCell;
use std::sync::{Arc, LazyLock};

use bytes::{Bytes, BytesMut};
use protocol::encode::encode;
use protocol::{Decoder, Frame, Protocol};
use serve::figures::ShardFigures;
use serve::session::{ServerConfig, Session};
use serve::LocalShard;

use crate::handler;
use crate::state::ShardState;

/// One shard's in-process entry point; cheap to share between threads.
#[derive(Debug, Clone)]
pub struct Embedded {
    shard: Arc<ShardState>,
}

/// A session that needs no AUTH: `Session::new` takes a password from this, and there is none.
static OPEN: LazyLock<ServerConfig> = LazyLock::new(ServerConfig::default);

/// Replies past this size leave their scratch buffer instead of being copied out of it.
const SCRATCH_KEEP: usize = 64 * 1024;

thread_local! {
    /// Each thread's reply scratch: replies are encoded here and copied out at their exact
    /// size, one allocation per reply instead of one per growth step (measured: growing a
    /// fresh buffer was a fifth of an in-process MGET's instructions).
    static SCRATCH: RefCell<BytesMut> = RefCell::new(BytesMut::with_capacity(SCRATCH_KEEP));
}

/// Returns `frame` in RESP2.
fn encoded(frame: &Frame) -> Bytes {
    SCRATCH.with_borrow_mut(|out| {
        out.clear();
        encode(frame, Protocol::Resp2, out);
        if out.len() > SCRATCH_KEEP {
            std::mem::replace(out, BytesMut::with_capacity(SCRATCH_KEEP)).freeze()
        } else {
            Bytes::copy_from_slice(out)
        }
    })
}

impl Embedded {
    /// Returns the entry point of `shard` (the state its listener serves, too).
    pub fn new(shard: Arc<ShardState>) -> Embedded {
        Embedded { shard }
    }

    /// Runs one complete RESP request, as a connection to the shard would, and returns its
    /// reply as RESP2 bytes. Anything but exactly one complete request gets Redis's protocol
    /// error, and nothing runs.
    pub fn call(&self, request: &[u8]) -> Bytes {
        let mut buf = BytesMut::from(request);
        let mut decoder = Decoder::new(self.shard.config.clients.limits());
        let frame = match decoder.decode(&mut buf) {
            Ok(Some(request)) if buf.is_empty() => {
                let mut session = Session::new(0, &OPEN);
                handler::reply(request, &mut session, &self.shard)
            }
            Ok(_) => Frame::error("ERR Protocol error: one complete request expected"),
            Err(e) => e
                .to_frame()
                .unwrap_or_else(|| Frame::error("ERR Protocol error")),
        };
        encoded(&frame)
    }
}

impl LocalShard for Embedded {
    fn call(&self, request: &[u8]) -> Bytes {
        Embedded::call(self, request)
    }

    fn figures(&self) -> ShardFigures {
        self.shard.figures()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Config;

    fn embedded() -> Embedded {
        Embedded::new(ShardState::new(Config::default(), 0))
    }

    #[test]
    fn a_call_runs_one_command_and_returns_its_resp2_reply() {
        let shard = embedded();
        let set = shard.call(b"*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$1\r\nv\r\n");
        assert_eq!(&set[..], b"+OK\r\n");
        assert_eq!(
            &shard.call(b"*2\r\n$3\r\nGET\r\n$1\r\nk\r\n")[..],
            b"$1\r\nv\r\n"
        );
        assert_eq!(
            &shard.call(b"*2\r\n$3\r\nGET\r\n$1\r\nx\r\n")[..],
            b"$-1\r\n"
        );
        assert_eq!(&shard.call(b"*1\r\n$6\r\nDBSIZE\r\n")[..], b":1\r\n");
    }

    #[test]
    fn a_reply_bigger_than_the_scratch_buffer_comes_back_whole() {
        let shard = embedded();
        let big = vec![b'x'; 3 * SCRATCH_KEEP];
        let mut set = BytesMut::new();
        protocol::encode::request(&mut set, [&b"SET"[..], b"big", &big].into_iter());
        assert_eq!(&shard.call(&set)[..], b"+OK\r\n");
        let reply = shard.call(b"*2\r\n$3\r\nGET\r\n$3\r\nbig\r\n");
        assert_eq!(
            reply.len(),
            big.len() + format!("${}\r\n\r\n", big.len()).len()
        );
        assert!(reply.ends_with(b"xxx\r\n"));
        // The scratch is fresh again: small replies still come back right.
        assert_eq!(&shard.call(b"*1\r\n$4\r\nPING\r\n")[..], b"+PONG\r\n");
    }

    #[test]
    fn a_password_on_the_shard_does_not_apply_in_process() {
        let config = Config {
            clients: serve::ClientConfig {
                requirepass: Some(serve::Password::new("pw")),
                ..serve::ClientConfig::default()
            },
            ..Config::default()
        };
        let shard = Embedded::new(ShardState::new(config, 0));
        assert_eq!(&shard.call(b"*1\r\n$4\r\nPING\r\n")[..], b"+PONG\r\n");
    }

    #[test]
    fn anything_but_one_complete_request_is_a_protocol_error_and_runs_nothing() {
        let shard = embedded();
        for bad in [
            &b"*3\r\n$3\r\nSET\r\n$1\r\nk\r\n"[..],
            b"*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$1\r\nv\r\n*1\r\n$4\r\nPING\r\n",
            b"*1\r\n$x\r\n",
        ] {
            let reply = shard.call(bad);
            assert!(reply.starts_with(b"-ERR Protocol error"), "{reply:?}");
        }
        assert_eq!(&shard.call(b"*1\r\n$6\r\nDBSIZE\r\n")[..], b":0\r\n");
    }
}
