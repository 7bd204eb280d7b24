//! The cluster as the router sees it: shard groups in bucket order, each with its members.
//!
//! `--shards "a:7001|a:7101,b:7002|b:7102"`: commas separate groups (the routing: jump hash
//! over the number of groups), `|` separates a group's members (the first is its primary).
//! Members never change the routing, so adding a replica to a group moves no key.
//!
//! `--topology FILE` gives the same with an epoch (docs/operations.md):
//! ```toml
//! epoch = 7
//! groups = ["10.0.0.1:7001|10.0.0.2:7001", "10.0.0.3:7001|10.0.0.4:7001"]
//! ```
//! A topology changes only into a successor ([`Topology::check_successor`]): a greater epoch,
//! groups added or removed at the end (jump hash moves keys only to or from the last bucket),
//! members replaced inside a group.

use crate::path::ring;
pub use crate::shards::ShardId;

/// Shard groups in bucket order; index `i` serves bucket `i`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Topology {
    /// 0 for `--shards`; a topology file's own otherwise.
    epoch: u64,
    groups: Vec<Vec<String>>,
}

impl Topology {
    /// Returns the topology of `groups` (each a list of member addresses), in bucket order.
    pub fn new(groups: Vec<Vec<String>>) -> Topology {
        Topology { epoch: 0, groups }
    }

    /// Returns this topology at `epoch`.
    pub fn at_epoch(mut self, epoch: u64) -> Topology {
        self.epoch = epoch;
        self
    }

    /// Returns the epoch (0 for `--shards`).
    pub fn epoch(&self) -> u64 {
        self.epoch
    }

    /// Parses a topology file's text.
    ///
    /// # Errors
    /// What is wrong with it, in one line: not TOML, no epoch, a group that is empty or
    /// an address that is not `host:port` or is listed twice.
    pub fn from_toml(text: &str) -> Result<Topology, String> {
        let table: toml::Table = text
            .parse()
            .map_err(|e: toml::de::Error| e.message().to_string())?;
        if let Some(other) = table.keys().find(|k| *k != "epoch" && *k != "groups") {
            return Err(format!("unknown key {other:?}"));
        }
        let epoch = table
            .get("epoch")
            .and_then(toml::Value::as_integer)
            .and_then(|e| u64::try_from(e).ok())
            .ok_or("no epoch: `epoch = <n>` is required")?;
        let groups = table
            .get("groups")
            .and_then(toml::Value::as_array)
            .ok_or("no groups: `groups = [\"host:port|host:port\", ...]` is required")?
            .iter()
            .map(|g| {
                g.as_str()
                    .map(str::to_string)
                    .ok_or("a group is not a string")
            })
            .collect::<Result<Vec<_>, _>>()?;
        let t = Topology::parse(&groups).at_epoch(epoch);
        t.check()?;
        Ok(t)
    }

    /// Parses the `--shards` form `a:1|a:2,b:1` (how shards keep a topology).
    ///
    /// # Errors
    /// As [`from_toml`](Self::from_toml).
    pub fn from_spec(epoch: u64, spec: &str) -> Result<Topology, String> {
        let items: Vec<String> = spec.split(',').map(str::to_string).collect();
        let t = Topology::parse(&items).at_epoch(epoch);
        t.check()?;
        Ok(t)
    }

    /// Returns the `--shards` form of the groups: `a:1|a:2,b:1`.
    pub fn spec(&self) -> String {
        self.groups
            .iter()
            .map(|g| g.join("|"))
            .collect::<Vec<_>>()
            .join(",")
    }

    /// Checks what every topology must be: at least one group, none empty, every member a
    /// `host:port` listed once.
    fn check(&self) -> Result<(), String> {
        if self.groups.is_empty() {
            return Err("no groups".into());
        }
        let mut seen = std::collections::HashSet::new();
        for (i, g) in self.groups.iter().enumerate() {
            if g.is_empty() || g.iter().any(String::is_empty) {
                return Err(format!("group {i} is empty"));
            }
            for m in g {
                if !m.contains(':') || m.trim() != m || m.contains(',') {
                    return Err(format!("{m:?} is not host:port"));
                }
                if !seen.insert(m.as_str()) {
                    return Err(format!("{m} is listed twice"));
                }
            }
        }
        Ok(())
    }

    /// Checks that `next` may follow this topology: a greater epoch, groups added or removed
    /// at the end only, members replaced only inside their group. A member that shows up in
    /// another group means a group moved from the middle, which would re-route most keys.
    ///
    /// # Errors
    /// Why not, in one line.
    pub fn check_successor(&self, next: &Topology) -> Result<(), String> {
        next.check()?;
        if next.epoch <= self.epoch {
            return Err(format!(
                "epoch {} is not greater than the current {}",
                next.epoch, self.epoch
            ));
        }
        for (i, old) in self.groups.iter().enumerate() {
            for m in old {
                if let Some(j) = next.groups.iter().position(|g| g.contains(m)) {
                    if j != i {
                        return Err(format!(
                            "{m} moved from group {i} to group {j}: groups can only be added or \
                             removed at the end"
                        ));
                    }
                }
            }
        }
        Ok(())
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
    fn a_file_parses_and_only_successors_are_accepted() {
        let t = Topology::from_toml("epoch = 7\ngroups = [\"a:1|a:2\", \"b:1\"]\n").unwrap();
        assert_eq!(
            (t.epoch(), t.len(), t.spec().as_str()),
            (7, 2, "a:1|a:2,b:1")
        );
        let next = |text: &str| Topology::from_toml(text).and_then(|n| t.check_successor(&n));
        assert!(next("epoch = 8\ngroups = [\"a:1|a:2\", \"b:1\", \"c:1\"]").is_ok());
        assert!(next("epoch = 8\ngroups = [\"a:1\"]").is_ok(), "shrink");
        assert!(
            next("epoch = 8\ngroups = [\"a:1|a:3\", \"b:9\"]").is_ok(),
            "replace"
        );
        for (bad, why) in [
            (
                "epoch = 7\ngroups = [\"a:1\", \"b:1\", \"c:1\"]",
                "not greater",
            ),
            ("epoch = 6\ngroups = [\"a:1\"]", "not greater"),
            ("epoch = 9\ngroups = [\"b:1\"]", "moved"),
            ("epoch = 9\ngroups = [\"a:1\", \"\"]", "empty"),
            ("epoch = 9\ngroups = [\"a:1\", \"a:1\"]", "twice"),
            ("epoch = 9\ngroups = []", "no groups"),
            ("epoch = 9\ngroups = [\"nohost\"]", "host:port"),
            ("groups = [\"a:1\"]", "epoch"),
            ("epoch = 9\ngroups = [\"a:1\"\n", ""),
        ] {
            let err = next(bad).unwrap_err();
            assert!(err.contains(why), "{bad:?}: {err}");
        }
    }

    #[test]
    fn a_group_removed_from_the_middle_is_refused() {
        let t = Topology::from_spec(1, "a:1,b:1,c:1").unwrap();
        let err = t
            .check_successor(&Topology::from_spec(2, "a:1,c:1").unwrap())
            .unwrap_err();
        assert!(err.contains("c:1 moved from group 2 to group 1"), "{err}");
    }

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
