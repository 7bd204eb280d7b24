//! Bytes become requests here: a flat, incremental parser with Redis's limits and texts.
//!
//! It follows Redis 7's `processMultibulkBuffer` and `processInlineBuffer` line by line:
//! a buffer starting with `*` is a multibulk of bulk strings, anything else an inline line
//! split as `sdssplitargs` splits it. Parsing resumes where the previous call stopped, so a
//! request costs linear time however the bytes arrive, and nothing recurses on client input.

use std::time::Duration;

use bytes::{Bytes, BytesMut};

use crate::command::parse_i64;
use crate::error::FrameError;

/// One request: the arguments, and the bytes exactly as the client sent them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    /// The arguments, command name first. For a multibulk they are slices of `raw`.
    pub args: Vec<Bytes>,
    /// The whole request as received (multibulk frame, or the inline line with its newline).
    pub raw: Bytes,
    /// True for an inline command: `raw` is then not RESP and must be re-encoded to forward.
    pub inline: bool,
}

/// Redis's limits while a client has not authenticated (`authRequired`): the longest
/// multibulk, the longest bulk, and the query buffer.
pub const UNAUTHENTICATED_MULTIBULK_LEN: i64 = 10;
/// See [`UNAUTHENTICATED_MULTIBULK_LEN`].
pub const UNAUTHENTICATED_BULK_LEN: i64 = 16384;
/// See [`UNAUTHENTICATED_MULTIBULK_LEN`].
pub const UNAUTHENTICATED_QUERY_BUFFER: usize = 1024 * 1024;

/// One connection's limits, with Redis's names and defaults.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// `proto-max-bulk-len`: the longest bulk string accepted (512 MiB).
    pub max_bulk_len: usize,
    /// `PROTO_INLINE_MAX_SIZE`: the longest inline line or count line (64 KiB).
    pub max_inline_len: usize,
    /// The largest multibulk count (`INT_MAX`).
    pub max_multibulk_len: i64,
    /// `client-query-buffer-limit`: the most bytes of a request not yet complete (1 GiB).
    pub max_query_buffer: usize,
    /// `client-output-buffer-limit` (hard limit): the most reply bytes the client has not
    /// taken yet (256 MiB).
    pub max_output_buffer: usize,
    /// `timeout`: how long a client may stay idle (no request, no reply taken); `None` = off.
    pub idle_timeout: Option<Duration>,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_bulk_len: 512 * 1024 * 1024,
            max_inline_len: 64 * 1024,
            max_multibulk_len: i32::MAX as i64,
            max_query_buffer: 1024 * 1024 * 1024,
            max_output_buffer: 256 * 1024 * 1024,
            idle_timeout: None,
        }
    }
}

/// Where a multibulk stands between two calls.
#[derive(Debug, Default)]
struct Multibulk {
    /// Elements still to read.
    remaining: usize,
    /// Offset of the next unparsed byte in the buffer.
    pos: usize,
    /// The length of the bulk being read, once its `$len` line is parsed.
    bulk_len: Option<usize>,
    /// Element ranges in the buffer.
    ranges: Vec<(usize, usize)>,
}

/// The incremental request decoder of one connection.
#[derive(Debug, Default)]
pub struct Decoder {
    limits: Limits,
    /// The multibulk being read, once its `*N` line is parsed.
    multibulk: Option<Multibulk>,
    /// How far the search for the current line's end has already looked.
    scanned: usize,
    /// True until the client authenticates, when a password is required: Redis's smaller
    /// multibulk and bulk limits apply.
    unauthenticated: bool,
    /// The last request's range list, emptied, kept for the next (no allocation per request).
    spare_ranges: Vec<(usize, usize)>,
}

/// The most a bulk's announced length makes the buffer grow ahead of the bytes received.
const RESERVE_AHEAD: usize = 1024 * 1024;

fn protocol(msg: &str) -> FrameError {
    FrameError::Protocol(msg.to_string())
}

