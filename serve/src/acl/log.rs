//! `ACL LOG`: the latest refusals (a command, a key, a failed AUTH), as Redis 7.0 keeps them:
//! newest first, at most 128, and a refusal like one of the 10 newest (same reason, context,
//! object and user, within 60 s) counted on that entry instead of added.

use std::collections::VecDeque;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use bytes::Bytes;
use protocol::frame::Frame;

use super::Denied;

/// Redis's `acllog-max-len` default.
const MAX_LEN: usize = 128;
/// Redis's `ACL_LOG_GROUPING_MAX_TIME_DELTA`.
const GROUPING: Duration = Duration::from_secs(60);

/// Where a refusal happened (Redis's `context`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Context {
    /// A command a client sent.
    Toplevel,
    /// A command sent inside MULTI.
    Multi,
    /// A script's `redis.call`.
    Lua,
}

impl Context {
    fn name(self) -> &'static str {
        match self {
            Context::Toplevel => "toplevel",
            Context::Multi => "multi",
            Context::Lua => "lua",
        }
    }
}

#[derive(Debug)]
struct Entry {
    count: u64,
    reason: &'static str,
    context: Context,
    object: Bytes,
    username: Bytes,
    at: Instant,
    client_info: String,
}

/// The log of one process.
#[derive(Debug, Default)]
pub struct AclLog {
    entries: Mutex<VecDeque<Entry>>,
}

impl AclLog {
    /// Records that `username` was refused `denied`.
    pub fn denied(&self, denied: &Denied, context: Context, username: &Bytes, client_info: String) {
        let (reason, object) = match denied {
            Denied::Command(name) => ("command", Bytes::from(name.clone())),
            Denied::Key(key) => ("key", key.clone()),
        };
        self.record(reason, context, object, username.clone(), client_info);
    }

    /// Records a failed AUTH or HELLO AUTH: `command` as the client wrote it.
    pub fn auth_failed(&self, command: &Bytes, username: &[u8], client_info: String) {
        self.record(
            "auth",
            Context::Toplevel,
            command.clone(),
            Bytes::copy_from_slice(username),
            client_info,
        );
    }

    fn record(
        &self,
        reason: &'static str,
        context: Context,
        object: Bytes,
        username: Bytes,
        client_info: String,
    ) {
        let now = Instant::now();
        let mut entries = crate::sync::lock(&self.entries);
        let same = entries.iter().take(10).position(|e| {
            e.reason == reason
                && e.context == context
                && now.duration_since(e.at) <= GROUPING
                && e.object == object
                && e.username == username
        });
        if let Some(i) = same {
            let mut entry = entries
                .remove(i)
                .unwrap_or_else(|| unreachable!("found above"));
            entry.count += 1;
            entry.at = now;
            entry.client_info = client_info;
            entries.push_front(entry);
            return;
        }
        entries.push_front(Entry {
            count: 1,
            reason,
            context,
            object,
            username,
            at: now,
            client_info,
        });
        entries.truncate(MAX_LEN);
    }

    /// Forgets every entry (`ACL LOG RESET`).
    pub fn reset(&self) {
        crate::sync::lock(&self.entries).clear();
    }

    /// Returns the `count` newest entries as `ACL LOG` sends them.
    pub fn reply(&self, count: usize) -> Frame {
        let now = Instant::now();
        let entries = crate::sync::lock(&self.entries);
        let field = |name: &'static str| Frame::Bulk(Bytes::from_static(name.as_bytes()));
        Frame::Array(
            entries
                .iter()
                .take(count)
                .map(|e| {
                    Frame::Map(vec![
                        (field("count"), Frame::Integer(e.count as i64)),
                        (field("reason"), field(e.reason)),
                        (field("context"), field(e.context.name())),
                        (field("object"), Frame::Bulk(e.object.clone())),
                        (field("username"), Frame::Bulk(e.username.clone())),
                        (
                            field("age-seconds"),
                            Frame::Double(now.duration_since(e.at).as_millis() as f64 / 1000.0),
                        ),
                        (
                            field("client-info"),
                            Frame::Bulk(Bytes::from(e.client_info.clone())),
                        ),
                    ])
                })
                .collect(),
        )
    }
}
