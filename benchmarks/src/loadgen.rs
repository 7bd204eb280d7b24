//! The load generator: GET/SET traffic over many connections, open-loop at a target rate or
//! closed-loop, with an HDR histogram of latencies and, optionally, a timeline in bins.
//!
//! **Open loop** (a target rate): each connection has its own schedule of intended send times
//! (`connections / rate` apart) and a request's latency is measured from its *intended* time,
//! not from when it was actually sent (less `timer_slack`, 1 ms by default: tokio's timers wake
//! a task up to a millisecond late, which is the generator's doing, not the server's). A stalled server therefore shows up as the latency of
//! every request that should have gone out meanwhile (as wrk2 does), not as one slow request
//! and a pause: the closed loop's coordinated omission. **Closed loop** (no rate): each
//! connection sends its next request as soon as the previous one is answered; it measures the
//! most the server does with that many clients, and its latencies are service times.
//!
//! **Stale-read check** (`check_stale`): every SET writes a value that starts with a
//! 20-digit version, increasing across the run, and each key is written by one connection
//! only (a SET drawn for another connection's key goes to the nearest key it owns), so the
//! versions of a key are applied in order. A GET answered with a version older than the newest
//! one acknowledged before the GET was sent is **stale**; a nil answer for a key that has an
//! acknowledged write is **lost**.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed};
use std::sync::Arc;
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;
use indicatif::{ProgressBar, ProgressStyle};
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};

use crate::keys::{key_name, KeyDist, KeySampler};
use crate::resp::{Conn, Reply};

/// What to run.
#[derive(Debug, Clone)]
pub struct Config {
    /// host:port of the server (a router, a shard, twemproxy, redis-server).
    pub addr: String,
    /// Connections, each with one request in flight at a time.
    pub connections: usize,
    /// How long the timed phase lasts.
    pub duration: Duration,
    /// Stop after this many requests in all (the earlier of this and `duration`).
    pub requests: Option<u64>,
    /// Open loop: requests per second in all. `None`: closed loop.
    pub rate: Option<f64>,
    /// Keys `0..keys`.
    pub keys: u64,
    /// Key names are `{key_prefix}{i}`.
    pub key_prefix: String,
    /// Which keys requests touch.
    pub dist: KeyDist,
    /// Share of GETs; the rest are SETs.
    pub get_ratio: f64,
    /// Bytes per SET value (at least 20 with `check_stale`).
    pub value_size: usize,
    /// SET every key once before the timed phase (pipelined, not measured).
    pub preload: bool,
    /// Every key was set (to version 1, by [`preload`]) before this run: for the stale-read
    /// check, a nil answer is then a lost write from the start.
    pub preloaded: bool,
    /// A request not answered within this fails (and its connection is made anew).
    pub timeout: Duration,
    /// Keep a timeline in bins of this width.
    pub timeline: Option<Duration>,
    /// Check for stale and lost reads (see the module's text).
    pub check_stale: bool,
    /// Seed of the key and command choices.
    pub seed: u64,
    /// Open loop: the first this much of a request's send lateness is put down to the
    /// generator's timer (tokio's timers tick in whole milliseconds) and not counted in its
    /// latency; lateness beyond it (a connection still waiting for its previous reply, a
    /// stalled server) counts in full.
    pub timer_slack: Duration,
    /// Draw a progress bar on stderr (hidden when stderr is not a terminal).
    pub progress: bool,
}

impl Default for Config {
    fn default() -> Config {
        Config {
            addr: "127.0.0.1:6379".into(),
            connections: 16,
            duration: Duration::from_secs(10),
            requests: None,
            rate: None,
            keys: 100_000,
            key_prefix: "key:".into(),
            dist: KeyDist::Uniform,
            get_ratio: 0.9,
            value_size: 64,
            preload: false,
            preloaded: false,
            timeout: Duration::from_secs(2),
            timeline: None,
            check_stale: false,
            seed: 1,
            timer_slack: Duration::from_millis(1),
            progress: true,
        }
    }
}

