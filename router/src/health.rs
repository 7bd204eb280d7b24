//! The router's upkeep: once a second, ask every shard for its INFO (within the shard
//! timeout), note which answered, and copy the cluster's numbers into the metrics recorder.
//!
//! ```text
//! tick ─▶ ShardClient::send(INFO memory stats keyspace) ─▶ info::keyspace ─▶ ShardHealth
//!      ─▶ stats::ShardSeries::export, resp::stats::export_keyspace (sums), export_process
//! ```
//! A shard that does not answer keeps its last numbers in the sums, so a down shard does
//! not look like a counter reset; it shows as `jumpcache_shard_up 0`.

use std::sync::atomic::{AtomicBool, Ordering::Relaxed};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use resp::stats::{export_keyspace, export_process, Keyspace};
use tokio::sync::watch;

use crate::handler::Router;
use crate::info;
use crate::stats::{ShardSeries, SHARDS, SHARDS_UP};

/// How often the shards are polled and the metrics refreshed.
const INTERVAL: Duration = Duration::from_secs(1);

/// The poll: only the sections the numbers come from.
const REQUEST: &[u8] = b"*4\r\n$4\r\nINFO\r\n$6\r\nmemory\r\n$5\r\nstats\r\n$8\r\nkeyspace\r\n";

/// What the last poll learned about one shard.
#[derive(Debug, Default)]
pub(crate) struct ShardHealth {
    up: AtomicBool,
    last: Mutex<Keyspace>,
}

impl ShardHealth {
    /// Returns true when the shard answered the last poll.
    pub(crate) fn is_up(&self) -> bool {
        self.up.load(Relaxed)
    }

    fn last(&self) -> Keyspace {
        *self.last.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// Polls the shards and exports metrics until shutdown.
pub(crate) async fn run(router: Arc<Router>, mut stop: watch::Receiver<bool>) {
    let series: Vec<ShardSeries> = router
        .shards
        .iter()
        .map(|s| ShardSeries::new(s.id(), s.addr()))
        .collect();
    let mut tick = tokio::time::interval(INTERVAL);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = tick.tick() => poll(&router, &series).await,
            _ = stop.changed() => return,
        }
    }
}

/// Polls every shard at once and waits at most the shard timeout for the slowest.
async fn poll(router: &Router, series: &[ShardSeries]) {
    let mut calls = Vec::with_capacity(router.shards.len());
    for shard in &router.shards {
        calls.push(shard.send_next(Bytes::from_static(REQUEST)).await);
    }
    let mut sum = Keyspace::default();
    let mut up = 0;
    for (i, call) in calls.into_iter().enumerate() {
        let health = &router.health[i];
        let polled = call.wait().await.ok().and_then(|raw| info::keyspace(&raw));
        health.up.store(polled.is_some(), Relaxed);
        if let Some(k) = polled {
            up += 1;
            *health.last.lock().unwrap_or_else(|p| p.into_inner()) = k;
        }
        let k = health.last();
        add(&mut sum, &k);
        let shard = &router.shards[i];
        shard.metrics().latency.tick();
        shard.metrics().export_round_trips();
        let s = &series[i];
        s.up.set(if health.is_up() { 1.0 } else { 0.0 });
        s.keys.set(k.keys as f64);
        s.memory.set(k.used_memory as f64);
        s.hits.absolute(k.hits);
        s.misses.absolute(k.misses);
        s.evicted.absolute(k.evicted);
        s.export(shard.metrics());
    }
    router.stats.sample_ops();
    metrics::gauge!(SHARDS).set(router.shards.len() as f64);
    metrics::gauge!(SHARDS_UP).set(f64::from(up));
    export_keyspace(&sum);
    export_process(&router.stats);
}

fn add(sum: &mut Keyspace, k: &Keyspace) {
    sum.keys += k.keys;
    sum.expires += k.expires;
    sum.used_memory += k.used_memory;
    sum.max_memory += k.max_memory;
    sum.hits += k.hits;
    sum.misses += k.misses;
    sum.expired += k.expired;
    sum.evicted += k.evicted;
}
