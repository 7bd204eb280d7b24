//! A shard called in-process, without a socket: `jumpcache cluster` runs its own shards'
//! commands in the router's tasks (no loopback hop, so no syscalls, no wake-ups and no
//! kernel copies per request), while each shard keeps its TCP listener for redis-cli and
//! its maintenance task.
//!
//! ```text
//! router task ─▶ LocalShard::execute(&Command) ─▶ Embedded::execute ─▶ handler::execute ─▶ Store
//!             ◀─ Frame ◀──────────────────────────────────────────────┘
//! ```
//! The router hands over the command it already parsed and planned, and gets the reply as
//! a value: the same entry point the shard's connections use after decoding, with a fresh,
//! authenticated session per call (in-process there is no one to authenticate; the shard's
//! TCP listener still asks for its password).

use std::sync::{Arc, LazyLock};

use protocol::{Command, Frame};
use serve::figures::ShardFigures;
use serve::session::{ServerConfig, Session};
use serve::LocalShard;

use crate::handler;
use crate::state::ShardState;

/// One shard's in-process entry point; cheap to share between threads.
#[derive(Debug, Clone)]
pub struct Embedded {
    shard: Arc<ShardState>,
    /// The client id the calls track their reads under, once `track` was called.
    tracker: Arc<std::sync::OnceLock<u64>>,
}

/// A session that needs no AUTH: `Session::new` takes a password from this, and there is none.
static OPEN: LazyLock<ServerConfig> = LazyLock::new(ServerConfig::default);

impl Embedded {
    /// Returns the entry point of `shard` (the state its listener serves, too).
    pub fn new(shard: Arc<ShardState>) -> Embedded {
        Embedded {
            shard,
            tracker: Arc::default(),
        }
    }

    /// Runs one parsed command, as a connection to the shard would, and returns its reply.
    pub fn execute(&self, cmd: &Command) -> Frame {
        let Some(&id) = self.tracker.get() else {
            let mut session = Session::new(0, &OPEN);
            return handler::execute(cmd, &mut session, &self.shard);
        };
        // Remembered before the read, as a tracking connection's (serve::tracking).
        if cmd
            .spec()
            .flags
            .contains(protocol::command::Flags::READONLY)
        {
            let config = &self.shard.server_config;
            config.tracking.remember(&config.clients, id, cmd.keys());
        }
        let mut session = Session::new(id, &OPEN);
        handler::execute(cmd, &mut session, &self.shard)
    }
}

impl LocalShard for Embedded {
    fn execute(&self, cmd: &Command) -> Frame {
        Embedded::execute(self, cmd)
    }

    fn figures(&self) -> ShardFigures {
        self.shard.figures()
    }

    fn track(&self, sink: Arc<dyn Fn(serve::tracking::Invalidation<'_>) + Send + Sync>) {
        let id = *self
            .tracker
            .get_or_init(|| self.shard.stats.next_client_id());
        self.shard.server_config.tracking.enable(
            id,
            serve::tracking::Sink::Direct(sink),
            0,
            false,
            None,
            Arc::default(),
        );
    }
}

#[cfg(test)]
mod tests {
    use bytes::Bytes;
    use protocol::Request;

    use super::*;
    use crate::config::Config;

    fn embedded() -> Embedded {
        Embedded::new(ShardState::new(Config::default(), 0))
    }

    fn cmd(parts: &[&str]) -> Command {
        let args = parts.iter().map(|p| Bytes::copy_from_slice(p.as_bytes()));
        Command::from_request(Request {
            args: args.collect(),
            raw: Bytes::new(),
            inline: false,
        })
        .unwrap()
    }

    #[test]
    fn a_command_runs_on_the_store_and_returns_its_reply() {
        let shard = embedded();
        assert_eq!(shard.execute(&cmd(&["SET", "k", "v"])), Frame::ok());
        assert_eq!(
            shard.execute(&cmd(&["GET", "k"])),
            Frame::Bulk(Bytes::from_static(b"v"))
        );
        assert_eq!(shard.execute(&cmd(&["GET", "x"])), Frame::Null);
        assert_eq!(shard.execute(&cmd(&["DBSIZE"])), Frame::Integer(1));
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
        assert_eq!(
            shard.execute(&cmd(&["PING"])),
            Frame::Simple(Bytes::from_static(b"PONG"))
        );
    }

    #[test]
    fn commands_run_in_process_are_counted_like_the_sockets() {
        let state = ShardState::new(Config::default(), 0);
        let shard = Embedded::new(state.clone());
        shard.execute(&cmd(&["SET", "k", "v"]));
        shard.execute(&cmd(&["INCR", "k"]));
        let processed = state
            .stats
            .commands_processed
            .load(std::sync::atomic::Ordering::Relaxed);
        assert_eq!(processed, 2);
    }
}
