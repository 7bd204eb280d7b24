//! Replies read back from shards: a bounded, incremental, non-recursive reader.
//!
//! The router forwards a shard's reply bytes unchanged, so it only needs to know where one
//! reply ends ([`ReplyDecoder::decode`]). Finding that boundary needs no tree: one counter of
//! items still to read is enough (an aggregate of N adds N, a map 2N), so hostile nesting
//! costs a counter, not a stack frame. Merges that need the values call [`parse`], which
//! builds a [`Frame`] with an explicit stack and a depth limit (a deeper `Frame` could not
//! even be dropped without recursing).

use bytes::{Bytes, BytesMut};

use crate::command::parse_i64;
use crate::error::FrameError;
use crate::frame::Frame;

/// Limits on what a shard may send, checked before anything is allocated.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReplyLimits {
    /// The longest bulk string (`proto-max-bulk-len`, 512 MiB).
    pub max_bulk_len: usize,
    /// The largest aggregate count (`INT_MAX`).
    pub max_aggregate_len: i64,
    /// The longest header or simple line (64 KiB).
    pub max_line_len: usize,
}

impl Default for ReplyLimits {
    fn default() -> Self {
        ReplyLimits {
            max_bulk_len: 512 * 1024 * 1024,
            max_aggregate_len: i32::MAX as i64,
            max_line_len: 64 * 1024,
        }
    }
}

/// Nesting [`parse`] accepts; our shards never send more than two levels.
pub const MAX_PARSE_DEPTH: usize = 512;

/// Finds reply boundaries in a shard connection's read buffer, resuming where it stopped.
#[derive(Debug, Default)]
pub struct ReplyDecoder {
    limits: ReplyLimits,
    /// Offset of the next unread item of the reply under way.
    pos: usize,
    /// Items still to read for the reply under way; 0 between replies.
    remaining: u64,
}

/// One item header: where the item ends and how many child items it announces.
struct Item {
    next: usize,
    children: u64,
}

fn protocol(msg: &str) -> FrameError {
    FrameError::Protocol(msg.to_string())
}

impl ReplyDecoder {
    /// Returns a decoder enforcing `limits`.
    pub fn new(limits: ReplyLimits) -> ReplyDecoder {
        ReplyDecoder {
            limits,
            ..ReplyDecoder::default()
        }
    }

    /// Takes the next complete reply's raw bytes off the front of `buf`.
    ///
    /// Returns `Ok(None)` when more bytes are needed; between two calls the caller may only
    /// append to `buf`. Each byte is examined a bounded number of times: the work already done
    /// for a partial reply is kept.
    ///
    /// # Errors
    /// `FrameError::Protocol` for malformed input or a limit exceeded; the connection is then
    /// out of step and must be closed.
    pub fn decode(&mut self, buf: &mut BytesMut) -> Result<Option<Bytes>, FrameError> {
        if self.remaining == 0 {
            self.pos = 0;
            self.remaining = 1;
        }
        while self.remaining > 0 {
            let Some(item) = self.item(buf)? else {
                return Ok(None);
            };
            self.pos = item.next;
            self.remaining = (self.remaining - 1)
                .checked_add(item.children)
                .ok_or_else(|| protocol("reply too deeply nested"))?;
        }
        let raw = buf.split_to(self.pos).freeze();
        self.pos = 0;
        Ok(Some(raw))
    }

