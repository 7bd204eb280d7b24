//! Client-side caching, as Redis 7's CLIENT TRACKING: which connection read which key, and
//! the invalidation messages a change of that key sends it.
//!
//! ```text
//! read by a tracking session ─▶ before_command ─▶ Hub::remember (before the read) ─▶ Table
//! write ─▶ server::exec::execute ─▶ Hub::invalidate ─▶ Table::take(key) ─▶ deliver ─▶ Outbox::push
//! expiry, eviction (the store's removal hook), JUMPCACHE DROP ─▶ Hub::invalidate
//! FLUSHALL, FLUSHDB ─▶ Hub::flushed ─▶ a null invalidation to every tracking client
//! connection loop ─▶ Outbox::take before each command, and while idle ─▶ client
//! ```
//!
//! Ordering: a key is remembered *before* the read that returns it, and a write invalidates
//! *after* it stored, so a write the read did not see always finds the key remembered. A
//! connection writes the invalidations queued before a command started ahead of that
//! command's reply, and those queued while it ran after it: an invalidation never precedes
//! a reply that carries the older value, and the invalidation of a write a reply did not see
//! always follows it (as redis-server's single thread orders them; its own-write push also
//! follows the write's reply).
//!
//! The keys a client read are in a table bounded by `tracking-table-max-keys` (Redis's
//! default 1,000,000; 0 = no bound): a key pushed out of it is invalidated at once. A key is
//! remembered once per read and forgotten once invalidated, as Redis does.

mod client;
mod hub;
mod outbox;
mod pubsub;

pub use client::{before_command, client_subcommand, disconnect, enable_pushes, Mode};
pub use hub::{
    collect, settle, Delivered, Hub, Invalidation, Sink, DEFAULT_MAX_KEYS, SETTLE_LIMIT,
};
pub use outbox::Outbox;
pub use pubsub::{allowed_while_subscribed, subscribe, unsubscribe, INVALIDATE_CHANNEL};
