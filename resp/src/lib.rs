//! RESP for jumpcache: the request parser, reply frames and their encoding, the command table,
//! and what every server owes its clients (limits, `maxclients`, the AUTH gate).
//!
//! ```text
//! listener ─▶ Acceptor::accept (maxclients, EMFILE backoff) ─▶ Connection::new (Limits)
//! socket ─▶ Connection::read_request (timeout, query buffer) ─▶ Decoder::decode (limits, Redis's texts) ─▶ Request
//!        ─▶ Command::from_request (table lookup, arity) ─▶ session::handle_local (AUTH gate) ─▶ Command { spec, args, raw }
//! socket ◀─ Connection::flush ◀─ Connection::relieve (output limit) ◀─ Connection::write_frame ◀─ encode (RESP2 / RESP3) ◀─ Frame
//! ```
//! Requests are parsed by our own flat, incremental parser (never recursion on client input);
//! replies are written by our own encoder straight into the connection's buffer. The shard and
//! the router both use all of this, so each limit and each Redis text is written once.
#![warn(missing_docs)]

pub mod auth;
pub mod clients;
pub mod codec;
pub mod command;
pub mod connection;
pub mod encode;
pub mod error;
pub mod frame;
pub mod glob;
pub mod info;
pub mod latency;
pub mod reply;
pub mod session;
pub mod shutdown;
pub mod stats;
pub mod units;

pub use auth::Password;
pub use clients::{Acceptor, ClientConfig, ClientSlot, ClientSlots};
pub use codec::{Decoder, Limits, Request};
pub use command::{Command, CommandSpec, Kind};
pub use connection::Connection;
pub use error::{text, CommandError, FrameError};
pub use frame::{Frame, Protocol};
pub use shutdown::Shutdown;