/// Counts of one run or one bin.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Counts {
    /// Answered without error (hits, misses and SETs).
    pub ok: u64,
    /// Error replies, timeouts and broken connections.
    pub errors: u64,
    /// GETs answered nil.
    pub misses: u64,
    /// GETs answered nil although the key had an acknowledged write (`check_stale`).
    pub lost: u64,
    /// GETs answered with an older version than one acknowledged before (`check_stale`).
    pub stale: u64,
    /// GETs sent.
    pub gets: u64,
    /// SETs sent.
    pub sets: u64,
}

impl Counts {
    fn add(&mut self, other: &Counts) {
        self.ok += other.ok;
        self.errors += other.errors;
        self.misses += other.misses;
        self.lost += other.lost;
        self.stale += other.stale;
        self.gets += other.gets;
        self.sets += other.sets;
    }
}

/// One bin of the timeline.
#[derive(Debug, Clone, Default)]
pub struct Bin {
    pub counts: Counts,
    /// Latencies (µs) of the requests answered without error, completed in this bin.
    pub latencies_us: Vec<u32>,
}

impl Bin {
    /// Returns the `q` quantile (0..=1) of the bin's latencies in µs, 0 when it has none.
    pub fn quantile_us(&self, q: f64) -> u32 {
        if self.latencies_us.is_empty() {
            return 0;
        }
        let mut v = self.latencies_us.clone();
        v.sort_unstable();
        let i = ((v.len() as f64 * q).ceil() as usize).clamp(1, v.len()) - 1;
        v[i]
    }
}

/// What a run measured.
#[derive(Debug, Clone)]
pub struct Report {
    /// When the timed phase started (the timeline's zero).
    pub start: Instant,
    /// How long the timed phase took.
    pub elapsed: Duration,
    pub counts: Counts,
    /// Latencies in µs of the requests answered without error.
    pub histogram: Histogram<u64>,
    /// Open loop: how late (µs) each request was sent after its intended time. This is the
    /// generator's own share of the latencies (timer granularity, 1 ms in tokio, and CPU it
    /// did not get); a server that keeps up leaves it near the timer's granularity.
    pub lateness: Histogram<u64>,
    /// Bins of `Config::timeline` width from `start`.
    pub timeline: Vec<Bin>,
    /// The first few error texts.
    pub error_samples: Vec<String>,
}

impl Report {
    /// Requests answered without error per second.
    pub fn throughput(&self) -> f64 {
        self.counts.ok as f64 / self.elapsed.as_secs_f64().max(1e-9)
    }

    /// The `q` quantile (0..=1) of latency in µs.
    pub fn quantile_us(&self, q: f64) -> u64 {
        self.histogram.value_at_quantile(q)
    }

    /// A few lines for a person.
    pub fn summary(&self) -> String {
        let c = &self.counts;
        let mut s = format!(
            "{} requests in {:.2} s: {:.0} ok/s; {} errors; {} GET ({} misses), {} SET\n",
            c.ok + c.errors,
            self.elapsed.as_secs_f64(),
            self.throughput(),
            c.errors,
            c.gets,
            c.misses,
            c.sets
        );
        s += &format!(
            "latency µs: p50 {}  p90 {}  p99 {}  p99.9 {}  max {}  (mean {:.0})\n",
            self.quantile_us(0.5),
            self.quantile_us(0.9),
            self.quantile_us(0.99),
            self.quantile_us(0.999),
            self.histogram.max(),
            self.histogram.mean()
        );
        if !self.lateness.is_empty() {
            s += &format!(
                "send lateness µs (the generator's; what exceeds the timer slack is counted above): p50 {}  p99 {}  max {}\n",
                self.lateness.value_at_quantile(0.5),
                self.lateness.value_at_quantile(0.99),
                self.lateness.max()
            );
        }
        if c.stale + c.lost > 0 || !self.error_samples.is_empty() {
            s += &format!("stale reads {}, lost writes read {}\n", c.stale, c.lost);
        }
        for e in &self.error_samples {
            s += &format!("error: {e}\n");
        }
        s
    }
}

fn new_histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, 60_000_000, 3).expect("histogram bounds")
}

/// Versions and acknowledgements of the stale-read check.
struct Versions {
    next: AtomicU64,
    acked: Vec<AtomicU64>,
}

