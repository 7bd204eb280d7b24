//! A request in flight to a shard group: one member, a read that can move to another
//! member, or a write to several members whose replies are checked against each other.

use std::future::{poll_fn, Future};
use std::pin::Pin;
use std::sync::Arc;
use std::task::Poll;

use bytes::Bytes;
use tokio::sync::oneshot;

use crate::config::{ReadPolicy, WritePolicy};
use crate::replication::group::Group;
use crate::shards::{Call, ShardErrorKind, ShardReply};

/// A group request on its way; [`GroupCall::wait`] gives the reply the client sees.
#[derive(Debug)]
pub(crate) enum GroupCall {
    /// A single member (a group without replicas, or a request that failed at once).
    One(Call),
    /// A read on one `up` member, retried on another when that member fails.
    Read(Box<ReadCall>),
    /// A write on every member not down, answered under `--write-policy all`.
    Write(Box<WriteCall>),
    /// A write under `--write-policy one`: the first success arrives here, the rest is
    /// checked by a background task.
    Early(oneshot::Receiver<ShardReply>),
}

/// A read in flight on `member`.
#[derive(Debug)]
pub(crate) struct ReadCall {
    pub(crate) group: Arc<Group>,
    pub(crate) member: usize,
    /// Members already tried, a bit each.
    pub(crate) tried: u32,
    pub(crate) call: Call,
    pub(crate) request: Bytes,
    pub(crate) lane: u64,
    pub(crate) policy: ReadPolicy,
}

/// A write in flight on several members.
#[derive(Debug)]
pub(crate) struct WriteCall {
    group: Arc<Group>,
    calls: Vec<(usize, Call)>,
    keys: Vec<Bytes>,
    flush: bool,
}

/// Returns the call for a write queued on `calls`, by the group's write policy.
pub(crate) fn write(
    group: Arc<Group>,
    calls: Vec<(usize, Call)>,
    keys: Vec<Bytes>,
    flush: bool,
) -> GroupCall {
    let call = WriteCall {
        group,
        calls,
        keys,
        flush,
    };
    match call.group.write_policy {
        WritePolicy::All => GroupCall::Write(Box::new(call)),
        WritePolicy::One => {
            let (tx, rx) = oneshot::channel();
            tokio::spawn(call.wait_first(tx));
            GroupCall::Early(rx)
        }
    }
}

impl GroupCall {
    /// Waits for the reply the client sees.
    ///
    /// Cancel-safe for reads; a cancelled write still completes on the members it reached,
    /// but their replies are not compared.
    ///
    /// # Errors
    /// The `ShardError` of the last member tried (reads) or of the primary (writes), when
    /// no member answered.
    pub(crate) async fn wait(self) -> ShardReply {
        self.wait_acked().await.0
    }

    /// Waits for the reply the client sees, and counts the members besides the one it came
    /// from that answered a write the same (WAIT's acknowledgements): 0 without replicas,
    /// for reads, and under `--write-policy one` (whose reply does not wait for the others).
    pub(crate) async fn wait_acked(self) -> (ShardReply, usize) {
        match self {
            GroupCall::One(call) => (call.reply().await, 0),
            GroupCall::Read(read) => (read.wait().await, 0),
            GroupCall::Write(write) => write.wait_all().await,
            GroupCall::Early(rx) => (
                rx.await.unwrap_or_else(|_| {
                    Err(crate::shards::ShardError {
                        shard: 0,
                        addr: Arc::from("?"),
                        kind: ShardErrorKind::Unavailable,
                        request_sent: true,
                    })
                }),
                0,
            ),
        }
    }
}

impl ReadCall {
    async fn wait(mut self) -> ShardReply {
        loop {
            let err = match self.call.reply().await {
                Ok(reply) => return Ok(reply),
                Err(e) => e,
            };
            if err.kind == ShardErrorKind::Unavailable {
                self.group.mark_down(self.member);
            }
            // Reads change nothing, so another member may answer instead.
            let Some(m) = self.group.reader(self.tried, self.policy) else {
                return Err(err);
            };
            self.member = m;
            self.tried |= 1 << m;
            let client = &self.group.members[m].client;
            self.call = client.send(self.lane, self.request.clone()).await;
        }
    }
}

impl WriteCall {
    /// `--write-policy all`: every member's reply, then the primary's (or the first success).
    async fn wait_all(self) -> (ShardReply, usize) {
        let mut replies = Vec::with_capacity(self.calls.len());
        for (m, call) in self.calls {
            replies.push((m, call.reply().await));
        }
        let reference = replies.iter().position(|(_, r)| r.is_ok());
        settle(&self.group, &self.keys, self.flush, replies, reference)
    }

    /// `--write-policy one`: sends the first success on `tx`, then checks the others.
    async fn wait_first(self, tx: oneshot::Sender<ShardReply>) {
        type Waiting = Pin<Box<dyn Future<Output = (usize, ShardReply)> + Send>>;
        let mut waiting: Vec<Waiting> = self
            .calls
            .into_iter()
            .map(|(m, call)| Box::pin(async move { (m, call.reply().await) }) as Waiting)
            .collect();
        let mut tx = Some(tx);
        let mut replies = Vec::with_capacity(waiting.len());
        let mut reference = None;
        while !waiting.is_empty() {
            let (m, reply) = poll_fn(|cx| {
                for i in 0..waiting.len() {
                    if let Poll::Ready(out) = waiting[i].as_mut().poll(cx) {
                        drop(waiting.swap_remove(i));
                        return Poll::Ready(out);
                    }
                }
                Poll::Pending
            })
            .await;
            if reply.is_ok() && reference.is_none() {
                reference = Some(replies.len());
                if let Some(tx) = tx.take() {
                    let _ = tx.send(reply.clone());
                }
            }
            replies.push((m, reply));
        }
        let (answer, _) = settle(&self.group, &self.keys, self.flush, replies, reference);
        if let Some(tx) = tx {
            let _ = tx.send(answer);
        }
    }
}

/// Compares the members' replies to a write against the one the client gets (`reference`):
/// a member that failed or answered differently missed the write, and is marked down
/// (connection lost) or stale (its keys repaired from the reference's member).
///
/// With no reference every member failed: the client gets the first error. Returns the
/// reply and how many other members answered the same.
fn settle(
    group: &Group,
    keys: &[Bytes],
    flush: bool,
    mut replies: Vec<(usize, ShardReply)>,
    reference: Option<usize>,
) -> (ShardReply, usize) {
    let Some(r) = reference else {
        for (m, reply) in &replies {
            if matches!(reply, Err(e) if e.kind == ShardErrorKind::Unavailable) {
                group.missed(*m, keys, flush);
                group.mark_down(*m);
            }
        }
        let first = match replies.into_iter().next() {
            Some((_, reply)) => reply,
            None => Err(group.unavailable()),
        };
        return (first, 0);
    };
    let expected = replies[r].1.clone();
    let mut acked = 0;
    for (i, (m, reply)) in replies.iter().enumerate() {
        if i == r {
            continue;
        }
        match (reply, &expected) {
            (Ok(got), Ok(want)) if got == want => acked += 1,
            (Err(e), _) if e.kind == ShardErrorKind::Unavailable => {
                group.missed(*m, keys, flush);
                group.mark_down(*m);
            }
            _ => group.mark_stale(*m, keys, flush),
        }
    }
    (replies.swap_remove(r).1, acked)
}