    /// Reads the item header at `self.pos`; a bulk's payload counts as part of its item.
    fn item(&self, buf: &mut BytesMut) -> Result<Option<Item>, FrameError> {
        let Some((kind, line, after)) = read_line(buf, self.pos, self.limits.max_line_len)? else {
            return Ok(None);
        };
        let done = |children| {
            Ok(Some(Item {
                next: after,
                children,
            }))
        };
        match kind {
            b'+' | b'-' | b':' | b'_' | b',' | b'#' | b'(' => done(0),
            b'$' | b'!' | b'=' => {
                let len = parse_i64(line).ok_or_else(|| protocol("invalid bulk length"))?;
                if len == -1 && kind == b'$' {
                    return done(0);
                }
                if len < 0 || len as u64 > self.limits.max_bulk_len as u64 {
                    return Err(protocol("invalid bulk length"));
                }
                let end = after + len as usize;
                if buf.len() < end + 2 {
                    // Ask for the whole payload at once rather than in many small reads.
                    buf.reserve(end + 2 - buf.len());
                    return Ok(None);
                }
                if &buf[end..end + 2] != b"\r\n" {
                    return Err(protocol("bulk not terminated by CRLF"));
                }
                Ok(Some(Item {
                    next: end + 2,
                    children: 0,
                }))
            }
            b'*' | b'~' | b'>' | b'%' | b'|' => {
                let n = parse_i64(line).ok_or_else(|| protocol("invalid multibulk length"))?;
                if n == -1 && kind == b'*' {
                    return done(0);
                }
                if n < 0 || n > self.limits.max_aggregate_len {
                    return Err(protocol("invalid multibulk length"));
                }
                match kind {
                    b'%' => done(2 * n as u64),
                    // An attribute precedes the reply it describes: that reply is still due.
                    b'|' => done(2 * n as u64 + 1),
                    _ => done(n as u64),
                }
            }
            _ => Err(FrameError::Protocol(format!(
                "unexpected reply type byte '{}'",
                kind.escape_ascii()
            ))),
        }
    }
}

/// A header line: its type byte, its content, and the offset after its CRLF.
type Line<'a> = (u8, &'a [u8], usize);

/// Reads the line at `pos`.
fn read_line(buf: &[u8], pos: usize, max_line_len: usize) -> Result<Option<Line<'_>>, FrameError> {
    let Some(&kind) = buf.get(pos) else {
        return Ok(None);
    };
    let window = &buf[pos + 1..buf.len().min(pos + 2 + max_line_len)];
    let Some(cr) = memchr::memchr(b'\r', window) else {
        if window.len() > max_line_len {
            return Err(protocol("reply line too long"));
        }
        return Ok(None);
    };
    let cr = pos + 1 + cr;
    match buf.get(cr + 1) {
        None => Ok(None),
        Some(b'\n') => Ok(Some((kind, &buf[pos + 1..cr], cr + 2))),
        Some(_) => Err(protocol("line not terminated by CRLF")),
    }
}

/// An aggregate being filled by [`parse`].
struct Open {
    kind: u8,
    want: usize,
    items: Vec<Frame>,
}

/// Parses one complete reply into a [`Frame`], with an explicit stack.
///
/// RESP3 types map onto `Frame` as redis-rs maps them: a push becomes an array, a big number
/// a bulk string, a blob error an error; attributes are read and dropped.
///
/// # Errors
/// `FrameError::Protocol` for malformed or incomplete input, trailing bytes, or nesting
/// deeper than [`MAX_PARSE_DEPTH`].
pub fn parse(raw: &[u8]) -> Result<Frame, FrameError> {
    let limits = ReplyLimits::default();
    let bytes = Bytes::copy_from_slice(raw);
    let mut stack: Vec<Open> = Vec::new();
    let mut pos = 0;
    loop {
        let Some((kind, line, after)) = read_line(&bytes, pos, limits.max_line_len)? else {
            return Err(protocol("incomplete reply"));
        };
        pos = after;
        let mut done = match kind {
            b'*' | b'~' | b'>' | b'%' | b'|' => {
                let n = parse_i64(line).ok_or_else(|| protocol("invalid multibulk length"))?;
                if n == -1 && kind == b'*' {
                    Some(Frame::NullArray)
                } else if n < 0 || n > limits.max_aggregate_len {
                    return Err(protocol("invalid multibulk length"));
                } else if n == 0 {
                    close(kind, Vec::new())
                } else {
                    if stack.len() >= MAX_PARSE_DEPTH {
                        return Err(protocol("reply too deeply nested"));
                    }
                    let want = if matches!(kind, b'%' | b'|') {
                        2 * n as usize
                    } else {
                        n as usize
                    };
                    let items = Vec::with_capacity(want.min(1024));
                    stack.push(Open { kind, want, items });
                    None
                }
            }
            _ => {
                let (frame, next) = scalar(&bytes, kind, line, after)?;
                pos = next;
                Some(frame)
            }
        };
        while let Some(frame) = done.take() {
            let Some(top) = stack.last_mut() else {
                if pos != bytes.len() {
                    return Err(protocol("trailing bytes after reply"));
                }
                return Ok(frame);
            };
            top.items.push(frame);
            if top.items.len() == top.want {
                // invariant: `top` was just borrowed from a non-empty stack.
                let open = stack.pop().expect("stack is not empty");
                done = close(open.kind, open.items);
            }
        }
    }
}

