//! The process's tracking state: the clients that track, and the keys each one read.

use std::cell::RefCell;
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering::Relaxed};
use std::sync::{Arc, Mutex, RwLock};

use bytes::Bytes;
use protocol::frame::{Frame, Protocol};

use crate::registry::{ClientInfo, ClientRegistry};
use crate::sync::lock;

/// One stripe of the key table: key -> ids of the clients that read it.
type Stripe = HashMap<Bytes, Vec<u64>>;

/// Messages queued for connections: each connection with the number of its message.
pub type Delivered = Vec<(Arc<ClientInfo>, u64)>;

thread_local! {
    /// Messages queued while a command runs under [`collect`]: (connection, number).
    static DELIVERED: RefCell<Option<Delivered>> = const { RefCell::new(None) };
}

/// Runs `f` (a command) and returns, with its result, the invalidations it queued for
/// connections, so the caller can hold the command's reply until they are written: a client
/// told "done" by the writer then finds the invalidation already on its socket, as
/// redis-server writes both in the same turn of its event loop.
pub fn collect<R>(f: impl FnOnce() -> R) -> (R, Delivered) {
    DELIVERED.with(|d| *d.borrow_mut() = Some(Vec::new()));
    let out = f();
    let delivered = DELIVERED
        .with(|d| d.borrow_mut().take())
        .unwrap_or_default();
    (out, delivered)
}

/// How long a writer's reply waits for its invalidations to reach the other connections'
/// sockets: a reader that does not read its socket cannot hold writers up for longer.
pub const SETTLE_LIMIT: std::time::Duration = std::time::Duration::from_millis(500);

/// Waits (up to [`SETTLE_LIMIT`]) until the invalidations in `sent` are written to their
/// connections' sockets, so that whoever hears of the write from this connection's reply
/// finds them there, as with redis-server (which writes both in one turn of its loop).
pub async fn settle(sent: &mut Delivered) {
    if sent.is_empty() {
        return;
    }
    let all = async {
        for (client, n) in sent.iter() {
            client.outbox().written(*n).await;
        }
    };
    let _ = tokio::time::timeout(SETTLE_LIMIT, all).await;
    sent.clear();
}

/// Redis's default `tracking-table-max-keys`.
pub const DEFAULT_MAX_KEYS: u64 = 1_000_000;

/// Stripes of the key table: reads of different keys rarely wait for each other.
const STRIPES: usize = 64;

/// Keys pushed out of a full table per read, at most (Redis bounds its effort likewise).
const EVICT_EFFORT: usize = 100;

/// What changed, as an in-process listener is told.
#[derive(Debug, Clone, Copy)]
pub enum Invalidation<'a> {
    /// These keys changed (or left the table).
    Keys(&'a [Bytes]),
    /// Everything: FLUSHALL, FLUSHDB.
    All,
}

/// Where a tracking client's invalidations go.
#[derive(Clone)]
pub enum Sink {
    /// A connection: its outbox, in its protocol (or its REDIRECT target's).
    Client(Arc<ClientInfo>),
    /// A listener in this process (a router's near-cache over an in-process shard), called
    /// synchronously by the change.
    Direct(Arc<dyn Fn(Invalidation<'_>) + Send + Sync>),
}

impl std::fmt::Debug for Sink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Sink::Client(c) => write!(f, "Client({})", c.id()),
            Sink::Direct(_) => f.write_str("Direct"),
        }
    }
}

/// One tracking client, as delivery needs it.
#[derive(Debug, Clone)]
struct Tracker {
    redirect: u64,
    noloop: bool,
    /// Invalidations as RESP3 pushes whatever the connection speaks (a router's
    /// `JUMPCACHE TRACKING`: its replies stay RESP2).
    push3: bool,
    /// BCAST's prefixes; `None` in the default mode (keys read are remembered).
    prefixes: Option<Vec<Bytes>>,
    sink: Sink,
    /// Set when the REDIRECT target is gone (TRACKINGINFO's `broken_redirect`).
    broken: Arc<AtomicBool>,
}

