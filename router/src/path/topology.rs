//! The cluster as the router sees it: shard groups in bucket order, each with its members.
//!
//! `--shards "a:7001|a:7101,b:7002|b:7102"`: commas separate groups (the routing: jump hash
//! over the number of groups), `|` separates a group's members (the first is its primary).
//! Members never change the routing, so adding a replica to a group moves no key.

use crate::path::ring;
pub use crate::shards::ShardId;

/// Shard groups in bucket order; index `i` serves bucket `i`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Topology {
    groups: Vec<Vec<String>>,
}

impl Topology {
    /// Returns the topology of `groups` (each a list of member addresses), in bucket order.
    pub fn new(groups: Vec<Vec<String>>) -> Topology {
        Topology { groups }
    }

    /// Returns the topology of `--shards` items: one group each, members split on `|`.
    pub fn parse(items: &[String]) -> Topology {
        Topology::new(
            items
                .iter()
                .map(|g| g.split('|').map(str::to_string).collect())
                .collect(),
        )
    }

    /// Returns how many shard groups there are: the number of jump-hash buckets.
    pub fn len(&self) -> usize {
        self.groups.len()
    }

    /// Returns true when there is no shard (never, once `Config::validate` passed).
    pub fn is_empty(&self) -> bool {
        self.groups.is_empty()
    }

    /// Returns the group that owns `key`.
    pub fn shard_for(&self, key: &[u8]) -> ShardId {
        ring::bucket(key, self.groups.len())
    }

    /// Returns group `id`'s primary (first member) address.
    pub fn addr(&self, id: ShardId) -> &str {
        self.groups
            .get(id)
            .and_then(|g| g.first())
            .map_or("?", String::as_str)
    }

    /// Returns group `id`'s member addresses, primary first.
    pub fn members(&self, id: ShardId) -> &[String] {
        self.groups.get(id).map_or(&[], Vec::as_slice)
    }

    /// Returns every group, in bucket order.
    pub fn groups(&self) -> &[Vec<String>] {
        &self.groups
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn groups_split_on_commas_and_members_on_bars_without_moving_keys() {
        let t = Topology::parse(&["a:1|a:2".into(), "b:1".into(), "c:1|c:2|c:3".into()]);
        assert_eq!(t.len(), 3);
        assert_eq!(t.members(0), ["a:1", "a:2"]);
        assert_eq!(t.members(2), ["c:1", "c:2", "c:3"]);
        assert_eq!(t.addr(1), "b:1");
        let flat = Topology::parse(&["a:1".into(), "b:1".into(), "c:1".into()]);
        for i in 0..1000 {
            let key = format!("key:{i}");
            assert_eq!(t.shard_for(key.as_bytes()), flat.shard_for(key.as_bytes()));
            assert_eq!(t.shard_for(key.as_bytes()), ring::bucket(key.as_bytes(), 3));
        }
    }
}
