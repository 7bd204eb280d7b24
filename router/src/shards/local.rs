//! Shards this process runs itself (`jumpcache cluster`), called through
//! [`serve::LocalShard`]: the data path hands over the command it parsed; the rest of the
//! router (health checks, syncs, INFO, replicated groups) still speaks RESP bytes, which are
//! parsed here once.

use std::collections::HashMap;
use std::sync::Arc;

use bytes::BytesMut;
use protocol::{Command, Decoder, Frame, Limits};
use serve::LocalShard;

/// The shards this process runs itself, by the address the router's shard list gives them.
pub type LocalShards = HashMap<String, Arc<dyn LocalShard>>;

/// What a local shard answers to bytes that are not one complete request.
const ONE_REQUEST: &str = "ERR Protocol error: one complete request expected";

/// Runs one complete RESP request on `shard`. Anything but exactly one complete request gets
/// Redis's protocol error, and nothing runs.
pub(super) fn execute_raw(shard: &dyn LocalShard, request: &[u8]) -> Frame {
    let mut buf = BytesMut::from(request);
    let mut decoder = Decoder::new(Limits::default());
    match decoder.decode(&mut buf) {
        Ok(Some(request)) if buf.is_empty() => match Command::from_request(request) {
            Ok(cmd) => shard.execute(&cmd),
            Err(e) => e.to_frame(),
        },
        Ok(_) => Frame::error(ONE_REQUEST),
        Err(e) => e
            .to_frame()
            .unwrap_or_else(|| Frame::error("ERR Protocol error")),
    }
}
