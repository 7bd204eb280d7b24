//! Redis's listpack (Redis 7's small hashes, sets, sorted sets and list nodes), read
//! bounded: every length is checked against the blob before it is used.
//!
//! ```text
//! total bytes (u32 LE) | count (u16 LE) | entry* | 0xFF
//! entry: encoding+data | backlen (1-5 bytes, the size of encoding+data)
//! ```

use super::reader::{corrupt, Result};

/// One element of a listpack or ziplist: bytes, or an integer Redis stored as one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Elem<'a> {
    Str(&'a [u8]),
    Int(i64),
}

impl Elem<'_> {
    /// Returns the element as Redis shows it: the bytes, or the integer in decimal.
    pub(super) fn to_vec(self) -> Vec<u8> {
        match self {
            Elem::Str(s) => s.to_vec(),
            Elem::Int(n) => n.to_string().into_bytes(),
        }
    }

    /// Returns the element as a sorted set's score (Redis stores it as text or an integer).
    pub(super) fn score(self) -> Result<f64> {
        let score = match self {
            Elem::Int(n) => n as f64,
            Elem::Str(s) => match parse_score(s) {
                Some(x) => x,
                None => return corrupt("a sorted set score that is not a number"),
            },
        };
        if score.is_nan() {
            return corrupt("a sorted set score that is NaN");
        }
        Ok(score)
    }
}

/// Parses a score as Redis writes one in text (`inf`, `-inf` and decimal forms).
pub(super) fn parse_score(s: &[u8]) -> Option<f64> {
    let s = std::str::from_utf8(s).ok()?;
    match s {
        "inf" | "+inf" => Some(f64::INFINITY),
        "-inf" => Some(f64::NEG_INFINITY),
        _ => s.parse().ok(),
    }
}

/// Returns `n` bytes of `blob` from `at`, or a corrupt-file error.
pub(super) fn take(blob: &[u8], at: usize, n: usize) -> Result<&[u8]> {
    match at.checked_add(n).and_then(|end| blob.get(at..end)) {
        Some(s) => Ok(s),
        None => corrupt("a packed entry runs past its blob"),
    }
}

/// Returns the signed integer of `bytes` (little-endian, 2 to 8 bytes).
pub(super) fn int_le(bytes: &[u8]) -> i64 {
    let mut buf = [0u8; 8];
    buf[..bytes.len()].copy_from_slice(bytes);
    let shift = 64 - 8 * bytes.len() as u32;
    (i64::from_le_bytes(buf) << shift) >> shift
}

/// Calls `f` with each element of the listpack `blob`, in order.
///
/// # Errors
/// A corrupt-file error when `blob` is not a whole listpack.
pub(super) fn for_each<'a>(
    blob: &'a [u8],
    mut f: impl FnMut(Elem<'a>) -> Result<()>,
) -> Result<()> {
    let head = take(blob, 0, 6)?;
    let total = u32::from_le_bytes([head[0], head[1], head[2], head[3]]) as usize;
    if total != blob.len() {
        return corrupt("a listpack whose size does not match its blob");
    }
    let declared = u16::from_le_bytes([head[4], head[5]]);
    let mut at = 6;
    let mut seen: u32 = 0;
    loop {
        let b = take(blob, at, 1)?[0];
        if b == 0xff {
            break;
        }
        let (elem, size) = entry(blob, at, b)?;
        at += size;
        at += backlen_size(size);
        if at > blob.len() {
            return corrupt("a listpack entry runs past its blob");
        }
        seen += 1;
        f(elem)?;
    }
    // 65535: too many to count in the header.
    if at + 1 != blob.len() || (declared != u16::MAX && u32::from(declared) != seen) {
        return corrupt("a listpack whose count or end does not match its entries");
    }
    Ok(())
}

/// Reads the entry at `at` (its first byte `b`): the element and the size of its encoding
/// and data.
fn entry(blob: &[u8], at: usize, b: u8) -> Result<(Elem<'_>, usize)> {
    Ok(match b {
        0x00..=0x7f => (Elem::Int(i64::from(b)), 1),
        0x80..=0xbf => {
            let n = usize::from(b & 0x3f);
            (Elem::Str(take(blob, at + 1, n)?), 1 + n)
        }
        0xc0..=0xdf => {
            let v = i64::from(b & 0x1f) << 8 | i64::from(take(blob, at + 1, 1)?[0]);
            // 13-bit two's complement.
            (Elem::Int(if v >= 1 << 12 { v - (1 << 13) } else { v }), 2)
        }
        0xe0..=0xef => {
            let n = usize::from(b & 0x0f) << 8 | usize::from(take(blob, at + 1, 1)?[0]);
            (Elem::Str(take(blob, at + 2, n)?), 2 + n)
        }
        0xf0 => {
            let l = take(blob, at + 1, 4)?;
            let n = u32::from_le_bytes([l[0], l[1], l[2], l[3]]) as usize;
            (Elem::Str(take(blob, at + 5, n)?), 5 + n)
        }
        0xf1..=0xf4 => {
            let width = [2, 3, 4, 8][usize::from(b - 0xf1)];
            (Elem::Int(int_le(take(blob, at + 1, width)?)), 1 + width)
        }
        _ => return corrupt(format!("unknown listpack encoding {b:#04x}")),
    })
}

