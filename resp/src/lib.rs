//! RESP for jumpcache: the request parser, reply frames and their encoding, the command table.
//!
//! ```text
//! socket ─▶ Connection::read_request ─▶ Decoder::decode (limits, Redis's texts) ─▶ Request
//!        ─▶ Command::from_request (table lookup, arity) ─▶ Command { spec, args, raw }
//! socket ◀─ Connection::flush ◀─ Connection::write_frame ◀─ encode (RESP2 / RESP3) ◀─ Frame
//! ```
//! Requests are parsed by our own flat, incremental parser (never recursion on client input);
//! replies are written by our own encoder straight into the connection's buffer.
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
pub mod reply;
pub mod session;
pub mod units;

pub use auth::Password;
pub use clients::{Acceptor, ClientConfig, ClientSlot, ClientSlots};
pub use codec::{Decoder, Limits, Request};
pub use command::{Command, CommandSpec, Kind};
pub use connection::Connection;
pub use error::{text, CommandError, FrameError};
pub use frame::{Frame, Protocol};
