//! DUMP's payload, as Redis makes it: the value in RDB encoding, the RDB version (2 bytes,
//! little-endian), then the CRC-64 of everything before (8 bytes, little-endian). A payload
//! from redis-server restores here and one from here restores in redis-server, for every
//! type the store holds: written in the plain types (`writer`), read in any encoding the
//! reader knows (listpacks, ziplists, intsets, quicklists: what Redis 7 DUMPs).

use super::crc64::crc64;
use super::opcode;
use super::reader::{dump_value, DumpValue};
use super::writer::{push_collection, push_length, RDB_VERSION};
use crate::store::Object;

/// The newest RDB version whose encodings this reader knows (Redis 7.4's).
const READ_VERSION: u16 = 12;

/// Returns the DUMP payload of a string value (stored raw, which every Redis reads).
pub fn dump_string(value: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(value.len() + 20);
    out.push(opcode::TYPE_STRING);
    push_length(&mut out, value.len() as u64);
    out.extend_from_slice(value);
    seal(out)
}

/// Returns the DUMP payload of a value of any type.
pub fn dump_object(value: &Object) -> Vec<u8> {
    match value {
        Object::Str(s) => dump_string(s),
        Object::Coll(c) => {
            let mut out = Vec::with_capacity(c.weight().min(1 << 20) as usize + 16);
            push_collection(&mut out, c);
            seal(out)
        }
    }
}

/// Appends the version and the checksum.
fn seal(mut out: Vec<u8>) -> Vec<u8> {
    out.extend((RDB_VERSION as u16).to_le_bytes());
    let crc = crc64(0, &out);
    out.extend(crc.to_le_bytes());
    out
}

/// Why a payload cannot be restored, in Redis's words.
#[derive(Debug, PartialEq, Eq)]
pub enum DumpError {
    /// Too short, a newer RDB version, or a checksum that does not match.
    VersionOrChecksum,
    /// Checked, but not a value this reader can decode.
    BadFormat,
    /// A collection heavier than the bound it was read against.
    TooBig,
}

/// Returns the body of a payload whose version and checksum hold.
fn body(payload: &[u8]) -> Result<&[u8], DumpError> {
    let Some(body_len) = payload.len().checked_sub(10) else {
        return Err(DumpError::VersionOrChecksum);
    };
    let (body, footer) = payload.split_at(body_len);
    let version = u16::from_le_bytes([footer[0], footer[1]]);
    let stored = u64::from_le_bytes(footer[2..10].try_into().unwrap_or_default());
    if version > READ_VERSION || crc64(0, &payload[..body_len + 2]) != stored {
        return Err(DumpError::VersionOrChecksum);
    }
    Ok(body)
}

/// Returns the value a DUMP payload holds; a collection weighing more than `cap_bytes` is
/// refused.
///
/// # Errors
/// [`DumpError`], as Redis's `verifyDumpPayload` and `rdbLoadObject` refuse it.
pub fn restore_object(payload: &[u8], cap_bytes: u64) -> Result<Object, DumpError> {
    match dump_value(body(payload)?, cap_bytes) {
        Some(DumpValue::Object(o)) => Ok(o),
        Some(DumpValue::TooBig) => Err(DumpError::TooBig),
        None => Err(DumpError::BadFormat),
    }
}

/// Returns the string a DUMP payload holds.
///
/// # Errors
/// [`DumpError`]; [`DumpError::BadFormat`] for a collection.
pub fn restore_string(payload: &[u8]) -> Result<Vec<u8>, DumpError> {
    match restore_object(payload, 0)? {
        Object::Str(s) => Ok(s.to_vec()),
        Object::Coll(_) => Err(DumpError::BadFormat),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::types::{Collection, Hash, List, Set, ZSet};

    fn with_crc(raw: &[u8]) -> Vec<u8> {
        let mut payload = raw.to_vec();
        payload.extend(crc64(0, raw).to_le_bytes());
        payload
    }

    #[test]
    fn a_payload_round_trips_and_a_changed_byte_is_refused() {
        for value in [&b""[..], b"v", &[7u8; 100_000]] {
            let payload = dump_string(value);
            assert_eq!(restore_string(&payload).unwrap(), value);
            for i in 0..payload.len().min(64) {
                let mut bad = payload.clone();
                bad[i] ^= 1;
                assert!(restore_string(&bad).is_err(), "byte {i}");
            }
        }
        assert_eq!(restore_string(b"short"), Err(DumpError::VersionOrChecksum));
    }

    #[test]
    fn redis_7_payloads_restore() {
        // redis-cli DUMP of SET k hello on redis-server 7.0 (RDB 10).
        let payload = with_crc(b"\x00\x05hello\x0a\x00");
        assert_eq!(restore_string(&payload).unwrap(), b"hello");
        // An int-encoded value (SET n 123 dumps as INT8).
        let payload = with_crc(b"\x00\xc0\x7b\x0a\x00");
        assert_eq!(restore_string(&payload).unwrap(), b"123");
        // An empty list (type 18, no node): checked, then refused as a bad format.
        let payload = with_crc(b"\x12\x00\x0a\x00");
        assert_eq!(restore_object(&payload, 1 << 30), Err(DumpError::BadFormat));
    }

    fn samples() -> Vec<Collection> {
        let mut h = Hash::default();
        let mut big_h = Hash::default();
        let mut s = Set::default();
        let mut z = ZSet::default();
        let mut l = List::default();
        for i in 0..300 {
            big_h.set(format!("f{i}").as_bytes(), &vec![b'v'; i]);
        }
        h.set(b"a", b"1");
        h.set(b"b", b"");
        for m in ["x", "y", "7"] {
            s.insert(m.as_bytes());
        }
        z.insert(b"low", -1.5);
        z.insert(b"high", f64::INFINITY);
        z.insert(b"mid", 0.0);
        for e in ["a", "", "a", "long one"] {
            l.push_back(e.as_bytes());
        }
        vec![
            Collection::Hash(h),
            Collection::Hash(big_h),
            Collection::Set(s),
            Collection::ZSet(z),
            Collection::List(l),
        ]
    }

    #[test]
    fn every_collection_round_trips_and_a_heavy_one_is_refused_under_a_low_cap() {
        for c in samples() {
            let o = Object::Coll(c);
            let payload = dump_object(&o);
            assert_eq!(restore_object(&payload, 1 << 30).unwrap(), o);
            let mut bad = payload.clone();
            let n = bad.len();
            bad[n / 2] ^= 0x10;
            assert!(restore_object(&bad, 1 << 30).is_err());
        }
        let big = Object::Coll(samples().swap_remove(1));
        assert_eq!(
            restore_object(&dump_object(&big), 1000),
            Err(DumpError::TooBig)
        );
    }

    #[test]
    fn garbled_payloads_with_a_valid_checksum_are_refused_not_panicked_on() {
        let mut x: u32 = 99;
        for c in samples() {
            let payload = dump_object(&Object::Coll(c));
            let body = &payload[..payload.len() - 10];
            for cut in 0..body.len().min(300) {
                assert!(restore_object(&seal(body[..cut].to_vec()), u64::MAX).is_err());
            }
            for _ in 0..500 {
                x = x.wrapping_mul(1_103_515_245).wrapping_add(12345);
                let mut bad = body.to_vec();
                let at = (x as usize >> 8) % bad.len();
                bad[at] ^= (x >> 3) as u8 | 1;
                let _ = restore_object(&seal(bad), u64::MAX);
            }
        }
    }
}
