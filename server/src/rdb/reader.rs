//! Reads RDB files (versions 1 to 12: what Redis 2.x to 7.4 write): strings in every encoding
//! (raw, int-encoded, LZF-compressed), hashes, sets, sorted sets and lists in every encoding
//! (`collections`), expiry opcodes, AUX, SELECTDB, RESIZEDB. Streams, modules and functions
//! are skipped and counted; nothing in a file is trusted: every length is checked against the
//! bytes the file has left before anything is allocated, and a truncated or corrupt file is
//! an error, never a panic.

use std::io::{self, Read};

use bytes::Bytes;

use super::collections::{obj_type, Decoded};
use super::crc64::crc64;
use super::lzf;
use super::opcode;
use crate::store::Object;

/// The largest string read (Redis's `proto-max-bulk-len`).
const MAX_STRING: u64 = 512 << 20;

/// LZF expands at most this many times (a 3-byte back-reference yields 264 bytes).
const LZF_MAX_RATIO: u64 = 90;

/// What a load found.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct LoadSummary {
    /// The file's RDB version.
    pub version: u32,
    /// Keys handed to the caller.
    pub keys: u64,
    /// Keys already past their deadline, left out.
    pub expired: u64,
    /// Keys of other types (streams, modules) left out.
    pub other_types: u64,
    /// Collections heavier than the weight cap (`max_memory`), read and left out.
    pub too_big: u64,
    /// Keys of databases other than 0, left out (jumpcache has one database).
    pub other_databases: u64,
    /// Module AUX records and functions left out.
    pub skipped_records: u64,
    /// AUX fields, as written (`redis-ver`, `ctime`...).
    pub aux: Vec<(String, String)>,
}

/// Why a file could not be read.
#[derive(Debug)]
pub enum RdbError {
    /// The file could not be read.
    Io(io::Error),
    /// The file is not a valid RDB file (truncated, corrupt, unknown type or opcode).
    Corrupt(String),
}

impl std::fmt::Display for RdbError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            RdbError::Io(e) => write!(f, "cannot read the RDB file: {e}"),
            RdbError::Corrupt(why) => write!(f, "corrupt RDB file: {why}"),
        }
    }
}

impl std::error::Error for RdbError {}

pub(super) type Result<T> = std::result::Result<T, RdbError>;

pub(super) fn corrupt<T>(why: impl Into<String>) -> Result<T> {
    Err(RdbError::Corrupt(why.into()))
}

/// A length, or one of the special string encodings (`11xxxxxx`).
enum Len {
    Plain(u64),
    Special(u8),
}

/// Reads `input` (`len` bytes long) as an RDB file, calling `put(key, value, deadline_ms)`
/// for each key of database 0 still live at `now_ms` (deadline 0: none) whose type the store
/// holds. A collection weighing more than `cap_bytes` is read and left out.
///
/// # Errors
/// [`RdbError`] for a file that cannot be read or is not a whole, valid RDB file; keys
/// handed to `put` before the error stay handed.
pub fn load(
    input: impl Read,
    len: u64,
    now_ms: u64,
    cap_bytes: u64,
    put: impl FnMut(Vec<u8>, Object, u64),
) -> Result<LoadSummary> {
    let mut r = Reader {
        input,
        left: len,
        crc: 0,
    };
    load_from(&mut r, now_ms, cap_bytes, put).map_err(|e| match e {
        RdbError::Corrupt(why) => RdbError::Corrupt(format!("{why} (at byte {})", len - r.left)),
        io => io,
    })
}

