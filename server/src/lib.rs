//! The jumpcache shard: a small Redis for strings, backed by moka.
//!
//! ```text
//! client ─▶ Connection::read_request ─▶ Command::from_request ─▶ handler::reply
//!        ─▶ exec::execute (strings, keys, server) ─▶ Store (moka, own deadlines)
//! client ◀─ Connection::flush ◀─ Connection::write_frame ◀─ Frame
//! ```
//! Everything already buffered is answered before one flush: that is pipelining.

pub mod clock;
pub mod exec;
pub mod glob;
pub mod store;
