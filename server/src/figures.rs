//! The shard's figures: what a router reads of it, taken straight from the store and the
//! counters. The shard's INFO is rendered from these (see `info`), and `Embedded` hands them
//! to a router in the same process without any text.

use std::borrow::Cow;

use serve::figures::ShardFigures;

use crate::state::ShardState;
use crate::store::Eviction;

impl ShardState {
    /// Returns the shard's figures as they are now.
    pub fn figures(&self) -> ShardFigures {
        ShardFigures {
            run_id: self.run_id.clone(),
            keyspace: self.store.stats(),
            maxmemory_policy: Cow::Borrowed(match self.store.eviction() {
                Eviction::Lru => "allkeys-lru",
                Eviction::Lfu => "allkeys-lfu",
            }),
            ops_per_sec: self.stats.ops_per_sec(),
            persistence: self.persistence.figures(),
        }
    }
}

#[cfg(test)]
mod tests {
    use bytes::Bytes;
    use serve::info::{render, Selector};

    use crate::config::{Config, EvictionPolicy};
    use crate::info::sections;
    use crate::state::ShardState;
    use crate::store::Value;

    #[test]
    fn the_shards_info_text_reads_back_as_its_figures() {
        let shard = ShardState::new(
            Config {
                eviction: EvictionPolicy::Lfu,
                ..Config::default()
            },
            7001,
        );
        shard
            .store
            .set(b"k", Value::persistent(Bytes::from_static(b"v")))
            .unwrap();
        let all = Selector::from_args(&[Bytes::from_static(b"all")]);
        let text = render(&sections(&shard), &all);
        let parsed = serve::figures::ShardFigures::from_info(&text);
        assert_eq!(parsed, shard.figures());
        assert_eq!(parsed.maxmemory_policy, "allkeys-lfu");
        assert_eq!(parsed.keyspace.keys, 1);
    }
}
