//! SUBSCRIBE and UNSUBSCRIBE, as far as client-side caching needs them: a RESP2 client
//! receives CLIENT TRACKING ... REDIRECT's invalidations on `__redis__:invalidate`. Any
//! channel may be subscribed to; nothing but invalidations is ever published (no PUBLISH).

use bytes::Bytes;
use protocol::command::{Command, Kind};
use protocol::frame::Frame;

use crate::session::Session;

/// The channel of invalidation messages for RESP2 clients.
pub const INVALIDATE_CHANNEL: &[u8] = b"__redis__:invalidate";

/// ```text
/// SUBSCRIBE channel [channel ...]
/// ```
pub fn subscribe(cmd: &Command, session: &mut Session) -> Frame {
    let mut replies = Vec::new();
    for channel in &cmd.args()[1..] {
        if !session.channels.contains(channel) {
            session.channels.push(channel.clone());
        }
        replies.push(message(b"subscribe", Frame::Bulk(channel.clone()), session));
    }
    sync(session);
    Frame::Sequence(replies)
}

/// ```text
/// UNSUBSCRIBE [channel [channel ...]]
/// ```
/// Without channels, from every one (or one reply with a nil channel when there is none).
pub fn unsubscribe(cmd: &Command, session: &mut Session) -> Frame {
    let named: Vec<Bytes> = match &cmd.args()[1..] {
        [] => session.channels.clone(),
        some => some.to_vec(),
    };
    if named.is_empty() {
        return Frame::Sequence(vec![message(b"unsubscribe", Frame::Null, session)]);
    }
    let mut replies = Vec::new();
    for channel in named {
        session.channels.retain(|c| *c != channel);
        replies.push(message(b"unsubscribe", Frame::Bulk(channel), session));
    }
    sync(session);
    Frame::Sequence(replies)
}

/// Returns true for the commands a RESP2 client may send while subscribed.
pub fn allowed_while_subscribed(kind: Kind) -> bool {
    matches!(
        kind,
        Kind::Subscribe | Kind::Unsubscribe | Kind::Ping | Kind::Quit | Kind::Reset
    )
}

fn message(kind: &'static [u8], channel: Frame, session: &Session) -> Frame {
    Frame::Push(vec![
        Frame::Bulk(Bytes::from_static(kind)),
        channel,
        Frame::Integer(session.channels.len() as i64),
    ])
}

/// Tells the connection's outbox whether it is subscribed (deliveries to it depend on it).
fn sync(session: &Session) {
    if let Some(client) = session.client() {
        client.outbox().set_channels(session.channels.len());
    }
}
