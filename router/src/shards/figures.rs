//! A shard's figures, asked of it: an in-process shard hands them over as they are; a shard
//! over a socket answers one INFO, parsed once (`ShardFigures::from_info`).
//!
//! ```text
//! ShardClient::send_figures ─▶ LocalShard::figures ─────────────────────────▶ FiguresCall::Ready
//!                           └▶ send(INFO server memory persistence stats keyspace) ─▶ FiguresCall::Sent
//! FiguresCall::wait ─▶ Call::wait ─▶ from_reply ─▶ ShardFigures::from_info
//! ```

use bytes::Bytes;
use protocol::Frame;
use serve::figures::ShardFigures;

use super::{Call, ShardClient};

/// The sections the figures come from.
const REQUEST: &[u8] = b"*6\r\n$4\r\nINFO\r\n$6\r\nserver\r\n$6\r\nmemory\r\n\
    $11\r\npersistence\r\n$5\r\nstats\r\n$8\r\nkeyspace\r\n";

/// A request for a shard's figures; [`FiguresCall::wait`] gives them.
#[derive(Debug)]
pub enum FiguresCall {
    /// An in-process shard's, taken when asked.
    Ready(ShardFigures),
    /// INFO sent to a shard over a socket.
    Sent(Call),
}

impl FiguresCall {
    /// Waits for the figures; `None` when the shard did not answer, or answered something
    /// that is not INFO.
    ///
    /// Cancel-safe, as [`Call::wait`] is.
    pub async fn wait(self) -> Option<ShardFigures> {
        match self {
            FiguresCall::Ready(figures) => Some(figures),
            FiguresCall::Sent(call) => from_reply(&call.wait().await.ok()?),
        }
    }
}

impl ShardClient {
    /// Asks the shard for its figures, over connection `lane` when it has connections (see
    /// [`send`](Self::send): a client's INFO follows its earlier commands).
    ///
    /// Cancel-safe, as [`send`](Self::send) is.
    pub async fn send_figures(&self, lane: u64) -> FiguresCall {
        match &self.local {
            Some(local) => FiguresCall::Ready(local.figures()),
            None => FiguresCall::Sent(self.send(lane, Bytes::from_static(REQUEST)).await),
        }
    }
}

/// Returns the figures in an INFO reply (a bulk or verbatim string), `None` for anything else.
fn from_reply(raw: &[u8]) -> Option<ShardFigures> {
    match protocol::reply::parse(raw) {
        Ok(Frame::Bulk(t) | Frame::Verbatim(t)) => {
            Some(ShardFigures::from_info(&String::from_utf8_lossy(&t)))
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_info_reply_gives_its_figures_and_anything_else_none() {
        let mut raw = bytes::BytesMut::new();
        let text = "# Memory\r\nused_memory:100\r\n\r\n# Stats\r\nkeyspace_hits:3\r\n\r\n\
                    # Keyspace\r\ndb0:keys=3,expires=1,avg_ttl=0\r\n";
        protocol::encode::bulk(&mut raw, text.as_bytes());
        let k = from_reply(&raw).unwrap().keyspace;
        assert_eq!((k.keys, k.expires, k.used_memory, k.hits), (3, 1, 100, 3));
        assert_eq!(from_reply(b":1\r\n"), None);
        assert_eq!(from_reply(b"-ERR no\r\n"), None);
    }
}
