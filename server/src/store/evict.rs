//! Recency and frequency stamps, eviction over `max_memory`, and the timer's maintenance.
//!
//! ```text
//! put over the bound ─▶ evict_for ─▶ evict_among: best candidate of the writer's segment
//!                      and of the next segment (the next 5 when the writer's is nearly
//!                      empty) that try_lock gets ─▶ evict_at
//! run_pending_tasks ─▶ expire_active (Redis's active expiry) ─▶ enforce_bound ─▶ age_stamps
//!                   └▶ behind? ─▶ the timer adds expire_more slices (Redis's fast cycles)
//! ```
//!
//! * LRU's clock is a counter of writes (`tick`), not of time: eviction only happens under
//!   writes, so "written or read fewer writes ago" is the order that matters, it needs no
//!   clock read on a GET, and it orders keys written within one millisecond (or under a
//!   frozen test clock). It is 32 bits wide; `age_stamps` caps every age at 2^31 writes, one
//!   segment per maintenance run (a full round every ~200 s at the default interval), so no
//!   age wraps unless 2^31 writes happen within one round.
//! * As in Redis, eviction samples [`EVICTION_SAMPLES`] entries, adds them to the segment's
//!   pool of the 16 best candidates seen so far (Redis's `EVPOOL_SIZE`; re-scored each time,
//!   so a key read since drops back) and evicts the one idle longest (LRU) or with the
//!   lowest decayed counter (LFU); an expired entry met on the way is taken first and counted
//!   as expired. Pools are per segment, so LRU order is approximated within each segment;
//!   keys are spread evenly over segments, so that is close to the order over the store.
//! * The writer evicts under its own segment lock, weighing its own segment's best candidate
//!   against those of other segments it can `try_lock` (never blocking while holding a lock:
//!   no deadlock). A write that found
//!   nothing to evict leaves the store over its bound until the next write or maintenance run.

use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use super::segment::{Entry, Segment};
use super::{hooks, lfu, Compact, Eviction, Now, SEGMENTS};

/// What a write needs from eviction.
pub(super) struct Room<'k> {
    /// The key just written (its hash and bytes), which must stay.
    pub(super) keep: Option<(u64, &'k [u8])>,
    /// Bytes about to be added: evict until they fit.
    pub(super) need: u64,
    /// Size of the key+value block the write is about to allocate.
    pub(super) reuse_len: Option<usize>,
}

/// Entries sampled per eviction (Redis: `maxmemory-samples`, default 5).
pub const EVICTION_SAMPLES: usize = 5;

/// Entries with a deadline sampled per round of active expiry (Redis:
/// `ACTIVE_EXPIRE_CYCLE_KEYS_PER_LOOP`); a segment is sampled again while over
/// [`ACCEPTABLE_STALE_PERCENT`] of a round was expired.
const EXPIRE_SAMPLES: usize = 20;

/// Share of sampled keys found expired above which a segment is sampled again, and above
/// which a cycle that ran out of time reports that expiry is behind (Redis 6+:
/// `ACTIVE_EXPIRE_CYCLE_ACCEPTABLE_STALE`, 10% at the default `active-expire-effort`).
const ACCEPTABLE_STALE_PERCENT: usize = 10;

/// Time one `run_pending_tasks` may spend on active expiry: 5 ms per run (2.5% of the
/// default 200 ms interval), resuming where it stopped. Redis's slow cycle may take 25 ms
/// in every 100 ms on its one thread; here the maintenance task shares a tokio worker with
/// clients, so when a cycle reports that expiry is behind the task adds short
/// [`expire_more`](Store::expire_more) slices instead, yielding between them (Redis's fast
/// cycles), up to a quarter of its interval.
const EXPIRE_BUDGET: Duration = Duration::from_millis(5);

/// LRU ages are capped here by `age_stamps`, half the range of the 32-bit clock.
const MAX_AGE: u32 = 1 << 31;

impl Compact {
    /// Returns the stamp of an entry created now.
    pub(super) fn fresh_stamp(&self, now: &mut Now) -> u32 {
        match self.inner.eviction() {
            Eviction::Lru => self
                .inner
                .tick
                .fetch_add(1, Ordering::Relaxed)
                .wrapping_add(1),
            Eviction::Lfu => lfu::fresh(lfu::minutes(now.ms())),
        }
    }

    /// Returns the stamp of the entry at `i` after a write over it: a new recency (LRU), or
    /// its counter after one more access (LFU keeps frequency across overwrites, as Redis's
    /// `dbSetValue`).
    pub(super) fn rewrite_stamp(&self, seg: &mut Segment, i: usize, now: &mut Now) -> u32 {
        match self.inner.eviction() {
            Eviction::Lru => self.fresh_stamp(now),
            Eviction::Lfu => {
                let r = unit_random(seg);
                lfu::touch(seg.entry(i).stamp, lfu::minutes(now.ms()), r)
            }
        }
    }

