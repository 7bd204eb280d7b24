//! A connection's queue of out-of-band messages (invalidations, pub/sub), written by other
//! connections' commands and by the store's expiry, taken by the connection's own loop.

use std::future::poll_fn;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::Mutex;
use std::task::{Poll, Waker};

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
    /// The connection loop waiting in [`ready`](Self::ready), woken by a push. A waker slot,
    /// not a `Notify`: the loop polls `ready` on every pass, and registering with a `Notify`
    /// (its waiter list, under its lock, and out again on drop) cost the request path
    /// hundreds of instructions (docs/benchmarks.md).
    waiter: Mutex<Option<Waker>>,
    /// Channels the connection is subscribed to (RESP2 gets invalidations only then).
    channels: AtomicUsize,
    /// Messages queued so far, and of those, the ones the connection has written to its
    /// socket: a writer waits for its invalidations to be written before its own reply.
    queued: AtomicU64,
    written: AtomicU64,
    written_notify: Notify,
    /// A router's connection: a message counts as written once the router acknowledged it
    /// (it relayed it to its own clients), not when the socket took it.
    needs_ack: AtomicBool,
}

impl Outbox {
    /// Queues `frame` in `protocol` and wakes the connection; returns the message's number.
    pub fn push(&self, frame: &Frame, protocol: Protocol) -> u64 {
        let mut bytes = lock(&self.bytes);
        encode(frame, protocol, &mut bytes);
        let n = self.queued.fetch_add(1, Ordering::Relaxed) + 1;
        self.pending.store(true, Ordering::Release);
        drop(bytes);
        self.wake();
        n
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
    ) -> u64 {
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
        let n = self.queued.fetch_add(1, Ordering::Relaxed) + 1;
        self.pending.store(true, Ordering::Release);
        drop(bytes);
        self.wake();
        n
    }

    /// Returns what is queued, if anything, and empties the queue; with the number of the
    /// last message taken, for [`written_up_to`](Self::written_up_to) once it is written.
    pub fn take(&self) -> Option<(BytesMut, u64)> {
        if !self.pending.load(Ordering::Acquire) {
            return None;
        }
        let mut bytes = lock(&self.bytes);
        self.pending.store(false, Ordering::Relaxed);
        Some((
            std::mem::take(&mut *bytes),
            self.queued.load(Ordering::Relaxed),
        ))
    }

    /// Records that messages up to number `n` are written to the connection's socket.
    pub fn written_up_to(&self, n: u64) {
        if !self.needs_ack.load(Ordering::Relaxed) {
            self.acknowledged(n);
        }
    }

    /// From now on, messages count as written only once acknowledged.
    pub fn require_acks(&self) {
        self.needs_ack.store(true, Ordering::Relaxed);
    }

    /// Records that the peer acknowledged messages up to number `n` (`JUMPCACHE ACKED`).
    pub fn acknowledged(&self, n: u64) {
        self.written.fetch_max(n, Ordering::Release);
        self.written_notify.notify_waiters();
    }

    /// Returns true once message `n` is written to the socket.
    pub fn is_written(&self, n: u64) -> bool {
        self.written.load(Ordering::Acquire) >= n
    }

    /// Waits until message `n` is written to the socket.
    pub async fn written(&self, n: u64) {
        loop {
            let notified = self.written_notify.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            if self.written.load(Ordering::Acquire) >= n {
                return;
            }
            notified.await;
        }
    }

    /// Wakes the connection loop waiting in [`ready`](Self::ready), if it waits.
    fn wake(&self) {
        if let Some(w) = lock(&self.waiter).take() {
            w.wake();
        }
    }

    /// Waits until something is queued (at once if it already is: a push between two waits
    /// is never missed; a wake-up may find it taken).
    pub async fn ready(&self) {
        poll_fn(|cx| {
            if self.pending.load(Ordering::Acquire) {
                return Poll::Ready(());
            }
            {
                let mut slot = lock(&self.waiter);
                match &*slot {
                    Some(w) if w.will_wake(cx.waker()) => {}
                    _ => *slot = Some(cx.waker().clone()),
                }
            }
            // A push between the first look and the registration woke no one: look again.
            if self.pending.load(Ordering::Acquire) {
                Poll::Ready(())
            } else {
                Poll::Pending
            }
        })
        .await;
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
