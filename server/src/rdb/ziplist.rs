//! Redis's ziplist (small hashes, sorted sets and list nodes before Redis 7) and zipmap
//! (hashes before Redis 2.6), read bounded: every length is checked against the blob.
//!
//! ```text
//! ziplist: total bytes (u32 LE) | tail offset (u32 LE) | count (u16 LE) | entry* | 0xFF
//!   entry: previous entry's size (1 byte, or 0xFE + u32 LE) | encoding | data
//! zipmap:  count (1 byte) | (len field len free value free-bytes)* | 0xFF
//!   len: 1 byte below 254, or 0xFE + u32 LE
//! ```

use super::listpack::{int_le, take, Elem};
use super::reader::{corrupt, Result};

/// Calls `f` with each element of the ziplist `blob`, in order.
///
/// # Errors
/// A corrupt-file error when `blob` is not a whole ziplist.
pub(super) fn for_each<'a>(
    blob: &'a [u8],
    mut f: impl FnMut(Elem<'a>) -> Result<()>,
) -> Result<()> {
    let head = take(blob, 0, 10)?;
    let total = u32::from_le_bytes([head[0], head[1], head[2], head[3]]) as usize;
    if total != blob.len() {
        return corrupt("a ziplist whose size does not match its blob");
    }
    let declared = u16::from_le_bytes([head[8], head[9]]);
    let mut at = 10;
    let mut seen: u32 = 0;
    loop {
        let first = take(blob, at, 1)?[0];
        if first == 0xff {
            break;
        }
        // The previous entry's size: only a backward walk needs it.
        at += if first == 0xfe { 5 } else { 1 };
        let b = take(blob, at, 1)?[0];
        let (elem, size) = match b >> 6 {
            0 => {
                let n = usize::from(b & 0x3f);
                (Elem::Str(take(blob, at + 1, n)?), 1 + n)
            }
            1 => {
                let n = usize::from(b & 0x3f) << 8 | usize::from(take(blob, at + 1, 1)?[0]);
                (Elem::Str(take(blob, at + 2, n)?), 2 + n)
            }
            2 => {
                let l = take(blob, at + 1, 4)?;
                let n = u32::from_be_bytes([l[0], l[1], l[2], l[3]]) as usize;
                (Elem::Str(take(blob, at + 5, n)?), 5 + n)
            }
            _ => {
                let width = match b {
                    0xc0 => 2,
                    0xd0 => 4,
                    0xe0 => 8,
                    0xf0 => 3,
                    0xfe => 1,
                    0xf1..=0xfd => 0,
                    _ => return corrupt(format!("unknown ziplist encoding {b:#04x}")),
                };
                let n = if width == 0 {
                    i64::from(b & 0x0f) - 1
                } else {
                    int_le(take(blob, at + 1, width)?)
                };
                (Elem::Int(n), 1 + width)
            }
        };
        at += size;
        seen += 1;
        f(elem)?;
    }
    if at + 1 != blob.len() || (declared != u16::MAX && u32::from(declared) != seen) {
        return corrupt("a ziplist whose count or end does not match its entries");
    }
    Ok(())
}

/// Calls `f` with each field and value of the zipmap `blob`, in order.
///
/// # Errors
/// A corrupt-file error when `blob` is not a whole zipmap.
pub(super) fn for_each_zipmap<'a>(
    blob: &'a [u8],
    mut f: impl FnMut(&'a [u8], &'a [u8]) -> Result<()>,
) -> Result<()> {
    let mut at = 1; // the count: 254 and over means "count them"
    while let Some(field) = zipmap_len(blob, &mut at)? {
        let field = take(blob, at, field)?;
        at += field.len();
        let Some(value) = zipmap_len(blob, &mut at)? else {
            return corrupt("a zipmap field without a value");
        };
        let free = usize::from(take(blob, at, 1)?[0]);
        let value_bytes = take(blob, at + 1, value)?;
        at += 1 + value + free;
        f(field, value_bytes)?;
    }
    if at != blob.len() {
        return corrupt("a zipmap with bytes after its end");
    }
    Ok(())
}