/// The value written for `version`: 20 digits, then `x` up to `size` bytes.
pub fn versioned_value(version: u64, size: usize) -> Vec<u8> {
    let mut v = format!("{version:020}").into_bytes();
    if v.len() < size {
        v.resize(size, b'x');
    }
    v
}

/// The version a value starts with, if it starts with 20 digits.
pub fn value_version(value: &[u8]) -> Option<u64> {
    let head = value.get(..20)?;
    std::str::from_utf8(head).ok()?.parse().ok()
}

/// Sets every key `0..keys` once (values of version 1), over `connections` connections with
/// up to 256 requests pipelined on each.
pub async fn preload(
    addr: &str,
    prefix: &str,
    keys: u64,
    value_size: usize,
    connections: usize,
) -> std::io::Result<()> {
    let connections = connections.max(1) as u64;
    let mut tasks = tokio::task::JoinSet::new();
    for c in 0..connections {
        let addr = addr.to_string();
        let prefix = prefix.to_string();
        tasks.spawn(async move {
            let mut conn = Conn::connect(&addr, Duration::from_secs(5)).await?;
            let value = versioned_value(1, value_size);
            let mine: Vec<u64> = (c..keys).step_by(connections as usize).collect();
            for chunk in mine.chunks(256) {
                for &k in chunk {
                    let key = key_name(&prefix, k);
                    conn.queue(&[b"SET", key.as_bytes(), &value]);
                }
                conn.flush().await?;
                for _ in chunk {
                    if let Reply::Error(e) = conn.read().await? {
                        return Err(std::io::Error::other(format!("preload SET: {e}")));
                    }
                }
            }
            Ok::<(), std::io::Error>(())
        });
    }
    while let Some(done) = tasks.join_next().await {
        done.map_err(std::io::Error::other)??;
    }
    Ok(())
}

/// Runs `config` and returns what it measured.
pub async fn run(config: Config) -> std::io::Result<Report> {
    let config = Arc::new(config);
    let sampler =
        Arc::new(KeySampler::new(config.dist, config.keys).map_err(std::io::Error::other)?);
    if config.preload {
        preload(
            &config.addr,
            &config.key_prefix,
            config.keys,
            config.value_size,
            4,
        )
        .await?;
    }
    let versions = config.check_stale.then(|| {
        Arc::new(Versions {
            next: AtomicU64::new(2),
            acked: (0..config.keys)
                .map(|_| AtomicU64::new(u64::from(config.preload || config.preloaded)))
                .collect(),
        })
    });
    let done = Arc::new(AtomicU64::new(0));
    let issued = Arc::new(AtomicU64::new(0));
    let stop = Arc::new(AtomicBool::new(false));
    let bar = progress_bar(&config);
    let start = Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    for c in 0..config.connections.max(1) {
        let worker = Worker {
            config: config.clone(),
            sampler: sampler.clone(),
            versions: versions.clone(),
            done: done.clone(),
            issued: issued.clone(),
            index: c,
            start,
        };
        tasks.spawn(worker.run());
    }
    let ticker = {
        let (bar, done, stop, config) = (bar.clone(), done.clone(), stop.clone(), config.clone());
        tokio::spawn(async move {
            while !stop.load(Relaxed) {
                tokio::time::sleep(Duration::from_millis(100)).await;
                let n = done.load(Relaxed);
                let elapsed = start.elapsed();
                match config.requests {
                    Some(_) => bar.set_position(n),
                    None => bar.set_position(elapsed.as_millis() as u64),
                }
                bar.set_message(format!(
                    "{n} requests, {:.0}/s",
                    n as f64 / elapsed.as_secs_f64().max(1e-3)
                ));
            }
        })
    };
    let mut counts = Counts::default();
    let mut histogram = new_histogram();
    let mut lateness = new_histogram();
    let mut timeline: Vec<Bin> = Vec::new();
    let mut error_samples = Vec::new();
    while let Some(part) = tasks.join_next().await {
        let part = part.map_err(std::io::Error::other)?;
        counts.add(&part.counts);
        histogram.add(&part.histogram).expect("same bounds");
        lateness.add(&part.lateness).expect("same bounds");
        if timeline.len() < part.timeline.len() {
            timeline.resize(part.timeline.len(), Bin::default());
        }
        for (into, bin) in timeline.iter_mut().zip(part.timeline) {
            into.counts.add(&bin.counts);
            into.latencies_us.extend(bin.latencies_us);
        }
        for e in part.error_samples {
            if error_samples.len() < 5 && !error_samples.contains(&e) {
                error_samples.push(e);
            }
        }
    }
    let elapsed = start.elapsed();
    stop.store(true, Relaxed);
    let _ = ticker.await;
    bar.finish_and_clear();
    Ok(Report {
        start,
        elapsed,
        counts,
        histogram,
        lateness,
        timeline,
        error_samples,
    })
}

