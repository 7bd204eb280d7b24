//! What every RESP server owes its clients, around the protocol: accepting (`maxclients`, EMFILE
//! backoff), the connection and its buffers and limits, the session (AUTH gate, connection
//! commands), statistics and the INFO layout, the figures a shard reports to a router
//! (`figures`, `local`), and shutdown. The shard and the router both serve through this, so
//! each limit and each Redis text is written once.
//!
//! ```text
//! listener ─▶ Acceptor::accept (maxclients, EMFILE backoff) ─▶ Connection::new (Limits)
//! socket ─▶ Connection::read_request (timeout, query buffer) ─▶ protocol::Decoder::decode ─▶ Request
//!        ─▶ Command::from_request ─▶ session::handle_local (AUTH gate, connection commands) ─▶ Command
//! socket ◀─ Connection::flush ◀─ Connection::relieve (output limit) ◀─ Connection::write_frame ◀─ Frame
//! ```
#![warn(missing_docs)]

pub mod acl;
pub mod admin;
pub mod auth;
pub mod baseline;
pub mod clients;
pub mod connection;
pub mod figures;
pub mod glob;
pub mod info;
pub mod latency;
pub mod latency_events;
pub mod local;
pub mod multi;
pub mod operator;
pub mod persistence;
pub mod registry;
pub mod session;
pub mod setting;
pub mod shutdown;
pub mod slowlog;
pub mod stats;
pub mod sync;
pub mod tls;
pub mod tracking;
pub mod units;

pub use auth::Password;
pub use clients::{
    serve_clients, Acceptor, ClientConfig, ClientSlot, ClientSlots, ClientTask, Incoming, Listeners,
};
pub use connection::Connection;
pub use local::LocalShard;
pub use setting::Setting;
pub use shutdown::Shutdown;
pub use tls::{ClientStream, Tls, TlsConfig};
