//! Snapshots in Redis's RDB format: SAVE, BGSAVE, periodic `--save`, and loading a file at
//! start-up.
//!
//! ```text
//! SAVE / BGSAVE / --save ─▶ save::snapshot ─▶ Store::snapshot_segment (one segment locked at a
//!     time, copied out) ─▶ RdbWriter ─▶ temp file ─▶ fsync ─▶ rename over --dbfilename ─▶ fsync dir
//! start-up ─▶ save::load_at_start ─▶ reader::load ─▶ Store::put_object (bounded by --max-memory)
//! ```
//!
//! One job per file: `crc64` (the trailer), `lzf` (strings Redis compressed), `dump` (DUMP and
//! RESTORE's payloads), `writer`, `reader` (the file's framing and strings), `collections`
//! (hashes, sets, sorted sets, lists in every RDB encoding) with the packed blobs it opens
//! (`listpack`, `ziplist` and zipmap, `intset`), `save` (files, the persistence state, INFO's
//! `# Persistence`), `config` (the flags).

mod collections;
pub mod config;
pub mod crc64;
pub mod dump;
mod intset;
mod listpack;
pub mod lzf;
pub mod reader;
pub mod save;
pub mod writer;
mod ziplist;

pub use config::{CorruptPolicy, RdbConfig};
pub use save::Persistence;

/// RDB opcodes and the one value type written (Redis's `RDB_OPCODE_*`, `RDB_TYPE_STRING`).
pub(crate) mod opcode {
    pub const TYPE_STRING: u8 = 0;
    /// The plain collection types, which every Redis since 2.x reads (`RDB_TYPE_LIST`,
    /// `RDB_TYPE_SET`, `RDB_TYPE_ZSET_2`, `RDB_TYPE_HASH`).
    pub const TYPE_LIST: u8 = 1;
    pub const TYPE_SET: u8 = 2;
    pub const TYPE_ZSET_2: u8 = 5;
    pub const TYPE_HASH: u8 = 4;
    pub const SLOT_INFO: u8 = 0xF4;
    pub const FUNCTION2: u8 = 0xF5;
    pub const FUNCTION_PRE_GA: u8 = 0xF6;
    pub const MODULE_AUX: u8 = 0xF7;
    pub const IDLE: u8 = 0xF8;
    pub const FREQ: u8 = 0xF9;
    pub const AUX: u8 = 0xFA;
    pub const RESIZEDB: u8 = 0xFB;
    pub const EXPIRETIME_MS: u8 = 0xFC;
    pub const EXPIRETIME: u8 = 0xFD;
    pub const SELECTDB: u8 = 0xFE;
    pub const EOF: u8 = 0xFF;
}

#[cfg(test)]
mod tests;