fn load_from(
    r: &mut Reader<impl Read>,
    now_ms: u64,
    cap_bytes: u64,
    mut put: impl FnMut(Vec<u8>, Object, u64),
) -> Result<LoadSummary> {
    let mut summary = LoadSummary::default();
    let magic = r.bytes(9)?;
    if &magic[..5] != b"REDIS" {
        return corrupt("not an RDB file (no REDIS magic)");
    }
    let version: u32 = std::str::from_utf8(&magic[5..])
        .ok()
        .and_then(|v| v.parse().ok())
        .filter(|v| (1..=12).contains(v))
        .map_or_else(
            || {
                corrupt(format!(
                    "unsupported RDB version {:?}",
                    String::from_utf8_lossy(&magic[5..])
                ))
            },
            Ok,
        )?;
    summary.version = version;
    let mut db = 0;
    let mut deadline_ms = 0;
    loop {
        let op = r.u8()?;
        match op {
            opcode::EXPIRETIME => {
                deadline_ms = u64::from(u32::from_le_bytes(r.array()?)) * 1000;
                continue;
            }
            opcode::EXPIRETIME_MS => {
                deadline_ms = u64::from_le_bytes(r.array()?);
                continue;
            }
            opcode::FREQ => {
                r.u8()?;
                continue;
            }
            opcode::IDLE => {
                r.length()?;
                continue;
            }
            opcode::SELECTDB => {
                db = r.length()?;
                continue;
            }
            opcode::RESIZEDB => {
                r.length()?;
                r.length()?;
                continue;
            }
            opcode::SLOT_INFO => {
                for _ in 0..3 {
                    r.length()?;
                }
                continue;
            }
            opcode::AUX => {
                let k = r.string()?;
                let v = r.string()?;
                summary.aux.push((
                    String::from_utf8_lossy(&k).into_owned(),
                    String::from_utf8_lossy(&v).into_owned(),
                ));
                continue;
            }
            opcode::MODULE_AUX => {
                r.length()?; // module id
                let when_opcode = r.length()?;
                r.length()?; // when
                if when_opcode != MODULE_OPCODE_UINT {
                    return corrupt("bad module AUX record");
                }
                r.skip_module_value()?;
                summary.skipped_records += 1;
                continue;
            }
            opcode::FUNCTION2 => {
                r.skip_string()?;
                summary.skipped_records += 1;
                continue;
            }
            opcode::FUNCTION_PRE_GA => {
                return corrupt("pre-release function records are not supported")
            }
            opcode::EOF => break,
            _ => {}
        }
        // A key of type `op`.
        let key = r.string()?;
        let wanted = op == opcode::TYPE_STRING || obj_type(op).is_some();
        if !wanted {
            r.skip_value(op)?;
            summary.other_types += 1;
        } else if db != 0 || (deadline_ms != 0 && deadline_ms < now_ms) {
            if op == opcode::TYPE_STRING {
                r.skip_string()?;
            } else {
                r.skip_value(op)?;
            }
            if db != 0 {
                summary.other_databases += 1;
            } else {
                summary.expired += 1;
            }
        } else if op == opcode::TYPE_STRING {
            let value = r.string()?;
            summary.keys += 1;
            put(key, Object::Str(Bytes::from(value)), deadline_ms);
        } else {
            match r.collection(op, cap_bytes)? {
                Decoded::Ready(c) => {
                    summary.keys += 1;
                    put(key, Object::Coll(c), deadline_ms);
                }
                Decoded::Empty => {}
                Decoded::TooBig => summary.too_big += 1,
            }
        }
        deadline_ms = 0;
    }
    let computed = r.crc;
    if version >= 5 {
        let stored = u64::from_le_bytes(r.array()?);
        if stored != 0 && stored != computed {
            return corrupt(format!(
                "checksum mismatch: the file says {stored:016x}, its bytes {computed:016x}"
            ));
        }
    }
    Ok(summary)
}

/// What a DUMP payload's value gave.
pub(super) enum DumpValue {
    Object(Object),
    /// A collection heavier than the cap.
    TooBig,
}

/// Reads a DUMP payload's value (the part before its version and checksum): a string or a
/// collection in any encoding this reader knows, and nothing after it. `None` for another
/// type, an empty collection or bad bytes.
pub(super) fn dump_value(body: &[u8], cap_bytes: u64) -> Option<DumpValue> {
    let mut r = Reader {
        input: body,
        left: body.len() as u64,
        crc: 0,
    };
    let t = r.u8().ok()?;
    let value = if t == opcode::TYPE_STRING {
        DumpValue::Object(Object::Str(Bytes::from(r.string().ok()?)))
    } else {
        obj_type(t)?;
        match r.collection(t, cap_bytes).ok()? {
            Decoded::Ready(c) => DumpValue::Object(Object::Coll(c)),
            Decoded::Empty => return None,
            Decoded::TooBig => DumpValue::TooBig,
        }
    };
    (r.left == 0).then_some(value)
}