impl Decoder {
    /// Returns a decoder with `limits`.
    pub fn new(limits: Limits) -> Decoder {
        Decoder {
            limits,
            ..Decoder::default()
        }
    }

    /// Returns the limits this decoder enforces.
    pub fn limits(&self) -> Limits {
        self.limits
    }

    /// Applies (`false`) or lifts (`true`) Redis's limits for clients that have not
    /// authenticated: at most 10 arguments of at most 16 KiB each.
    pub fn set_authenticated(&mut self, authenticated: bool) {
        self.unauthenticated = !authenticated;
    }

    /// Takes the next complete request off the front of `buf`.
    ///
    /// Returns `Ok(None)` when more bytes are needed; empty requests (`*0`, `*-1`, blank
    /// lines) are consumed silently, as Redis does.
    ///
    /// # Errors
    /// `FrameError::Protocol` with Redis's text; the connection must then be closed.
    pub fn decode(&mut self, buf: &mut BytesMut) -> Result<Option<Request>, FrameError> {
        loop {
            if self.multibulk.is_none() {
                let Some(&first) = buf.first() else {
                    return Ok(None);
                };
                if first != b'*' {
                    match self.decode_inline(buf)? {
                        Step::Done(request) => return Ok(Some(request)),
                        Step::Empty => continue,
                        Step::More => return Ok(None),
                    }
                }
                match self.decode_count(buf)? {
                    Step::Done(()) => {}
                    Step::Empty => continue,
                    Step::More => return Ok(None),
                }
            }
            return self.decode_elements(buf);
        }
    }

    /// Finds the next `needle` at or after `from`, resuming the previous search.
    fn find(&mut self, buf: &[u8], from: usize, needle: u8) -> Option<usize> {
        let start = self.scanned.max(from);
        match memchr::memchr(needle, &buf[start..]) {
            Some(i) => {
                self.scanned = 0;
                Some(start + i)
            }
            None => {
                self.scanned = buf.len();
                None
            }
        }
    }

    fn decode_inline(&mut self, buf: &mut BytesMut) -> Result<Step<Request>, FrameError> {
        // The limit applies to the line however it arrives (Redis checks only a line still
        // without its newline, so there it depends on read boundaries; here it never does).
        let Some(newline) = self.find(buf, 0, b'\n') else {
            if buf.len() > self.limits.max_inline_len {
                return Err(protocol("too big inline request"));
            }
            return Ok(Step::More);
        };
        if newline > self.limits.max_inline_len {
            return Err(protocol("too big inline request"));
        }
        let line_end = if newline > 0 && buf[newline - 1] == b'\r' {
            newline - 1
        } else {
            newline
        };
        let args =
            split_args(&buf[..line_end]).ok_or_else(|| protocol("unbalanced quotes in request"))?;
        let raw = buf.split_to(newline + 1).freeze();
        if args.is_empty() {
            return Ok(Step::Empty);
        }
        Ok(Step::Done(Request {
            args: args.into_iter().map(Bytes::from).collect(),
            raw,
            inline: true,
        }))
    }

    /// Reads a `\r`-terminated line starting at `from`; returns its content range and the
    /// offset after its two-byte terminator. Like Redis, the byte after `\r` is not checked.
    fn read_line(
        &mut self,
        buf: &[u8],
        from: usize,
        too_big: &str,
    ) -> Result<Option<(usize, usize)>, FrameError> {
        let Some(cr) = self.find(buf, from, b'\r') else {
            if buf.len() - from > self.limits.max_inline_len {
                return Err(protocol(too_big));
            }
            return Ok(None);
        };
        if cr - from > self.limits.max_inline_len {
            return Err(protocol(too_big));
        }
        if cr + 2 > buf.len() {
            // The terminator is not all here yet; look at this `\r` again next time.
            self.scanned = cr;
            return Ok(None);
        }
        Ok(Some((cr, cr + 2)))
    }