/// Builds a finished aggregate; `None` for an attribute, which is dropped.
fn close(kind: u8, items: Vec<Frame>) -> Option<Frame> {
    match kind {
        b'~' => Some(Frame::Set(items)),
        b'%' => {
            let mut pairs = Vec::with_capacity(items.len() / 2);
            let mut it = items.into_iter();
            while let (Some(k), Some(v)) = (it.next(), it.next()) {
                pairs.push((k, v));
            }
            Some(Frame::Map(pairs))
        }
        b'|' => None,
        b'>' => Some(Frame::Push(items)),
        _ => Some(Frame::Array(items)),
    }
}

/// Parses a non-aggregate item whose header line is `line`; returns it and where it ends.
fn scalar(
    bytes: &Bytes,
    kind: u8,
    line: &[u8],
    after: usize,
) -> Result<(Frame, usize), FrameError> {
    let text = |line: &[u8]| bytes.slice_ref(line);
    let frame = match kind {
        b'+' => Frame::Simple(text(line)),
        b'-' => Frame::Error(text(line)),
        b':' => Frame::Integer(parse_i64(line).ok_or_else(|| protocol("invalid integer"))?),
        b'_' => Frame::Null,
        b'(' => Frame::Bulk(text(line)),
        b'#' => match line {
            b"t" => Frame::Boolean(true),
            b"f" => Frame::Boolean(false),
            _ => return Err(protocol("invalid boolean")),
        },
        b',' => {
            let s = std::str::from_utf8(line).map_err(|_| protocol("invalid double"))?;
            Frame::Double(s.parse().map_err(|_| protocol("invalid double"))?)
        }
        b'$' | b'!' | b'=' => {
            let len = parse_i64(line).ok_or_else(|| protocol("invalid bulk length"))?;
            if len == -1 && kind == b'$' {
                return Ok((Frame::Null, after));
            }
            if len < 0 || (len as u64) > ReplyLimits::default().max_bulk_len as u64 {
                return Err(protocol("invalid bulk length"));
            }
            let end = after + len as usize;
            if bytes.len() < end + 2 || &bytes[end..end + 2] != b"\r\n" {
                return Err(protocol("incomplete reply"));
            }
            let body = bytes.slice(after..end);
            let frame = match kind {
                b'$' => Frame::Bulk(body),
                b'!' => Frame::Error(body),
                _ if body.len() >= 4 && body[3] == b':' => Frame::Verbatim(body.slice(4..)),
                _ => return Err(protocol("invalid verbatim string")),
            };
            return Ok((frame, end + 2));
        }
        _ => {
            return Err(FrameError::Protocol(format!(
                "unexpected reply type byte '{}'",
                kind.escape_ascii()
            )))
        }
    };
    Ok((frame, after))
}

#[cfg(test)]
mod tests {
    use super::*;

    const SAMPLES: &[&[u8]] = &[
        b"+OK\r\n",
        b"-ERR wrong\r\n",
        b":-42\r\n",
        b"$5\r\nhe\r\no\r\n",
        b"$0\r\n\r\n",
        b"$-1\r\n",
        b"*-1\r\n",
        b"*0\r\n",
        b"*3\r\n$1\r\na\r\n$-1\r\n:7\r\n",
        b"*2\r\n*2\r\n+a\r\n+b\r\n*1\r\n$2\r\ncd\r\n",
        b"_\r\n",
        b",1.5\r\n",
        b"#t\r\n",
        b"(12345678901234567890\r\n",
        b"!3\r\nERR\r\n",
        b"=7\r\ntxt:abc\r\n",
        b"%2\r\n+a\r\n:1\r\n+b\r\n*1\r\n:2\r\n",
        b"~2\r\n+x\r\n+y\r\n",
        b">2\r\n+message\r\n$1\r\nz\r\n",
        b"|1\r\n+ttl\r\n:3\r\n$2\r\nok\r\n",
    ];

