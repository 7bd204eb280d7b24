//! The jumpcache shard: a small Redis for strings, over its own memory-bounded store.
//!
//! ```text
//! client ─▶ Connection::read_request ─▶ Command::from_request ─▶ handler::reply
//!        ─▶ session::handle_local (PING, HELLO, CLIENT, ...; MULTI's queue)
//!        ─▶ exec::execute ─▶ Store (under the transaction gate, shared: `txn`)
//!        or exec::multi (EXEC, WATCH, TXN) / script (EVAL, SCRIPT), the gate exclusive
//! client ◀─ Connection::flush ◀─ Connection::write_frame ◀─ Frame
//! ```
//! Everything already buffered is answered before one flush: that is pipelining. The store
//! copies keys and values into entries of its own (see `store`): nothing it keeps points into
//! a read buffer.

pub mod clock;
pub mod cluster;
pub mod config;
pub mod embedded;
pub mod exec;
pub mod figures;
pub mod handler;
pub mod info;
pub mod listener;
pub mod rdb;
pub mod script;
pub mod state;
pub mod stats;
pub mod store;
mod tracking;
pub mod txn;

pub use config::{Config, EvictionPolicy, StoreBackend};
pub use embedded::Embedded;
pub use listener::{run, serve};
pub use state::ShardState;
