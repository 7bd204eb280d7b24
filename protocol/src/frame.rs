//! Reply frames: one enum for RESP2 and RESP3.

use bytes::Bytes;

/// Which protocol a connection speaks, chosen by `HELLO`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Protocol {
    /// RESP2, every connection's start.
    #[default]
    Resp2,
    /// RESP3, after `HELLO 3`.
    Resp3,
}

/// A reply, as a server sends it (like redis-rs's `Value`).
///
/// Encoding follows the connection's [`Protocol`]: for RESP2 a map becomes a flat array,
/// a set an array, a boolean 0 or 1, a double a bulk string, a verbatim string a bulk.
#[derive(Debug, Clone, PartialEq)]
pub enum Frame {
    /// `+OK`: a status line; must not contain `\r` or `\n`.
    Simple(Bytes),
    /// `-ERR ...`: the whole text after the `-`, prefix included.
    Error(Bytes),
    /// `:42`.
    Integer(i64),
    /// `$3\r\nabc`.
    Bulk(Bytes),
    /// The null bulk string (`$-1` in RESP2, `_` in RESP3).
    Null,
    /// The null array (`*-1` in RESP2, `_` in RESP3).
    NullArray,
    /// `*N` followed by N frames.
    Array(Vec<Frame>),
    /// RESP3 `%N`; RESP2 sends a flat array of 2N frames.
    Map(Vec<(Frame, Frame)>),
    /// RESP3 `~N`; RESP2 sends an array.
    Set(Vec<Frame>),
    /// RESP3 `,1.5`; RESP2 sends a bulk string.
    Double(f64),
    /// RESP3 `#t`; RESP2 sends `:1` or `:0`.
    Boolean(bool),
    /// RESP3 `=N\r\ntxt:...`; RESP2 sends a bulk string.
    Verbatim(Bytes),
    /// RESP3 `>N`, an out-of-band message (`invalidate`, pub/sub); RESP2 sends an array.
    Push(Vec<Frame>),
    /// Several replies to one command, one after the other (SUBSCRIBE's one per channel).
    Sequence(Vec<Frame>),
}

impl Frame {
    /// Returns `+OK`.
    pub const fn ok() -> Frame {
        Frame::Simple(Bytes::from_static(b"OK"))
    }

    /// Returns a status line from static text.
    pub const fn simple(text: &'static str) -> Frame {
        Frame::Simple(Bytes::from_static(text.as_bytes()))
    }

    /// Returns an error reply from static text (`"ERR syntax error"`).
    pub const fn error(text: &'static str) -> Frame {
        Frame::Error(Bytes::from_static(text.as_bytes()))
    }

    /// Returns an error reply from a formatted text; `\r` and `\n` become spaces, as Redis does.
    pub fn error_owned(text: String) -> Frame {
        let mut bytes = text.into_bytes();
        for b in &mut bytes {
            if *b == b'\r' || *b == b'\n' {
                *b = b' ';
            }
        }
        Frame::Error(Bytes::from(bytes))
    }

    /// Returns a bulk string copied from `data`.
    pub fn bulk(data: &[u8]) -> Frame {
        Frame::Bulk(Bytes::copy_from_slice(data))
    }

    /// Returns `Bulk` for `Some`, `Null` for `None`.
    pub fn bulk_or_null(value: Option<Bytes>) -> Frame {
        value.map_or(Frame::Null, Frame::Bulk)
    }

    /// Returns true for an error reply.
    pub fn is_error(&self) -> bool {
        matches!(self, Frame::Error(_))
    }
}

impl From<i64> for Frame {
    fn from(n: i64) -> Frame {
        Frame::Integer(n)
    }
}

impl From<Bytes> for Frame {
    fn from(b: Bytes) -> Frame {
        Frame::Bulk(b)
    }
}
