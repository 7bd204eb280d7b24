//! Writer and reader against each other, and the reader against truncated and garbled files.

use super::reader::{load, LoadSummary, RdbError};
use super::writer::RdbWriter;
use crate::store::Object;

mod collections;

type Keys = Vec<(Vec<u8>, Vec<u8>, u64)>;

/// Reads a file of strings.
fn read(bytes: &[u8], now_ms: u64) -> Result<(LoadSummary, Keys), RdbError> {
    let (summary, objects) = read_objects(bytes, now_ms, u64::MAX)?;
    let keys = objects
        .into_iter()
        .map(|(k, v, d)| match v {
            Object::Str(s) => (k, s.to_vec(), d),
            Object::Coll(c) => (k, format!("{c:?}").into_bytes(), d),
        })
        .collect();
    Ok((summary, keys))
}

pub(super) type Objects = Vec<(Vec<u8>, Object, u64)>;

/// Reads a file of any types, dropping collections heavier than `cap`.
pub(super) fn read_objects(
    bytes: &[u8],
    now_ms: u64,
    cap: u64,
) -> Result<(LoadSummary, Objects), RdbError> {
    let mut keys = Vec::new();
    let summary = load(bytes, bytes.len() as u64, now_ms, cap, |k, v, d| {
        keys.push((k, v, d))
    })?;
    Ok((summary, keys))
}

fn sample_file() -> Vec<u8> {
    let mut w = RdbWriter::start(Vec::new(), 1_700_000_000_000, 1234).unwrap();
    w.select_db(4, 2).unwrap();
    w.string(b"plain", b"value", 0).unwrap();
    w.string(b"later", b"x", 2_000_000_000_000).unwrap();
    w.string(b"gone", b"y", 1_000).unwrap();
    w.string(b"big", &vec![b'z'; 20_000], 0).unwrap();
    w.finish().unwrap()
}

#[test]
fn what_the_writer_writes_the_reader_reads_and_expired_keys_stay_out() {
    let file = sample_file();
    assert!(file.starts_with(b"REDIS0010"));
    let (summary, keys) = read(&file, 1_700_000_000_000).unwrap();
    assert_eq!(summary.version, 10);
    assert_eq!(summary.keys, 3);
    assert_eq!(summary.expired, 1);
    assert_eq!(keys[0], (b"plain".to_vec(), b"value".to_vec(), 0));
    assert_eq!(
        keys[1],
        (b"later".to_vec(), b"x".to_vec(), 2_000_000_000_000)
    );
    assert_eq!(keys[2].1.len(), 20_000);
    assert!(summary
        .aux
        .iter()
        .any(|(k, v)| k == "redis-bits" && v == "64"));
}

#[test]
fn every_truncation_and_every_flipped_byte_is_an_error_not_a_panic() {
    let file = sample_file();
    for cut in (0..file.len())
        .step_by(7)
        .chain(file.len() - 20..file.len())
    {
        assert!(read(&file[..cut], 0).is_err(), "truncated at {cut}");
    }
    // The header, the keys and the trailer; the big value's middle is only more of the same.
    let n = file.len();
    for at in (0..200).chain(n - 200..n) {
        for bit in [0x01u8, 0x80] {
            let mut bad = file.clone();
            bad[at] ^= bit;
            // The checksum catches whatever the parser does not.
            assert!(read(&bad, 0).is_err(), "byte {at} ^ {bit:#x}");
        }
    }
}

#[test]
fn lengths_past_the_end_are_refused_before_allocating() {
    // A string claiming 2^64-1 bytes, and an LZF string claiming 512 MiB from 3 bytes.
    let mut huge = b"REDIS0009\x00\x05hello\x81".to_vec();
    huge.extend_from_slice(&u64::MAX.to_be_bytes());
    assert!(matches!(read(&huge, 0), Err(RdbError::Corrupt(_))));
    let lzf = b"REDIS0009\x00\x01k\xc3\x03\x80\x20\x00\x00\x00abc\xff";
    assert!(matches!(read(lzf, 0), Err(RdbError::Corrupt(_))));
    // Garbage of every short length.
    let mut x: u32 = 12345;
    for len in 0..3000 {
        let mut bytes = b"REDIS0010".to_vec();
        for _ in 0..(len % 64) {
            x = x.wrapping_mul(1_103_515_245).wrapping_add(12345);
            bytes.push((x >> 16) as u8);
        }
        let _ = read(&bytes, 0);
    }
}

#[test]
fn reads_redis_string_encodings_and_skips_a_stream() {
    // Hand-made in Redis 7.0's encodings, checksum 0 (disabled): an int8, an int16, an int32,
    // an LZF string, a key with a seconds expiry, a stream (an empty one: no node, counters,
    // no group), and a key in database 1.
    let mut f = b"REDIS0010".to_vec();
    f.extend_from_slice(b"\xfa\x09redis-ver\x067.0.15");
    f.extend_from_slice(b"\xfe\x00\xfb\x05\x01");
    f.extend_from_slice(b"\x00\x02i8\xc0\x85"); // -123
    f.extend_from_slice(b"\x00\x03i16\xc1\x39\x30"); // 12345
    f.extend_from_slice(b"\x00\x03i32\xc2\x15\xcd\x5b\x07"); // 123456789
                                                             // LZF: literal "abc", back-reference 6 at distance 3 -> "abcabcabc"
    f.extend_from_slice(b"\x00\x03lzf\xc3\x06\x09\x02abc\x80\x02");
    f.extend_from_slice(b"\xfd\x00\x94\x35\x77\x00\x03sec\x01v"); // 2000000000 s
    f.extend_from_slice(b"\x13\x06stream\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00");
    f.extend_from_slice(b"\xfe\x01\x00\x05other\x01v");
    f.push(0xff);
    f.extend_from_slice(&[0; 8]);
    let (summary, keys) = read(&f, 0).unwrap();
    let strings: Vec<(&[u8], &[u8])> = keys.iter().map(|(k, v, _)| (&k[..], &v[..])).collect();
    assert_eq!(
        strings,
        [
            (&b"i8"[..], &b"-123"[..]),
            (b"i16", b"12345"),
            (b"i32", b"123456789"),
            (b"lzf", b"abcabcabc"),
            (b"sec", b"v"),
        ]
    );
    assert_eq!(keys[4].2, 2_000_000_000_000);
    assert_eq!(summary.other_types, 1);
    assert_eq!(summary.other_databases, 1);
}
