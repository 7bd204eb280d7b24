//! DUMP's payload, as Redis makes it: the value in RDB encoding, the RDB version (2 bytes,
//! little-endian), then the CRC-64 of everything before (8 bytes, little-endian). A payload
//! from redis-server restores here and one from here restores in redis-server.

use super::crc64::crc64;
use super::opcode;
use super::reader::dump_string_value;
use super::writer::{push_length, RDB_VERSION};

/// The newest RDB version whose string encoding this reader knows (Redis 7.4's).
const READ_VERSION: u16 = 12;

/// Returns the DUMP payload of a string value (stored raw, which every Redis reads).
pub fn dump_string(value: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(value.len() + 20);
    out.push(opcode::TYPE_STRING);
    push_length(&mut out, value.len() as u64);
    out.extend_from_slice(value);
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
    /// Checked, but not a string this reader can decode.
    BadFormat,
}

/// Returns the string a DUMP payload holds.
///
/// # Errors
/// [`DumpError`], as Redis's `verifyDumpPayload` and `rdbLoadObject` refuse it.
pub fn restore_string(payload: &[u8]) -> Result<Vec<u8>, DumpError> {
    let Some(body_len) = payload.len().checked_sub(10) else {
        return Err(DumpError::VersionOrChecksum);
    };
    let (body, footer) = payload.split_at(body_len);
    let version = u16::from_le_bytes([footer[0], footer[1]]);
    let stored = u64::from_le_bytes(footer[2..10].try_into().unwrap_or_default());
    if version > READ_VERSION || crc64(0, &payload[..body_len + 2]) != stored {
        return Err(DumpError::VersionOrChecksum);
    }
    dump_string_value(body).ok_or(DumpError::BadFormat)
}

#[cfg(test)]
mod tests {
    use super::*;

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
        let raw = b"\x00\x05hello\x0a\x00";
        let mut payload = raw.to_vec();
        payload.extend(crc64(0, raw).to_le_bytes());
        assert_eq!(restore_string(&payload).unwrap(), b"hello");
        // An int-encoded value (SET n 123 dumps as INT8).
        let raw = b"\x00\xc0\x7b\x0a\x00";
        let mut payload = raw.to_vec();
        payload.extend(crc64(0, raw).to_le_bytes());
        assert_eq!(restore_string(&payload).unwrap(), b"123");
        // A list (type 18): checked, then refused as a bad format.
        let raw = b"\x12\x00\x0a\x00";
        let mut payload = raw.to_vec();
        payload.extend(crc64(0, raw).to_le_bytes());
        assert_eq!(restore_string(&payload), Err(DumpError::BadFormat));
    }
}