/// Reads a zipmap length at `at` and moves past it; `None` at the end marker.
fn zipmap_len(blob: &[u8], at: &mut usize) -> Result<Option<usize>> {
    let b = take(blob, *at, 1)?[0];
    *at += 1;
    match b {
        0xff => Ok(None),
        0xfe => {
            let l = take(blob, *at, 4)?;
            *at += 4;
            Ok(Some(u32::from_le_bytes([l[0], l[1], l[2], l[3]]) as usize))
        }
        n => Ok(Some(usize::from(n))),
    }
}

/// Returns a ziplist holding `elems` (for tests: what Redis 6 would write).
#[cfg(test)]
pub(super) fn build(elems: &[Elem<'_>]) -> Vec<u8> {
    let mut body = Vec::new();
    let mut prev = 0usize;
    for e in elems {
        let start = body.len();
        if prev < 254 {
            body.push(prev as u8);
        } else {
            body.push(0xfe);
            body.extend((prev as u32).to_le_bytes());
        }
        match *e {
            Elem::Int(n) if (0..=12).contains(&n) => body.push(0xf1 + n as u8),
            Elem::Int(n) if i8::try_from(n).is_ok() => body.extend([0xfe, n as u8]),
            Elem::Int(n) if i16::try_from(n).is_ok() => {
                body.push(0xc0);
                body.extend((n as i16).to_le_bytes());
            }
            Elem::Int(n) if (-(1 << 23)..1 << 23).contains(&n) => {
                body.push(0xf0);
                body.extend(&(n as i32).to_le_bytes()[..3]);
            }
            Elem::Int(n) if i32::try_from(n).is_ok() => {
                body.push(0xd0);
                body.extend((n as i32).to_le_bytes());
            }
            Elem::Int(n) => {
                body.push(0xe0);
                body.extend(n.to_le_bytes());
            }
            Elem::Str(s) if s.len() < 64 => {
                body.push(s.len() as u8);
                body.extend(s);
            }
            Elem::Str(s) if s.len() < 16384 => {
                body.extend([0x40 | (s.len() >> 8) as u8, s.len() as u8]);
                body.extend(s);
            }
            Elem::Str(s) => {
                body.push(0x80);
                body.extend((s.len() as u32).to_be_bytes());
                body.extend(s);
            }
        }
        prev = body.len() - start;
    }
    let mut out = Vec::new();
    out.extend(((body.len() + 11) as u32).to_le_bytes());
    out.extend(((body.len() + 10 - prev) as u32).to_le_bytes());
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
    fn every_encoding_reads_back_and_every_cut_is_refused() {
        let long = vec![b'x'; 20_000];
        let mid = vec![b'y'; 300];
        let elems = [
            Elem::Int(0),
            Elem::Int(12),
            Elem::Int(-100),
            Elem::Int(30_000),
            Elem::Int(-(1 << 23)),
            Elem::Int(1 << 30),
            Elem::Int(i64::MAX),
            Elem::Str(b""),
            Elem::Str(b"member"),
            Elem::Str(&mid),
            Elem::Str(&long),
            Elem::Str(b"after a long one"),
        ];
        let blob = build(&elems);
        assert_eq!(read(&blob).unwrap(), elems);
        for cut in 0..blob.len().min(400) {
            assert!(read(&blob[..cut]).is_err(), "cut at {cut}");
        }
    }

    #[test]
    fn a_zipmap_reads_with_its_free_bytes() {
        // {"f": "vv", "g": ""} with one free byte after "vv".
        let blob = b"\x02\x01f\x02\x01vvX\x01g\x00\x00\xff";
        let mut got = Vec::new();
        for_each_zipmap(blob, |f, v| {
            got.push((f.to_vec(), v.to_vec()));
            Ok(())
        })
        .unwrap();
        assert_eq!(
            got,
            [(b"f".to_vec(), b"vv".to_vec()), (b"g".to_vec(), vec![])]
        );
        assert!(for_each_zipmap(&blob[..6], |_, _| Ok(())).is_err());
    }
}
