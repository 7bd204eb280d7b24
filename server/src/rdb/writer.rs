//! Writes Redis's RDB format, version 10 (what Redis 7.0 writes and its tools read): strings
//! raw, collections in the plain types (list 1, set 2, hash 4, zset2 5), each key with its
//! millisecond expiry, ending in the CRC-64 of everything before it.
//!
//! ```text
//! "REDIS0010" AUX* SELECTDB 0 RESIZEDB keys expires (EXPIRETIME_MS ms)? 0 key value ... EOF crc64
//! ```

use crate::store::types::Collection;
use crate::store::Object;
use std::io::{self, Write};

use super::crc64::crc64;
use super::opcode;

/// The RDB version written: Redis 7.0's.
pub const RDB_VERSION: u32 = 10;

/// Appends Redis's length encoding of `n`: 6 bits, 14 bits, 32 or 64 bits big-endian.
pub fn push_length(out: &mut Vec<u8>, n: u64) {
    if n < 1 << 6 {
        out.push(n as u8);
    } else if n < 1 << 14 {
        out.extend([0x40 | (n >> 8) as u8, n as u8]);
    } else if let Ok(n32) = u32::try_from(n) {
        out.push(0x80);
        out.extend(n32.to_be_bytes());
    } else {
        out.push(0x81);
        out.extend(n.to_be_bytes());
    }
}

/// Returns the RDB type a collection is written as: the plain types, which every Redis
/// since 2.x (and this reader) reads.
pub fn type_of(c: &Collection) -> u8 {
    match c {
        Collection::Hash(_) => opcode::TYPE_HASH,
        Collection::Set(_) => opcode::TYPE_SET,
        Collection::List(_) => opcode::TYPE_LIST,
        Collection::ZSet(_) => opcode::TYPE_ZSET_2,
    }
}

/// Appends a collection's type and value as RDB writes them (a DUMP payload's body).
pub fn push_collection(out: &mut Vec<u8>, c: &Collection) {
    out.push(type_of(c));
    let mut w = RdbWriter { out, crc: 0 };
    // invariant: writing to a Vec cannot fail.
    w.collection(c).expect("writing to a Vec");
}

/// An RDB stream being written to `W`; the checksum follows every byte.
pub struct RdbWriter<W: Write> {
    out: W,
    crc: u64,
}

impl<W: Write> RdbWriter<W> {
    /// Starts a file: the magic, the version and the AUX fields Redis writes
    /// (`redis-ver`, `redis-bits`, `ctime`, `used-mem`, `aof-base`).
    ///
    /// # Errors
    /// What writing to `out` returns.
    pub fn start(out: W, now_ms: u64, used_mem: u64) -> io::Result<RdbWriter<W>> {
        let mut w = RdbWriter { out, crc: 0 };
        w.raw(format!("REDIS{RDB_VERSION:04}").as_bytes())?;
        // The Redis version whose format this is: tools print it, loaders ignore it.
        w.aux(b"redis-ver", b"7.0.0")?;
        w.aux(b"redis-bits", b"64")?;
        w.aux(b"ctime", (now_ms / 1000).to_string().as_bytes())?;
        w.aux(b"used-mem", used_mem.to_string().as_bytes())?;
        w.aux(b"aof-base", b"0")?;
        Ok(w)
    }

    /// Starts database 0 with a size hint (`RESIZEDB`).
    ///
    /// # Errors
    /// What writing returns.
    pub fn select_db(&mut self, keys: u64, expires: u64) -> io::Result<()> {
        self.raw(&[opcode::SELECTDB])?;
        self.length(0)?;
        self.raw(&[opcode::RESIZEDB])?;
        self.length(keys)?;
        self.length(expires)
    }

    /// Writes one string key; `deadline_ms` 0 means no expiry.
    ///
    /// # Errors
    /// What writing returns.
    pub fn string(&mut self, key: &[u8], value: &[u8], deadline_ms: u64) -> io::Result<()> {
        if deadline_ms != 0 {
            self.raw(&[opcode::EXPIRETIME_MS])?;
            self.raw(&deadline_ms.to_le_bytes())?;
        }
        self.raw(&[opcode::TYPE_STRING])?;
        self.bytes(key)?;
        self.bytes(value)
    }

    /// Writes one key of any type; `deadline_ms` 0 means no expiry.
    ///
    /// # Errors
    /// What writing returns.
    pub fn object(&mut self, key: &[u8], value: &Object, deadline_ms: u64) -> io::Result<()> {
        let c = match value {
            Object::Str(s) => return self.string(key, s, deadline_ms),
            Object::Coll(c) => c,
        };
        if deadline_ms != 0 {
            self.raw(&[opcode::EXPIRETIME_MS])?;
            self.raw(&deadline_ms.to_le_bytes())?;
        }
        self.raw(&[type_of(c)])?;
        self.bytes(key)?;
        self.collection(c)
    }

    /// Writes a collection's value (what follows its type and key).
    fn collection(&mut self, c: &Collection) -> io::Result<()> {
        self.length(c.len() as u64)?;
        match c {
            Collection::Hash(h) => {
                for (f, v) in h.iter() {
                    self.bytes(f)?;
                    self.bytes(v)?;
                }
            }
            Collection::Set(s) => {
                for m in s.iter() {
                    self.bytes(m)?;
                }
            }
            Collection::List(l) => {
                for e in l.iter() {
                    self.bytes(e)?;
                }
            }
            Collection::ZSet(z) => {
                for (m, score) in z.iter() {
                    self.bytes(m)?;
                    self.raw(&score.to_le_bytes())?;
                }
            }
        }
        Ok(())
    }

    /// Ends the file (`EOF` and the checksum) and returns the writer, not flushed.
    ///
    /// # Errors
    /// What writing returns.
    pub fn finish(mut self) -> io::Result<W> {
        self.raw(&[opcode::EOF])?;
        let crc = self.crc;
        self.out.write_all(&crc.to_le_bytes())?;
        Ok(self.out)
    }

    fn aux(&mut self, key: &[u8], value: &[u8]) -> io::Result<()> {
        self.raw(&[opcode::AUX])?;
        self.bytes(key)?;
        self.bytes(value)
    }

    /// A length-prefixed string, stored raw (Redis reads every encoding; raw is the simplest).
    fn bytes(&mut self, b: &[u8]) -> io::Result<()> {
        self.length(b.len() as u64)?;
        self.raw(b)
    }

    fn length(&mut self, n: u64) -> io::Result<()> {
        let mut buf = Vec::with_capacity(9);
        push_length(&mut buf, n);
        self.raw(&buf)
    }

    fn raw(&mut self, b: &[u8]) -> io::Result<()> {
        self.crc = crc64(self.crc, b);
        self.out.write_all(b)
    }
}