    fn decode_count(&mut self, buf: &mut BytesMut) -> Result<Step<()>, FrameError> {
        let (count, next) = match quick_count(buf, 0) {
            Some((n, next)) if n >= 1 && n as i64 <= self.limits.max_multibulk_len => {
                self.scanned = 0;
                (n as i64, next)
            }
            _ => {
                let Some((cr, next)) = self.read_line(buf, 0, "too big mbulk count string")? else {
                    return Ok(Step::More);
                };
                match parse_i64(&buf[1..cr]) {
                    Some(n) if n <= self.limits.max_multibulk_len => (n, next),
                    _ => return Err(protocol("invalid multibulk length")),
                }
            }
        };
        if self.unauthenticated && count > UNAUTHENTICATED_MULTIBULK_LEN {
            return Err(protocol("unauthenticated multibulk length"));
        }
        if count <= 0 {
            let _ = buf.split_to(next);
            return Ok(Step::Empty);
        }
        let count = count as usize;
        // Limits are checked before anything is allocated: reserve at most 1024 slots up front.
        let mut ranges = std::mem::take(&mut self.spare_ranges);
        ranges.reserve(count.min(1024));
        self.multibulk = Some(Multibulk {
            remaining: count,
            pos: next,
            bulk_len: None,
            ranges,
        });
        Ok(Step::Done(()))
    }

    fn decode_elements(&mut self, buf: &mut BytesMut) -> Result<Option<Request>, FrameError> {
        // invariant: decode() only calls this with a multibulk under way.
        let mut mb = self.multibulk.take().expect("multibulk under way");
        while mb.remaining > 0 {
            let len = match mb.bulk_len {
                Some(len) => len,
                None => {
                    let quick = match quick_count(buf, mb.pos) {
                        Some((n, next))
                            if buf[mb.pos] == b'$'
                                && n <= self.limits.max_bulk_len
                                && !(self.unauthenticated
                                    && n as i64 > UNAUTHENTICATED_BULK_LEN) =>
                        {
                            Some((n, next))
                        }
                        _ => None,
                    };
                    if let Some((len, next)) = quick {
                        self.scanned = 0;
                        mb.pos = next;
                        mb.bulk_len = Some(len);
                        len
                    } else {
                        let Some((cr, next)) =
                            self.read_line(buf, mb.pos, "too big bulk count string")?
                        else {
                            break;
                        };
                        let head = buf[mb.pos];
                        if head != b'$' {
                            return Err(FrameError::Protocol(format!(
                                "expected '$', got '{}'",
                                head as char
                            )));
                        }
                        let len = match parse_i64(&buf[mb.pos + 1..cr]) {
                            Some(n) if n >= 0 && n as u64 <= self.limits.max_bulk_len as u64 => n,
                            _ => return Err(protocol("invalid bulk length")),
                        };
                        if self.unauthenticated && len > UNAUTHENTICATED_BULK_LEN {
                            return Err(protocol("unauthenticated bulk length"));
                        }
                        let len = len as usize;
                        mb.pos = next;
                        mb.bulk_len = Some(len);
                        len
                    }
                }
            };
            if buf.len() - mb.pos < len + 2 {
                // Ask for room for the bulk, so a big value is not read in many small steps, but
                // never more than RESERVE_AHEAD at once: memory follows the bytes that arrive,
                // not the length a client announces (the buffer still doubles as it fills).
                let missing = mb.pos + len + 2 - buf.len();
                buf.reserve(missing.min(RESERVE_AHEAD));
                break;
            }
            mb.ranges.push((mb.pos, mb.pos + len));
            mb.pos += len + 2;
            mb.bulk_len = None;
            mb.remaining -= 1;
        }
        if mb.remaining > 0 {
            self.multibulk = Some(mb);
            return Ok(None);
        }
        let raw = buf.split_to(mb.pos).freeze();
        let args = mb.ranges.iter().map(|&(s, e)| raw.slice(s..e)).collect();
        // A huge request's list is not kept: it would pin its memory for the connection's life.
        if mb.ranges.capacity() <= 1024 {
            mb.ranges.clear();
            self.spare_ranges = mb.ranges;
        }
        Ok(Some(Request {
            args,
            raw,
            inline: false,
        }))
    }
}