/// Returns the bytes of the back-length that follows an entry of `size` bytes.
fn backlen_size(size: usize) -> usize {
    match size {
        0..=127 => 1,
        128..=16_382 => 2,
        16_383..=2_097_150 => 3,
        2_097_151..=268_435_454 => 4,
        _ => 5,
    }
}

/// Returns a listpack holding `elems` as strings (for tests: what Redis would write).
#[cfg(test)]
pub(super) fn build(elems: &[Elem<'_>]) -> Vec<u8> {
    let mut body = Vec::new();
    for e in elems {
        let start = body.len();
        match *e {
            Elem::Int(n) if (0..=127).contains(&n) => body.push(n as u8),
            Elem::Int(n) if (-4096..4096).contains(&n) => {
                let v = (n & 0x1fff) as u16;
                body.extend([0xc0 | (v >> 8) as u8, v as u8]);
            }
            Elem::Int(n) => {
                body.push(0xf4);
                body.extend(n.to_le_bytes());
            }
            Elem::Str(s) if s.len() < 64 => {
                body.push(0x80 | s.len() as u8);
                body.extend(s);
            }
            Elem::Str(s) if s.len() < 4096 => {
                body.extend([0xe0 | (s.len() >> 8) as u8, s.len() as u8]);
                body.extend(s);
            }
            Elem::Str(s) => {
                body.push(0xf0);
                body.extend((s.len() as u32).to_le_bytes());
                body.extend(s);
            }
        }
        let size = body.len() - start;
        // The back-length: 7 bits a byte, most significant first.
        let n = backlen_size(size);
        for i in (0..n).rev() {
            let mut byte = ((size >> (7 * i)) & 0x7f) as u8;
            if i != 0 {
                byte |= 0x80;
            }
            body.push(byte);
        }
    }
    let mut out = Vec::with_capacity(body.len() + 7);
    out.extend(((body.len() + 7) as u32).to_le_bytes());
    out.extend((elems.len().min(65535) as u16).to_le_bytes());
    out.extend(body);
    out.push(0xff);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(blob: &[u8]) -> Result<Vec<Elem<'_>>> {
        let mut out = Vec::new();
        for_each(blob, |e| {
            out.push(e);
            Ok(())
        })?;
        Ok(out)
    }

    #[test]
    fn every_encoding_reads_back() {
        let long = vec![b'x'; 5000];
        let mid = vec![b'y'; 300];
        let elems = [
            Elem::Int(0),
            Elem::Int(127),
            Elem::Int(-1),
            Elem::Int(-4096),
            Elem::Int(4095),
            Elem::Int(i64::MIN),
            Elem::Str(b""),
            Elem::Str(b"field"),
            Elem::Str(&mid),
            Elem::Str(&long),
        ];
        let blob = build(&elems);
        assert_eq!(read(&blob).unwrap(), elems);
        for cut in 0..blob.len() {
            assert!(read(&blob[..cut]).is_err(), "cut at {cut}");
        }
    }

    #[test]
    fn redis_7_bytes_read() {
        // HSET h a 1 b hello in redis-server 7.0: DUMP's listpack.
        let blob = b"\x16\x00\x00\x00\x04\x00\x81a\x02\x01\x01\x81b\x02\x85hello\x06\xff";
        assert_eq!(
            read(blob).unwrap(),
            [
                Elem::Str(b"a"),
                Elem::Int(1),
                Elem::Str(b"b"),
                Elem::Str(b"hello")
            ]
        );
        // Integer widths: 16, 24 and 32 bits.
        assert_eq!(int_le(&[0xff, 0x7f]), 32767);
        assert_eq!(int_le(&[0x00, 0x00, 0x80]), -(1 << 23));
        assert_eq!(int_le(&[0xff, 0xff, 0xff, 0xff]), -1);
    }
}
