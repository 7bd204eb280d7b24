//! Writes Redis's RDB format, version 10 (what Redis 7.0 writes and its tools read): strings
//! only, each key with its millisecond expiry, ending in the CRC-64 of everything before it.
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
        match c {
            Collection::Hash(h) => {
                self.raw(&[opcode::TYPE_HASH])?;
                self.bytes(key)?;
                self.length(h.len() as u64)?;
                for (f, v) in h.iter() {
                    self.bytes(f)?;
                    self.bytes(v)?;
                }
            }
            Collection::Set(s) => {
                self.raw(&[opcode::TYPE_SET])?;
                self.bytes(key)?;
                self.length(s.len() as u64)?;
                for m in s.iter() {
                    self.bytes(m)?;
                }
            }
            Collection::List(l) => {
                self.raw(&[opcode::TYPE_LIST])?;
                self.bytes(key)?;
                self.length(l.len() as u64)?;
                for e in l.iter() {
                    self.bytes(e)?;
                }
            }
            Collection::ZSet(z) => {
                self.raw(&[opcode::TYPE_ZSET_2])?;
                self.bytes(key)?;
                self.length(z.len() as u64)?;
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