// Module value opcodes (Redis's RDB_MODULE_OPCODE_*).
const MODULE_OPCODE_EOF: u64 = 0;
const MODULE_OPCODE_SINT: u64 = 1;
const MODULE_OPCODE_UINT: u64 = 2;
const MODULE_OPCODE_FLOAT: u64 = 3;
const MODULE_OPCODE_DOUBLE: u64 = 4;
const MODULE_OPCODE_STRING: u64 = 5;

pub(super) struct Reader<R: Read> {
    pub(super) input: R,
    /// Bytes the file has left: no length read may claim more.
    pub(super) left: u64,
    pub(super) crc: u64,
}

impl<R: Read> Reader<R> {
    fn fill(&mut self, buf: &mut [u8]) -> Result<()> {
        if buf.len() as u64 > self.left {
            return corrupt("truncated file");
        }
        self.input.read_exact(buf).map_err(|e| match e.kind() {
            io::ErrorKind::UnexpectedEof => RdbError::Corrupt("truncated file".into()),
            _ => RdbError::Io(e),
        })?;
        self.left -= buf.len() as u64;
        self.crc = crc64(self.crc, buf);
        Ok(())
    }

    pub(super) fn array<const N: usize>(&mut self) -> Result<[u8; N]> {
        let mut buf = [0u8; N];
        self.fill(&mut buf)?;
        Ok(buf)
    }

    pub(super) fn u8(&mut self) -> Result<u8> {
        Ok(self.array::<1>()?[0])
    }

    /// `n` bytes, allocated only once the file is known to have them.
    pub(super) fn bytes(&mut self, n: u64) -> Result<Vec<u8>> {
        if n > self.left {
            return corrupt(format!(
                "truncated file: a length of {n} bytes runs past its end"
            ));
        }
        let mut buf = vec![0u8; n as usize];
        self.fill(&mut buf)?;
        Ok(buf)
    }

    /// Skips `n` bytes without keeping them.
    fn skip(&mut self, mut n: u64) -> Result<()> {
        let mut chunk = [0u8; 4096];
        while n > 0 {
            let take = n.min(chunk.len() as u64) as usize;
            self.fill(&mut chunk[..take])?;
            n -= take as u64;
        }
        Ok(())
    }

    fn len_or_special(&mut self) -> Result<Len> {
        let first = self.u8()?;
        Ok(match first >> 6 {
            0 => Len::Plain(u64::from(first & 0x3f)),
            1 => Len::Plain(u64::from(first & 0x3f) << 8 | u64::from(self.u8()?)),
            3 => Len::Special(first & 0x3f),
            _ => match first {
                0x80 => Len::Plain(u64::from(u32::from_be_bytes(self.array()?))),
                0x81 => Len::Plain(u64::from_be_bytes(self.array()?)),
                _ => return corrupt(format!("unknown length encoding {first:#04x}")),
            },
        })
    }

    pub(super) fn length(&mut self) -> Result<u64> {
        match self.len_or_special()? {
            Len::Plain(n) => Ok(n),
            Len::Special(_) => corrupt("an encoded string where a length was expected"),
        }
    }

    /// A string in any encoding, expanded.
    pub(super) fn string(&mut self) -> Result<Vec<u8>> {
        match self.len_or_special()? {
            Len::Plain(n) => {
                if n > MAX_STRING {
                    return corrupt(format!("a string of {n} bytes is over 512 MiB"));
                }
                self.bytes(n)
            }
            Len::Special(0) => Ok((self.array::<1>()?[0] as i8).to_string().into_bytes()),
            Len::Special(1) => Ok(i16::from_le_bytes(self.array()?).to_string().into_bytes()),
            Len::Special(2) => Ok(i32::from_le_bytes(self.array()?).to_string().into_bytes()),
            Len::Special(3) => {
                let clen = self.length()?;
                let ulen = self.length()?;
                if ulen > MAX_STRING || ulen > clen.saturating_mul(LZF_MAX_RATIO) {
                    return corrupt(format!("an LZF string claims {ulen} bytes from {clen}"));
                }
                let packed = self.bytes(clen)?;
                lzf::decompress(&packed, ulen as usize)
                    .or_else(|e| corrupt(format!("bad LZF string: {e:?}")))
            }
            Len::Special(e) => corrupt(format!("unknown string encoding {e}")),
        }
    }