    /// Records an access to the entry at `i`.
    pub(super) fn touch(&self, seg: &mut Segment, i: usize, now: &mut Now) {
        seg.entry_mut(i).stamp = match self.inner.eviction() {
            Eviction::Lru => self.inner.tick.load(Ordering::Relaxed),
            Eviction::Lfu => {
                let r = unit_random(seg);
                lfu::touch(seg.entry(i).stamp, lfu::minutes(now.ms()), r)
            }
        };
    }

    /// Returns how much `e` deserves eviction: higher goes first; expired goes before all.
    fn score(&self, e: &Entry, now_ms: u64, tick: u32) -> u64 {
        if !e.is_live(now_ms) {
            return u64::MAX;
        }
        match self.inner.eviction() {
            Eviction::Lru => u64::from(tick.wrapping_sub(e.stamp)),
            Eviction::Lfu => u64::from(u8::MAX - lfu::decayed(e.stamp, lfu::minutes(now_ms))),
        }
    }

    /// Evicts while the store plus `room.need` is over `max_memory`, never `room.keep`, from
    /// `own` (segment `s`, locked by the caller) or, when it holds too few entries, elsewhere.
    ///
    /// Returns the allocation of a victim of exactly `room.reuse_len` bytes, for the write to
    /// fill instead of allocating: with glibc, a block freed by one worker thread returns to
    /// the arena of the thread that allocated it, and a block over 1 KiB skips the per-thread
    /// cache that would hand it to another thread; so when connections move between the two
    /// workers, evicted blocks pile up in one arena while the other grows (measured: RSS 2.1x
    /// the bound for 1 KiB values). Reusing the victim's block keeps a store that evicts as
    /// large as its bound, for values of one size.
    pub(super) fn evict_for(
        &self,
        own: &mut Segment,
        s: usize,
        room: Room,
        now: &mut Now,
    ) -> Option<Box<[u8]>> {
        let now_ms = now.ms();
        let mut spare = None;
        while self.inner.used.load(Ordering::Relaxed) + room.need > self.inner.max_memory() {
            // Earlier evictions may have moved it.
            let keep = room.keep.and_then(|(h, key)| own.find(h, key));
            // A large segment is weighed against one other (so segments that hold older keys
            // give way and per-segment LRU stays close to LRU over the store); a nearly empty
            // one against several.
            let others = if own.len() > EVICTION_SAMPLES + 1 {
                1
            } else {
                EVICTION_SAMPLES
            };
            let Some(victim) = self.evict_among(own, s, keep, others, now_ms) else {
                break;
            };
            if spare.is_none() && room.reuse_len.is_some() && victim.data_len() == room.reuse_len {
                spare = victim.into_data();
            }
        }
        spare
    }

    /// Evicts the best candidate of the writer's own segment and of the next `others`
    /// non-empty segments it can lock without waiting; returns the victim, or `None` if there
    /// was nothing to evict.
    fn evict_among(
        &self,
        own: &mut Segment,
        s: usize,
        keep: Option<usize>,
        others: usize,
        now_ms: u64,
    ) -> Option<Entry> {
        let tick = self.inner.tick.load(Ordering::Relaxed);
        let score = |e: &Entry| self.score(e, now_ms, tick);
        let mut best_own = own.sample_max(EVICTION_SAMPLES, keep, score);
        let mut best_score = best_own.map(|(_, sc)| sc);
        let mut best_other = None;
        let start = self.inner.evict_cursor.load(Ordering::Relaxed);
        let mut seen = 0;
        let mut step = 0;
        while step < SEGMENTS && seen < others {
            let t = (start + step) % SEGMENTS;
            step += 1;
            if t == s {
                continue;
            }
            let Some(mut seg) = self.try_lock(t) else {
                continue;
            };
            if seg.len() == 0 {
                continue;
            }
            seen += 1;
            let Some((i, sc)) = seg.sample_max(EVICTION_SAMPLES, None, score) else {
                continue;
            };
            if best_score.map(|b| sc > b).unwrap_or(true) {
                best_score = Some(sc);
                best_own = None;
                best_other = Some((seg, i));
            }
        }
        self.inner
            .evict_cursor
            .store((start + step) % SEGMENTS, Ordering::Relaxed);
        match (best_own, best_other) {
            (Some((i, _)), _) => Some(self.evict_at(own, i, now_ms)),
            (None, Some((mut seg, i))) => Some(self.evict_at(&mut seg, i, now_ms)),
            (None, None) => None,
        }
    }

