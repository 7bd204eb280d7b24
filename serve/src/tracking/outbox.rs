//! A connection's queue of out-of-band messages (invalidations, pub/sub), written by other
//! connections' commands and by the store's expiry, taken by the connection's own loop.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Mutex;

use bytes::BytesMut;
use protocol::encode::encode;
use protocol::frame::{Frame, Protocol};
use tokio::sync::Notify;

use crate::sync::lock;

/// Messages waiting for a connection, already encoded in its protocol.
#[derive(Debug, Default)]
pub struct Outbox {
    bytes: Mutex<BytesMut>,
    /// Set with the bytes, so a connection with nothing queued pays one load per command.
    pending: AtomicBool,
    notify: Notify,
    /// Channels the connection is subscribed to (RESP2 gets invalidations only then).
    channels: AtomicUsize,
}

impl Outbox {
    /// Queues `frame` in `protocol` and wakes the connection.
    pub fn push(&self, frame: &Frame, protocol: Protocol) {
        let mut bytes = lock(&self.bytes);
        encode(frame, protocol, &mut bytes);
        self.pending.store(true, Ordering::Release);
        drop(bytes);
        self.notify.notify_one();
    }

    /// Queues a message whose last element is encoded apart: `header` is the message's
    /// aggregate less that element (its length counts it), in `protocol`; `last` in
    /// `last_protocol`.
    pub fn push_message(
        &self,
        header: &Frame,
        protocol: Protocol,
        last: &Frame,
        last_protocol: Protocol,
    ) {
        let Frame::Push(items) = header else {
            return self.push(header, protocol);
        };
        let mut bytes = lock(&self.bytes);
        let kind = if protocol == Protocol::Resp3 {
            '>'
        } else {
            '*'
        };
        bytes.extend_from_slice(format!("{kind}{}\r\n", items.len() + 1).as_bytes());
        for item in items {
            encode(item, protocol, &mut bytes);
        }
        encode(last, last_protocol, &mut bytes);
        self.pending.store(true, Ordering::Release);
        drop(bytes);
        self.notify.notify_one();
    }

    /// Returns what is queued, if anything, and empties the queue.
    pub fn take(&self) -> Option<BytesMut> {
        if !self.pending.load(Ordering::Acquire) {
            return None;
        }
        let mut bytes = lock(&self.bytes);
        self.pending.store(false, Ordering::Relaxed);
        Some(std::mem::take(&mut *bytes))
    }

    /// Waits until something may have been queued (a permit is kept when nobody waits, so a
    /// push between two waits is never missed; a wake-up may find nothing).
    pub async fn ready(&self) {
        self.notify.notified().await;
    }

    /// Records how many channels the connection is subscribed to.
    pub fn set_channels(&self, n: usize) {
        self.channels.store(n, Ordering::Relaxed);
    }

    /// Returns true while the connection is subscribed to a channel.
    pub fn subscribed(&self) -> bool {
        self.channels.load(Ordering::Relaxed) > 0
    }
}