/// Every tracking client of a process and the keys they read.
#[derive(Debug)]
pub struct Hub {
    /// Tracking clients: a write pays one relaxed load while there are none.
    active: AtomicUsize,
    /// Of those, the ones in BCAST mode, which every write is matched against.
    bcast: AtomicUsize,
    trackers: RwLock<HashMap<u64, Tracker>>,
    /// key -> ids of the clients that read it since its last invalidation.
    stripes: Box<[Mutex<Stripe>]>,
    keys: AtomicUsize,
    max_keys: AtomicU64,
    evict_cursor: AtomicUsize,
    /// A router's: messages queued for its clients not yet known written, which a writer's
    /// reply waits for (`None` on a shard, whose writers collect their own).
    unsettled: Option<Mutex<Delivered>>,
    /// Whether this process delivers invalidations (CLIENT TRACKING on is refused until
    /// it does).
    supported: AtomicBool,
}

impl Default for Hub {
    fn default() -> Self {
        Hub {
            active: AtomicUsize::new(0),
            bcast: AtomicUsize::new(0),
            trackers: RwLock::default(),
            stripes: (0..STRIPES).map(|_| Mutex::default()).collect(),
            keys: AtomicUsize::new(0),
            max_keys: AtomicU64::new(DEFAULT_MAX_KEYS),
            evict_cursor: AtomicUsize::new(0),
            supported: AtomicBool::new(false),
            unsettled: None,
        }
    }
}

fn stripe_of(key: &[u8]) -> usize {
    // FNV-1a: cheap, and spread enough for 64 stripes.
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for &b in key {
        h = (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3);
    }
    (h >> 58) as usize % STRIPES
}

impl Hub {
    /// Returns true while some client tracks (one relaxed load).
    #[inline]
    pub fn active(&self) -> bool {
        self.active.load(Relaxed) != 0
    }

    /// Declares that this process sees every change of its keys and delivers the
    /// invalidations (a shard; a router once it forwards its shards').
    pub fn set_supported(&self) {
        self.supported.store(true, Relaxed);
    }

    /// Returns a hub that keeps every message it queued until it is written, for
    /// [`unsettled`](Self::unsettled) (a router: its shard connections' readers deliver
    /// invalidations that a writer's reply must not overtake).
    pub fn keeping_unsettled() -> Hub {
        Hub {
            unsettled: Some(Mutex::default()),
            ..Hub::default()
        }
    }

    /// Returns the messages queued and not yet known written (dropping those written).
    pub fn unsettled(&self) -> Delivered {
        let Some(list) = &self.unsettled else {
            return Vec::new();
        };
        let mut list = lock(list);
        list.retain(|(c, n)| !c.outbox().is_written(*n));
        list.clone()
    }

    /// Notes a message queued for `target` (number `n`) for [`collect`] and the unsettled.
    fn record(&self, target: &Arc<ClientInfo>, n: u64) {
        DELIVERED.with(|d| {
            if let Some(list) = d.borrow_mut().as_mut() {
                list.push((target.clone(), n));
            }
        });
        if let Some(list) = &self.unsettled {
            let mut list = lock(list);
            // Kept short: what was written (nearly everything, soon) goes.
            if list.len() >= 1024 {
                list.retain(|(c, n)| !c.outbox().is_written(*n));
            }
            list.push((target.clone(), n));
        }
    }

    /// Returns true when CLIENT TRACKING may be turned on here.
    pub fn supported(&self) -> bool {
        self.supported.load(Relaxed)
    }

    /// Returns `tracking-table-max-keys`.
    pub fn max_keys(&self) -> u64 {
        self.max_keys.load(Relaxed)
    }

    /// Changes `tracking-table-max-keys` (CONFIG SET); a smaller bound pushes keys out (and
    /// invalidates them) as the next reads come.
    pub fn set_max_keys(&self, max: u64) {
        self.max_keys.store(max, Relaxed);
    }

    /// Returns how many keys the table holds (INFO's `tracking_total_keys`).
    pub fn total_keys(&self) -> usize {
        self.keys.load(Relaxed)
    }

    /// Returns how many clients track (INFO's `tracking_clients`).
    pub fn clients(&self) -> usize {
        self.active.load(Relaxed)
    }