/// The common case of a count line, `*<n>\r\n` or `$<n>\r\n` at `pos` with every byte
/// already buffered: `Some((n, offset after the line))` for 1 to 18 digits without a leading
/// zero (or "0"). Anything else (a sign, a long or partial line, garbage) is `None`, and the
/// full parser decides, with Redis's error texts.
fn quick_count(buf: &[u8], pos: usize) -> Option<(usize, usize)> {
    let digits = buf.get(pos + 1..)?;
    let mut n: usize = 0;
    let mut i = 0;
    while i < digits.len() && i < 18 && digits[i].is_ascii_digit() {
        n = n * 10 + usize::from(digits[i] - b'0');
        i += 1;
    }
    if i == 0 || (digits[0] == b'0' && i > 1) {
        return None;
    }
    // As Redis, the byte after `\r` is not looked at; it only has to be there.
    (i + 1 < digits.len() && digits[i] == b'\r').then_some((n, pos + 1 + i + 2))
}

enum Step<T> {
    Done(T),
    Empty,
    More,
}

fn is_space(c: u8) -> bool {
    matches!(c, b' ' | b'\t' | b'\n' | b'\r' | 0x0b | 0x0c)
}

fn hex(c: u8) -> Option<u8> {
    (c as char).to_digit(16).map(|d| d as u8)
}

/// Splits an inline line as Redis's `sdssplitargs` does; `None` for unbalanced quotes.
///
/// The line is read as a C string: a NUL byte ends it.
pub fn split_args(line: &[u8]) -> Option<Vec<Vec<u8>>> {
    let line = &line[..line.iter().position(|&b| b == 0).unwrap_or(line.len())];
    let at = |i: usize| line.get(i).copied().unwrap_or(0);
    let mut args = Vec::new();
    let mut p = 0;
    loop {
        while p < line.len() && is_space(line[p]) {
            p += 1;
        }
        if p >= line.len() {
            return Some(args);
        }
        // The quote we are inside of, if any: `"` takes escapes, `'` only `\'`.
        let mut quote: Option<u8> = None;
        let mut current = Vec::new();
        loop {
            let c = at(p);
            if let Some(q) = quote {
                if q == b'"'
                    && c == b'\\'
                    && at(p + 1) == b'x'
                    && hex(at(p + 2)).is_some()
                    && hex(at(p + 3)).is_some()
                {
                    current.push(hex(at(p + 2))? * 16 + hex(at(p + 3))?);
                    p += 3;
                } else if q == b'"' && c == b'\\' && at(p + 1) != 0 {
                    p += 1;
                    current.push(match at(p) {
                        b'n' => b'\n',
                        b'r' => b'\r',
                        b't' => b'\t',
                        b'b' => 0x08,
                        b'a' => 0x07,
                        other => other,
                    });
                } else if q == b'\'' && c == b'\\' && at(p + 1) == b'\'' {
                    p += 1;
                    current.push(b'\'');
                } else if c == q {
                    // A closing quote must be followed by a space or the end.
                    if at(p + 1) != 0 && !is_space(at(p + 1)) {
                        return None;
                    }
                    p += 1;
                    break;
                } else if c == 0 {
                    return None;
                } else {
                    current.push(c);
                }
            } else {
                match c {
                    b' ' | b'\n' | b'\r' | b'\t' | 0 => break,
                    b'"' | b'\'' => quote = Some(c),
                    other => current.push(other),
                }
            }
            p += 1;
        }
        args.push(current);
    }
}

#[cfg(test)]
mod tests;