    /// Skips a string in any encoding, without expanding it.
    pub(super) fn skip_string(&mut self) -> Result<()> {
        match self.len_or_special()? {
            Len::Plain(n) => self.skip(n),
            Len::Special(0) => self.skip(1),
            Len::Special(1) => self.skip(2),
            Len::Special(2) => self.skip(4),
            Len::Special(3) => {
                let clen = self.length()?;
                self.length()?;
                self.skip(clen)
            }
            Len::Special(e) => corrupt(format!("unknown string encoding {e}")),
        }
    }

    fn skip_strings(&mut self, n: u64) -> Result<()> {
        for _ in 0..n {
            self.skip_string()?;
        }
        Ok(())
    }

    /// A version-1 sorted set's score: a length byte, or 253-255 for NaN and infinities.
    fn skip_text_double(&mut self) -> Result<()> {
        match self.u8()? {
            253..=255 => Ok(()),
            n => self.skip(u64::from(n)),
        }
    }

    /// Skips a value of any type but string (Redis's `rdbLoadObject`, read and dropped).
    pub(super) fn skip_value(&mut self, t: u8) -> Result<()> {
        match t {
            // list, set: n strings
            1 | 2 => {
                let n = self.length()?;
                self.skip_strings(n)
            }
            // zset (scores as text)
            3 => {
                for _ in 0..self.length()? {
                    self.skip_string()?;
                    self.skip_text_double()?;
                }
                Ok(())
            }
            // hash: n field/value pairs
            4 => {
                let n = self.length()?;
                self.skip_strings(n.saturating_mul(2))
            }
            // zset2 (binary scores)
            5 => {
                for _ in 0..self.length()? {
                    self.skip_string()?;
                    self.skip(8)?;
                }
                Ok(())
            }
            6 => corrupt("pre-release module values are not supported"),
            7 => {
                self.length()?; // module id
                self.skip_module_value()
            }
            // zipmap, ziplist, intset, zset ziplist, hash ziplist, hash/zset/set listpack:
            // one blob each
            9..=13 | 16 | 17 | 20 => self.skip_string(),
            // quicklist: n ziplists
            14 => {
                let n = self.length()?;
                self.skip_strings(n)
            }
            // quicklist 2: n (container, listpack)
            18 => {
                for _ in 0..self.length()? {
                    self.length()?;
                    self.skip_string()?;
                }
                Ok(())
            }
            15 | 19 | 21 => self.skip_stream(t),
            _ => corrupt(format!("unknown value type {t}")),
        }
    }

    /// Skips a stream (`RDB_TYPE_STREAM_LISTPACKS`, `_2`, `_3`).
    fn skip_stream(&mut self, t: u8) -> Result<()> {
        let nodes = self.length()?;
        self.skip_strings(nodes.saturating_mul(2))?;
        // length, last id; from _2 on also first id, max deleted id, entries added
        let counters = if t >= 19 { 8 } else { 3 };
        for _ in 0..counters {
            self.length()?;
        }
        for _ in 0..self.length()? {
            self.skip_string()?; // group name
            self.length()?;
            self.length()?; // last id
            if t >= 19 {
                self.length()?; // entries read
            }
            for _ in 0..self.length()? {
                self.skip(16 + 8)?; // id, delivery time
                self.length()?; // delivery count
            }
            for _ in 0..self.length()? {
                self.skip_string()?; // consumer name
                self.skip(if t >= 21 { 16 } else { 8 })?; // seen (and active) time
                let pending = self.length()?;
                self.skip(pending.saturating_mul(16))?;
            }
        }
        Ok(())
    }

    /// Skips a module's serialized value: typed fields until `MODULE_OPCODE_EOF`.
    fn skip_module_value(&mut self) -> Result<()> {
        loop {
            match self.length()? {
                MODULE_OPCODE_EOF => return Ok(()),
                MODULE_OPCODE_SINT | MODULE_OPCODE_UINT => {
                    self.length()?;
                }
                MODULE_OPCODE_FLOAT => self.skip(4)?,
                MODULE_OPCODE_DOUBLE => self.skip(8)?,
                MODULE_OPCODE_STRING => self.skip_string()?,
                other => return corrupt(format!("unknown module opcode {other}")),
            }
        }
    }
}