    /// Starts (or changes) tracking for client `id`: `prefixes` is `Some` in BCAST mode.
    pub fn enable(
        &self,
        id: u64,
        sink: Sink,
        redirect: u64,
        noloop: bool,
        prefixes: Option<Vec<Bytes>>,
        broken: Arc<AtomicBool>,
    ) {
        let bcast = prefixes.is_some();
        let tracker = Tracker {
            redirect,
            noloop,
            push3: false,
            prefixes,
            sink,
            broken,
        };
        let mut trackers = self.trackers.write().unwrap_or_else(|e| e.into_inner());
        if bcast {
            self.bcast.fetch_add(1, Relaxed);
        }
        match trackers.insert(id, tracker) {
            None => {
                self.active.fetch_add(1, Relaxed);
            }
            Some(old) if old.prefixes.is_some() => {
                self.bcast.fetch_sub(1, Relaxed);
            }
            Some(_) => {}
        }
    }

    /// Starts tracking for a router's connection `id` (`JUMPCACHE TRACKING`): the default
    /// mode, every invalidation a RESP3 push on the connection itself though its replies
    /// stay RESP2, so the push and the replies share one ordered stream.
    pub fn enable_pushes(&self, id: u64, client: Arc<ClientInfo>) {
        client.outbox().require_acks();
        self.enable(id, Sink::Client(client), 0, false, None, Arc::default());
        let mut trackers = self.trackers.write().unwrap_or_else(|e| e.into_inner());
        if let Some(t) = trackers.get_mut(&id) {
            t.push3 = true;
        }
    }

    /// Stops tracking for client `id`. Its keys stay in the table until they change, as in
    /// Redis (an id is never reused, so nothing reaches another client).
    pub fn disable(&self, id: u64) {
        let mut trackers = self.trackers.write().unwrap_or_else(|e| e.into_inner());
        if let Some(old) = trackers.remove(&id) {
            self.active.fetch_sub(1, Relaxed);
            if old.prefixes.is_some() {
                self.bcast.fetch_sub(1, Relaxed);
            }
        }
    }

    /// Remembers that client `id` is about to read `keys`; called before the read.
    pub fn remember<'a>(
        &self,
        registry: &ClientRegistry,
        id: u64,
        keys: impl IntoIterator<Item = &'a Bytes>,
    ) {
        let mut added = 0;
        for key in keys {
            let mut stripe = lock(&self.stripes[stripe_of(key)]);
            match stripe.get_mut(key) {
                Some(ids) if ids.contains(&id) => {}
                Some(ids) => ids.push(id),
                None => {
                    stripe.insert(key.clone(), vec![id]);
                    // Counted under the stripe's lock, before an invalidation can take it.
                    self.keys.fetch_add(1, Relaxed);
                    added += 1;
                }
            }
        }
        if added > 0 {
            let max = self.max_keys();
            if max > 0 && self.keys.load(Relaxed) as u64 > max {
                self.evict(registry, max);
            }
        }
    }

    /// Pushes keys out of the table while it is over `max`, invalidating each one (Redis's
    /// `trackingLimitUsedSlots`), at most [`EVICT_EFFORT`] per call.
    fn evict(&self, registry: &ClientRegistry, max: u64) {
        let trackers = self.trackers.read().unwrap_or_else(|e| e.into_inner());
        for _ in 0..EVICT_EFFORT {
            if self.keys.load(Relaxed) as u64 <= max {
                return;
            }
            let s = self.evict_cursor.fetch_add(1, Relaxed) % STRIPES;
            let taken = {
                let mut stripe = lock(&self.stripes[s]);
                let key = stripe.keys().next().cloned();
                key.and_then(|k| stripe.remove(&k).map(|ids| (k, ids)))
            };
            if let Some((key, ids)) = taken {
                self.keys.fetch_sub(1, Relaxed);
                for id in ids {
                    if let Some(t) = trackers.get(&id).filter(|t| t.prefixes.is_none()) {
                        deliver(
                            self,
                            registry,
                            t,
                            Invalidation::Keys(std::slice::from_ref(&key)),
                        );
                    }
                }
            }
        }
    }

    /// Sends the invalidation of `keys` (changed by client `writer`, 0 for the store's
    /// expiry and eviction) to the clients that read them and to BCAST clients whose prefix
    /// they match; forgets them in the table.
    pub fn invalidate(&self, registry: &ClientRegistry, writer: u64, keys: &[&Bytes]) {
        if !self.active() {
            return;
        }
        let trackers = self.trackers.read().unwrap_or_else(|e| e.into_inner());
        let bcast = self.bcast.load(Relaxed) != 0;
        for (id, t) in trackers.iter().filter(|_| bcast) {
            let Some(prefixes) = &t.prefixes else {
                continue;
            };
            if t.noloop && *id == writer {
                continue;
            }
            // One message per prefix, with the keys it matched, as Redis's broadcast.
            for prefix in prefixes {
                let matched: Vec<Bytes> = keys
                    .iter()
                    .filter(|k| k.starts_with(prefix))
                    .map(|k| (*k).clone())
                    .collect();
                if !matched.is_empty() {
                    deliver(self, registry, t, Invalidation::Keys(&matched));
                }
            }
        }
        for &key in keys {
            // Delivered under the stripe's lock: a second invalidation of the key waits until
            // the first one's messages are queued (and recorded), so a writer that finds the
            // key already invalidated also finds those messages among the unsettled.
            let mut stripe = lock(&self.stripes[stripe_of(key)]);
            let Some(ids) = stripe.remove(key) else {
                continue;
            };
            self.keys.fetch_sub(1, Relaxed);
            for id in ids {
                let Some(t) = trackers.get(&id).filter(|t| t.prefixes.is_none()) else {
                    continue;
                };
                if t.noloop && id == writer {
                    continue;
                }
                // One message per key, as Redis's `trackingInvalidateKey`.
                deliver(
                    self,
                    registry,
                    t,
                    Invalidation::Keys(std::slice::from_ref(key)),
                );
            }
        }
    }

    /// FLUSHALL, FLUSHDB: a null invalidation to every tracking client (NOLOOP or not), and
    /// an empty table.
    pub fn flushed(&self, registry: &ClientRegistry) {
        if !self.active() {
            return;
        }
        let trackers = self.trackers.read().unwrap_or_else(|e| e.into_inner());
        for stripe in self.stripes.iter() {
            let mut stripe = lock(stripe);
            self.keys.fetch_sub(stripe.len(), Relaxed);
            stripe.clear();
        }
        for t in trackers.values() {
            deliver(self, registry, t, Invalidation::All);
        }
    }
}