    /// Removes and returns the entry at `i`, counted as evicted (or as expired, if it was).
    fn evict_at(&self, seg: &mut Segment, i: usize, now_ms: u64) -> Entry {
        let e = seg.remove(i);
        hooks::evicted(e.key());
        self.removed(e.key());
        if e.is_live(now_ms) {
            seg.evicted += 1;
        } else {
            seg.expired += 1;
        }
        self.discharge(seg, e.weight());
        e
    }

    /// Runs the store's periodic work; the server calls it on a timer
    /// (`--maintenance-interval-ms`):
    /// * active expiry as Redis's `activeExpireCycle`: each segment in turn samples
    ///   [`EXPIRE_SAMPLES`] keys with a deadline and removes the expired ones, again while
    ///   over 10% were, within a 5 ms budget per run;
    /// * evicts while the store is over its bound (a write that could not evict enough);
    /// * caps LRU ages in one segment, so the 32-bit write clock never wraps an age.
    ///
    /// Returns true when active expiry is behind: it ran out of time while over 10% of the
    /// keys it sampled were expired, so more are waiting; the caller should then call
    /// [`expire_more`](Self::expire_more) soon.
    pub fn run_pending_tasks(&self) -> bool {
        let behind = self.expire_active(EXPIRE_BUDGET);
        let now_ms = self.now_ms();
        self.enforce_bound(now_ms);
        if self.inner.eviction() == Eviction::Lru {
            self.age_stamps();
        }
        behind
    }

    /// Runs active expiry alone for up to `budget`, from where the last run stopped (Redis's
    /// fast expire cycle); returns true while it is still behind (as
    /// [`run_pending_tasks`](Self::run_pending_tasks)).
    pub fn expire_more(&self, budget: Duration) -> bool {
        self.expire_active(budget)
    }

    /// Samples segments in turn for up to `budget` or one round of every segment; returns
    /// true if it stopped on the budget with over [`ACCEPTABLE_STALE_PERCENT`] of its
    /// samples expired.
    fn expire_active(&self, budget: Duration) -> bool {
        let started = Instant::now();
        let now_ms = self.now_ms();
        let (mut sampled_total, mut expired_total) = (0, 0);
        for _ in 0..SEGMENTS {
            let s = self.inner.expire_cursor.fetch_add(1, Ordering::Relaxed) % SEGMENTS;
            let mut seg = self.lock(s);
            loop {
                let removed = |key: &[u8]| self.removed(key);
                let (sampled, expired, freed) = seg.expire_some(now_ms, EXPIRE_SAMPLES, &removed);
                self.discharge(&mut seg, freed);
                sampled_total += sampled;
                expired_total += expired;
                if sampled == 0
                    || expired * 100 <= sampled * ACCEPTABLE_STALE_PERCENT
                    || started.elapsed() >= budget
                {
                    break;
                }
            }
            drop(seg);
            if started.elapsed() >= budget {
                return expired_total * 100 > sampled_total * ACCEPTABLE_STALE_PERCENT;
            }
        }
        false
    }

    fn enforce_bound(&self, now_ms: u64) {
        let mut empty_in_a_row = 0;
        while self.inner.used.load(Ordering::Relaxed) > self.inner.max_memory()
            && empty_in_a_row < SEGMENTS
        {
            let s = self.inner.evict_cursor.fetch_add(1, Ordering::Relaxed) % SEGMENTS;
            let mut seg = self.lock(s);
            let tick = self.inner.tick.load(Ordering::Relaxed);
            match seg.sample_max(EVICTION_SAMPLES, None, |e| self.score(e, now_ms, tick)) {
                Some((i, _)) => {
                    drop(self.evict_at(&mut seg, i, now_ms));
                    empty_in_a_row = 0;
                }
                None => empty_in_a_row += 1,
            }
        }
    }

    fn age_stamps(&self) {
        let s = self.inner.age_cursor.fetch_add(1, Ordering::Relaxed) % SEGMENTS;
        let mut seg = self.lock(s);
        let tick = self.inner.tick.load(Ordering::Relaxed);
        for i in 0..seg.len() {
            let e = seg.entry_mut(i);
            if tick.wrapping_sub(e.stamp) > MAX_AGE {
                e.stamp = tick.wrapping_sub(MAX_AGE);
            }
        }
    }
}

/// Returns a uniform random number in [0, 1) from the segment's generator.
fn unit_random(seg: &mut Segment) -> f64 {
    (seg.next_random() >> 11) as f64 / (1u64 << 53) as f64
}