fn progress_bar(config: &Config) -> ProgressBar {
    if !config.progress {
        return ProgressBar::hidden();
    }
    let (len, template) = match config.requests {
        Some(n) => (n, "{spinner} [{bar:40}] {pos}/{len} requests  {msg}"),
        None => (
            config.duration.as_millis() as u64,
            "{spinner} [{bar:40}] {elapsed}/{duration}  {msg}",
        ),
    };
    let bar = ProgressBar::new(len);
    if let Ok(style) = ProgressStyle::with_template(template) {
        bar.set_style(style.progress_chars("=> "));
    }
    bar
}

struct Worker {
    config: Arc<Config>,
    sampler: Arc<KeySampler>,
    versions: Option<Arc<Versions>>,
    done: Arc<AtomicU64>,
    issued: Arc<AtomicU64>,
    index: usize,
    start: Instant,
}

struct Part {
    counts: Counts,
    histogram: Histogram<u64>,
    lateness: Histogram<u64>,
    timeline: Vec<Bin>,
    error_samples: Vec<String>,
}

enum Op {
    Get { key: u64, floor: u64 },
    Set { key: u64, version: u64 },
}

impl Worker {
    async fn run(self) -> Part {
        let config = &*self.config;
        let mut rng = SmallRng::seed_from_u64(
            config
                .seed
                .wrapping_mul(1000)
                .wrapping_add(self.index as u64),
        );
        let mut part = Part {
            counts: Counts::default(),
            histogram: new_histogram(),
            lateness: new_histogram(),
            timeline: Vec::new(),
            error_samples: Vec::new(),
        };
        let end = self.start + config.duration;
        let connections = config.connections.max(1);
        let interval = config
            .rate
            .map(|r| Duration::from_secs_f64(connections as f64 / r.max(1e-9)));
        // Connections start a fraction of an interval apart, so the sends are spread.
        let mut intended = self.start
            + interval
                .map(|i| i.mul_f64(self.index as f64 / connections as f64))
                .unwrap_or_default();
        let mut conn: Option<Conn> = None;
        let mut value = versioned_value(0, config.value_size);
        loop {
            if interval.is_some() {
                if intended >= end {
                    break;
                }
                tokio::time::sleep_until(intended.into()).await;
            } else if Instant::now() >= end {
                break;
            }
            if let Some(limit) = config.requests {
                if self.issued.fetch_add(1, Relaxed) >= limit {
                    break;
                }
            }
            let sent = Instant::now();
            let measured_from = if interval.is_some() {
                let late = sent.saturating_duration_since(intended).as_micros() as u64;
                part.lateness.saturating_record(late.max(1));
                sent.min(intended + config.timer_slack)
            } else {
                sent
            };
            if let Some(i) = interval {
                intended += i;
            }
            let op = self.pick(&mut rng, connections);
            let key = match op {
                Op::Get { key, .. } | Op::Set { key, .. } => key_name(&config.key_prefix, key),
            };
            let outcome = async {
                if conn.is_none() {
                    conn = Some(Conn::connect(&config.addr, config.timeout).await?);
                }
                let c = conn.as_mut().expect("connected");
                match op {
                    Op::Get { .. } => c.call(&[b"GET", key.as_bytes()]).await,
                    Op::Set { version, .. } => {
                        if self.versions.is_some() {
                            value = versioned_value(version, config.value_size);
                        }
                        c.call(&[b"SET", key.as_bytes(), &value]).await
                    }
                }
            };
            let reply = match tokio::time::timeout(config.timeout, outcome).await {
                Ok(r) => r,
                Err(_) => Err(std::io::Error::new(
                    std::io::ErrorKind::TimedOut,
                    "request timed out",
                )),
            };
            let now = Instant::now();
            let mut counts = Counts::default();
            match &op {
                Op::Get { .. } => counts.gets = 1,
                Op::Set { .. } => counts.sets = 1,
            }
            let latency = now.saturating_duration_since(measured_from);
            let ok = match reply {
                Ok(Reply::Error(e)) => {
                    counts.errors = 1;
                    note(&mut part.error_samples, e);
                    false
                }
                Err(e) => {
                    counts.errors = 1;
                    note(&mut part.error_samples, e.to_string());
                    conn = None;
                    if interval.is_none() {
                        // Closed loop: do not spin on a refused connection.
                        tokio::time::sleep(Duration::from_millis(10)).await;
                    }
                    false
                }
                Ok(reply) => {
                    counts.ok = 1;
                    self.check(&op, &reply, &mut counts);
                    true
                }
            };
            let micros = latency.as_micros().min(u128::from(u32::MAX)) as u64;
            if ok {
                part.histogram.saturating_record(micros.max(1));
            }
            if let Some(width) = config.timeline {
                let i = (now.saturating_duration_since(self.start).as_nanos()
                    / width.as_nanos().max(1)) as usize;
                if part.timeline.len() <= i {
                    part.timeline.resize(i + 1, Bin::default());
                }
                part.timeline[i].counts.add(&counts);
                if ok {
                    part.timeline[i].latencies_us.push(micros as u32);
                }
            }
            part.counts.add(&counts);
            self.done.fetch_add(1, Relaxed);
        }
        part
    }

