//! RESP, the protocol alone: byte slices in, values out. No sockets, no runtime, no metrics.
//!
//! ```text
//! bytes ─▶ Decoder::decode (Redis's limits and texts) ─▶ Request ─▶ Command::from_request (table, arity)
//! bytes ─▶ reply::ReplyDecoder::decode (where a reply ends) ─▶ reply::parse ─▶ Frame
//! Frame ─▶ encode::encode (RESP2 / RESP3) ─▶ bytes;  encode::request (a command's arguments) ─▶ bytes
//! ```
//! Requests are parsed by our own flat, incremental parser (never recursion on client input);
//! replies are written by our own encoder straight into the caller's buffer. The command table
//! (`command::COMMANDS`) is the one list of what jumpcache knows: name, arity, flags, keys, and
//! where each command runs in a cluster (`command::Route`).
#![warn(missing_docs)]

pub mod codec;
pub mod command;
pub mod encode;
pub mod error;
pub mod frame;
pub mod reply;
pub mod ring;

pub use codec::{Decoder, Limits, Request};
pub use command::{Command, CommandSpec, Kind};
pub use error::{text, CommandError, FrameError};
pub use frame::{Frame, Protocol};
