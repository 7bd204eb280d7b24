//! A shard's reply as the data path carries it: the bytes a shard's socket sent, or the
//! value an in-process shard returned. Neither is converted unless a consumer needs the
//! other form, so a socket reply to a RESP2 client is passed on untouched and an in-process
//! reply is encoded once, straight into the client's buffer.

use bytes::{Bytes, BytesMut};
use protocol::encode::encode;
use protocol::{reply, Frame, FrameError, Protocol};

use crate::shards::ShardError;

/// One shard's answer: its reply, or why there is none.
pub type ShardReply = Result<Reply, ShardError>;

/// One reply from a shard.
#[derive(Debug, Clone, PartialEq)]
pub enum Reply {
    /// RESP2 bytes, as a shard's socket sent them.
    Raw(Bytes),
    /// The value an in-process shard returned.
    Frame(Frame),
}

impl Reply {
    /// Returns true for an error reply.
    pub fn is_error(&self) -> bool {
        match self {
            Reply::Raw(raw) => raw.first() == Some(&b'-'),
            Reply::Frame(frame) => frame.is_error(),
        }
    }

    /// Returns the reply as a value, parsing a socket's bytes.
    ///
    /// # Errors
    /// The bytes are not one well-formed reply.
    pub fn into_frame(self) -> Result<Frame, FrameError> {
        match self {
            Reply::Raw(raw) => reply::parse(&raw),
            Reply::Frame(frame) => Ok(frame),
        }
    }

    /// Returns the reply as RESP2 bytes, encoding a value.
    pub fn into_raw(self) -> Bytes {
        match self {
            Reply::Raw(raw) => raw,
            Reply::Frame(frame) => {
                let mut out = BytesMut::new();
                encode(&frame, Protocol::Resp2, &mut out);
                out.freeze()
            }
        }
    }
}
