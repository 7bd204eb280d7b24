//! The cluster as the router sees it: shard groups in bucket order.

use crate::ring;

/// A shard group's index in the topology: its jump-hash bucket.
pub type ShardId = usize;

/// Shard groups in bucket order; index `i` serves bucket `i`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Topology {
    addrs: Vec<String>,
}

impl Topology {
    /// Returns the topology of `addrs`, in bucket order.
    pub fn new(addrs: Vec<String>) -> Topology {
        Topology { addrs }
    }

    /// Returns how many shard groups there are.
    pub fn len(&self) -> usize {
        self.addrs.len()
    }

    /// Returns true when there is no shard (never, once `Config::validate` passed).
    pub fn is_empty(&self) -> bool {
        self.addrs.is_empty()
    }

    /// Returns the shard that owns `key`.
    pub fn shard_for(&self, key: &[u8]) -> ShardId {
        ring::bucket(key, self.addrs.len())
    }

    /// Returns shard `id`'s address.
    pub fn addr(&self, id: ShardId) -> &str {
        self.addrs.get(id).map_or("?", String::as_str)
    }

    /// Returns every address, in bucket order.
    pub fn addrs(&self) -> &[String] {
        &self.addrs
    }
}