/// Sends one invalidation as Redis's `sendTrackingMessage`: to the REDIRECT target if there
/// is one (a RESP3 push, or a `__redis__:invalidate` message to a RESP2 subscriber), else to
/// the client itself if it speaks RESP3; nowhere otherwise.
fn deliver(hub: &Hub, registry: &ClientRegistry, t: &Tracker, what: Invalidation<'_>) {
    let own = match &t.sink {
        Sink::Direct(f) => return f(what),
        Sink::Client(own) => own,
    };
    let target = if t.redirect != 0 {
        match registry.get(t.redirect) {
            Some(target) => Some(target),
            None => {
                t.broken.store(true, Relaxed);
                if own.resp3() {
                    let broken = Frame::Push(vec![
                        Frame::bulk(b"tracking-redir-broken"),
                        Frame::Integer(t.redirect as i64),
                    ]);
                    let n = own.outbox().push(&broken, Protocol::Resp3);
                    hub.record(own, n);
                }
                return;
            }
        }
    } else {
        None
    };
    let redirected = target.is_some();
    let target = target.as_ref().unwrap_or(own);
    let resp3 = target.resp3() || (t.push3 && !redirected);
    let header = if resp3 {
        Frame::Push(vec![Frame::bulk(b"invalidate")])
    } else if redirected && target.outbox().subscribed() {
        Frame::Push(vec![
            Frame::bulk(b"message"),
            Frame::bulk(super::INVALIDATE_CHANNEL),
        ])
    } else {
        return;
    };
    let protocol = if resp3 {
        Protocol::Resp3
    } else {
        Protocol::Resp2
    };
    let payload = match what {
        Invalidation::Keys(keys) => Frame::Array(keys.iter().cloned().map(Frame::Bulk).collect()),
        Invalidation::All => Frame::Null,
    };
    // As Redis: the message's header (and the keys) in the target's protocol, but a flush's
    // null in the tracking client's own (`shared.null[c->resp]`): a RESP2 subscriber
    // redirected to by a RESP3 client is sent `_`.
    let null_protocol = if own.resp3() || t.push3 {
        Protocol::Resp3
    } else {
        Protocol::Resp2
    };
    let payload_protocol = match what {
        Invalidation::Keys(_) => protocol,
        Invalidation::All => null_protocol,
    };
    let n = target
        .outbox()
        .push_message(&header, protocol, &payload, payload_protocol);
    hub.record(target, n);
}