    #[test]
    fn every_reply_split_at_every_offset_decodes_whole() {
        let all: Vec<u8> = SAMPLES.concat();
        for split in 0..=all.len() {
            let mut dec = ReplyDecoder::default();
            let mut buf = BytesMut::from(&all[..split]);
            let mut got = Vec::new();
            while let Some(reply) = dec.decode(&mut buf).unwrap() {
                got.push(reply);
            }
            buf.extend_from_slice(&all[split..]);
            while let Some(reply) = dec.decode(&mut buf).unwrap() {
                got.push(reply);
            }
            assert_eq!(got.len(), SAMPLES.len(), "split at {split}");
            for (g, want) in got.iter().zip(SAMPLES) {
                assert_eq!(&g[..], *want, "split at {split}");
            }
            assert!(buf.is_empty());
        }
    }

    #[test]
    fn byte_by_byte_feeding_decodes_every_sample() {
        for sample in SAMPLES {
            let mut dec = ReplyDecoder::default();
            let mut buf = BytesMut::new();
            for (i, b) in sample.iter().enumerate() {
                buf.extend_from_slice(&[*b]);
                let got = dec.decode(&mut buf).unwrap();
                assert_eq!(got.is_some(), i + 1 == sample.len(), "{sample:?} at {i}");
            }
        }
    }

    #[test]
    fn parse_builds_frames() {
        let p = |raw: &[u8]| parse(raw).unwrap();
        assert_eq!(p(b"+OK\r\n"), Frame::ok());
        assert_eq!(p(b"$-1\r\n"), Frame::Null);
        assert_eq!(p(b"*-1\r\n"), Frame::NullArray);
        assert_eq!(
            p(b"=7\r\ntxt:abc\r\n"),
            Frame::Verbatim(Bytes::from_static(b"abc"))
        );
        assert_eq!(
            p(b"*3\r\n$1\r\na\r\n$-1\r\n:7\r\n"),
            Frame::Array(vec![Frame::bulk(b"a"), Frame::Null, Frame::Integer(7)])
        );
        assert_eq!(
            p(b"%1\r\n+a\r\n*1\r\n:2\r\n"),
            Frame::Map(vec![(
                Frame::simple("a"),
                Frame::Array(vec![Frame::Integer(2)])
            )])
        );
        assert_eq!(p(b"|1\r\n+ttl\r\n:3\r\n$2\r\nok\r\n"), Frame::bulk(b"ok"));
        assert_eq!(p(b",inf\r\n"), Frame::Double(f64::INFINITY));
        for sample in SAMPLES {
            assert!(parse(sample).is_ok(), "{sample:?}");
        }
    }

    #[test]
    fn parse_rejects_incomplete_trailing_and_bad_input() {
        for bad in [
            &b"$3\r\nab\r\n"[..],
            b"*2\r\n:1\r\n",
            b"+OK\r\n+OK\r\n",
            b"?\r\n",
            b":x\r\n",
            b"$-2\r\n",
            b"",
        ] {
            assert!(parse(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn decode_enforces_limits_and_syntax() {
        let limits = ReplyLimits {
            max_bulk_len: 10,
            max_aggregate_len: 10,
            max_line_len: 16,
        };
        for bad in [
            &b"$11\r\n"[..],
            b"*11\r\n",
            b"%-3\r\n",
            b"$3\r\nabcXY",
            b"+OK\rX",
            b"+aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
            b"?\r\n",
        ] {
            let mut dec = ReplyDecoder::new(limits);
            assert!(dec.decode(&mut BytesMut::from(bad)).is_err(), "{bad:?}");
        }
        // A huge announced bulk waits without allocating it all up front from a bad count.
        let mut dec = ReplyDecoder::default();
        assert!(dec
            .decode(&mut BytesMut::from(&b"$9999999999999\r\n"[..]))
            .is_err());
    }

    #[test]
    fn deep_nesting_neither_overflows_nor_recurses() {
        let depth = 100_000;
        let mut raw = b"*1\r\n".repeat(depth);
        raw.extend_from_slice(b":1\r\n");
        let mut buf = BytesMut::from(&raw[..]);
        let got = ReplyDecoder::default().decode(&mut buf).unwrap().unwrap();
        assert_eq!(got.len(), raw.len());
        assert!(parse(&raw).is_err(), "past MAX_PARSE_DEPTH is refused");
        let mut ok = b"*1\r\n".repeat(MAX_PARSE_DEPTH);
        ok.extend_from_slice(b":1\r\n");
        assert!(parse(&ok).is_ok());
    }
}