    fn pick(&self, rng: &mut SmallRng, connections: usize) -> Op {
        let mut key = self.sampler.sample(rng);
        let get = rng.gen_bool(self.config.get_ratio.clamp(0.0, 1.0));
        match &self.versions {
            None if get => Op::Get { key, floor: 0 },
            None => Op::Set { key, version: 0 },
            Some(v) if get => Op::Get {
                key,
                floor: v.acked[key as usize].load(Relaxed),
            },
            Some(v) => {
                // Each key is written by one connection only: its versions apply in order.
                let c = connections as u64;
                let owner = key % c;
                let me = self.index as u64;
                if owner != me {
                    key = key - owner + me;
                    if key >= self.sampler.len() {
                        key = key.saturating_sub(c);
                    }
                }
                Op::Set {
                    key,
                    version: v.next.fetch_add(1, Relaxed),
                }
            }
        }
    }

    fn check(&self, op: &Op, reply: &Reply, counts: &mut Counts) {
        match (op, reply) {
            (Op::Get { key, floor }, Reply::Bulk(value)) => match value {
                None => {
                    counts.misses = 1;
                    if *floor > 0 {
                        counts.lost = 1;
                    }
                    let _ = key;
                }
                Some(v) => {
                    if self.versions.is_some() {
                        if let Some(version) = value_version(v) {
                            if version < *floor {
                                counts.stale = 1;
                            }
                        }
                    }
                }
            },
            (Op::Set { key, version }, _) => {
                if let Some(v) = &self.versions {
                    v.acked[*key as usize].fetch_max(*version, Relaxed);
                }
            }
            _ => {}
        }
    }
}

fn note(samples: &mut Vec<String>, e: String) {
    if samples.len() < 5 && !samples.contains(&e) {
        samples.push(e);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_round_trip_through_values() {
        let v = versioned_value(42, 64);
        assert_eq!(v.len(), 64);
        assert_eq!(value_version(&v), Some(42));
        assert_eq!(value_version(b"short"), None);
        assert_eq!(versioned_value(7, 4).len(), 20);
    }

    #[test]
    fn bin_quantiles() {
        let bin = Bin {
            counts: Counts::default(),
            latencies_us: (1..=100).rev().collect(),
        };
        assert_eq!(bin.quantile_us(0.5), 50);
        assert_eq!(bin.quantile_us(0.99), 99);
        assert_eq!(bin.quantile_us(1.0), 100);
        assert_eq!(Bin::default().quantile_us(0.99), 0);
    }
}
