//! The shard's snapshot flags, named after Redis's directives: `--dir`, `--dbfilename`,
//! `--save`, and `--rdb-corrupt` (what to do with a file that cannot be read).

use std::path::PathBuf;

use clap::{Args, ValueEnum};

/// What a shard does when the file it should load is truncated or corrupt.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, ValueEnum)]
pub enum CorruptPolicy {
    /// Refuse to start, naming the file and what is wrong with it (Redis's behaviour).
    #[default]
    Fail,
    /// Log the error and start empty (the file is left where it is until the next save).
    Empty,
}

/// Snapshot settings of a standalone shard (`jumpcache shard`); shards inside
/// `jumpcache cluster` have none and neither load nor save.
#[derive(Debug, Clone, Args)]
pub struct RdbConfig {
    /// Directory of the snapshot file (Redis: `dir`).
    #[arg(long, default_value = "./")]
    pub dir: PathBuf,

    /// Snapshot file name, inside --dir (Redis: `dbfilename`); loaded at start when present.
    #[arg(long, default_value = "dump.rdb")]
    pub dbfilename: String,

    /// Periodic snapshots, as Redis's `save`: "<seconds> <changes> [<seconds> <changes> ...]"
    /// takes a snapshot when at least <changes> writes happened in <seconds>. Empty (the
    /// default): only SAVE and BGSAVE write one, as befits a cache.
    #[arg(long, default_value = "", value_parser = parse_save)]
    pub save: SavePoints,

    /// A snapshot file that is truncated or corrupt: `fail` refuses to start, `empty` starts
    /// without its keys.
    #[arg(long, value_enum, default_value_t = CorruptPolicy::Fail)]
    pub rdb_corrupt: CorruptPolicy,
}

/// The `--save` points: (seconds, changes) pairs.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SavePoints(pub Vec<(u64, u64)>);

impl std::fmt::Display for SavePoints {
    /// Writes the points as `--save` and Redis's `CONFIG GET save` spell them.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let words: Vec<String> = self
            .0
            .iter()
            .map(|(secs, changes)| format!("{secs} {changes}"))
            .collect();
        f.write_str(&words.join(" "))
    }
}

impl RdbConfig {
    /// Returns what `CONFIG GET dir`, `dbfilename` and `save` report for these settings.
    pub fn settings(&self) -> serve::persistence::SnapshotSettings {
        serve::persistence::SnapshotSettings::new(
            &self.dir,
            &self.dbfilename,
            self.save.to_string(),
        )
    }

    /// Returns the settings of `--dir DIR --dbfilename FILE`, with no periodic snapshots and
    /// `--rdb-corrupt fail`.
    pub fn at(dir: impl Into<PathBuf>, dbfilename: impl Into<String>) -> RdbConfig {
        RdbConfig {
            dir: dir.into(),
            dbfilename: dbfilename.into(),
            save: SavePoints::default(),
            rdb_corrupt: CorruptPolicy::Fail,
        }
    }

    /// Returns the snapshot file's path.
    pub fn path(&self) -> PathBuf {
        self.dir.join(&self.dbfilename)
    }

    /// Rejects impossible settings.
    ///
    /// # Errors
    /// A message naming the bad setting.
    pub fn validate(&self) -> Result<(), String> {
        if self.dbfilename.is_empty() || self.dbfilename.contains('/') {
            return Err(format!(
                "dbfilename must be a file name without '/': {:?}",
                self.dbfilename
            ));
        }
        Ok(())
    }
}

/// Parses `--save`: pairs of positive integers separated by spaces, or "" for none.
///
/// # Errors
/// A message for anything else.
pub fn parse_save(s: &str) -> Result<SavePoints, String> {
    let words: Vec<&str> = s.split_whitespace().collect();
    if !words.len().is_multiple_of(2) {
        return Err(format!("save takes <seconds> <changes> pairs: {s:?}"));
    }
    let mut points = Vec::new();
    for pair in words.chunks(2) {
        let secs: u64 = pair[0]
            .parse()
            .map_err(|_| format!("save: {:?} is not a number of seconds", pair[0]))?;
        let changes: u64 = pair[1]
            .parse()
            .map_err(|_| format!("save: {:?} is not a number of changes", pair[1]))?;
        if secs == 0 {
            return Err("save: seconds must be above 0".into());
        }
        points.push((secs, changes));
    }
    Ok(SavePoints(points))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn save_takes_pairs_or_nothing() {
        assert_eq!(parse_save("").unwrap(), SavePoints(vec![]));
        assert_eq!(
            parse_save("3600 1 300 100").unwrap(),
            SavePoints(vec![(3600, 1), (300, 100)])
        );
        assert!(parse_save("3600").is_err());
        assert!(parse_save("x 1").is_err());
        assert!(parse_save("0 1").is_err());
        assert_eq!(
            parse_save(" 3600  1 300 100").unwrap().to_string(),
            "3600 1 300 100"
        );
    }
}
