//! INFO's `# Persistence` as numbers: what a shard reports of its snapshots, what a router
//! reads back from each shard's INFO, and the cluster's merge of them.
//!
//! ```text
//! shard:  Persistence::figures ─▶ SnapshotFigures ─▶ section ─▶ INFO text
//! router: INFO text ─▶ ShardFigures::from_info ─▶ SnapshotFigures::read ─▶ merge ─▶ section
//! ```
//! Field names and order are Redis 7.0's; the copy-on-write fields are always 0 (a snapshot
//! does not fork), `rdb_last_load_keys_skipped` is jumpcache's own, and the `loading_*`
//! fields follow only while a load runs, as in Redis.

use crate::info::Section;

/// One process's snapshot state, or a cluster's merged.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SnapshotFigures {
    /// The snapshot file is being loaded at start-up.
    pub loading: bool,
    /// Writes since the last successful snapshot (Redis's `dirty`).
    pub changes_since_last_save: u64,
    /// A BGSAVE (or a `--save` snapshot) is being written.
    pub bgsave_in_progress: bool,
    /// Unix seconds of the last successful snapshot (at start: the start).
    pub last_save_time: u64,
    /// The last snapshot, SAVE or BGSAVE, succeeded.
    pub last_bgsave_ok: bool,
    /// Seconds the last BGSAVE took; -1 before the first.
    pub last_bgsave_time_sec: i64,
    /// Seconds the running BGSAVE has taken; -1 when none runs.
    pub current_bgsave_time_sec: i64,
    /// Snapshots written successfully since start.
    pub saves: u64,
    /// Keys the running snapshot has written so far.
    pub current_save_keys_processed: u64,
    /// Keys the running snapshot will write (the store's count when it began).
    pub current_save_keys_total: u64,
    /// Keys of the file loaded at start that had expired.
    pub last_load_keys_expired: u64,
    /// Keys loaded at start.
    pub last_load_keys_loaded: u64,
    /// Keys of the file left out: other types, other databases, larger than the bound.
    pub last_load_keys_skipped: u64,
    /// While loading: Unix seconds it began, the file's size and the bytes read so far.
    pub loading_start_time: u64,
    /// While loading: the file's size.
    pub loading_total_bytes: u64,
    /// While loading: bytes read so far.
    pub loading_loaded_bytes: u64,
}

impl Default for SnapshotFigures {
    /// Returns the state of a process that never saved nor loaded: as Redis prints it.
    fn default() -> SnapshotFigures {
        SnapshotFigures {
            loading: false,
            changes_since_last_save: 0,
            bgsave_in_progress: false,
            last_save_time: 0,
            last_bgsave_ok: true,
            last_bgsave_time_sec: -1,
            current_bgsave_time_sec: -1,
            saves: 0,
            current_save_keys_processed: 0,
            current_save_keys_total: 0,
            last_load_keys_expired: 0,
            last_load_keys_loaded: 0,
            last_load_keys_skipped: 0,
            loading_start_time: 0,
            loading_total_bytes: 0,
            loading_loaded_bytes: 0,
        }
    }
}

impl SnapshotFigures {
    /// Returns `# Persistence`, in Redis 7.0's field order.
    pub fn section(&self) -> Section {
        let mut s = Section::new("Persistence");
        s.add("loading", u8::from(self.loading))
            .add("async_loading", 0)
            .add("current_cow_peak", 0)
            .add("current_cow_size", 0)
            .add("current_cow_size_age", 0)
            .add("current_fork_perc", "0.00")
            .add(
                "current_save_keys_processed",
                self.current_save_keys_processed,
            )
            .add("current_save_keys_total", self.current_save_keys_total)
            .add("rdb_changes_since_last_save", self.changes_since_last_save)
            .add("rdb_bgsave_in_progress", u8::from(self.bgsave_in_progress))
            .add("rdb_last_save_time", self.last_save_time)
            .add(
                "rdb_last_bgsave_status",
                if self.last_bgsave_ok { "ok" } else { "err" },
            )
            .add("rdb_last_bgsave_time_sec", self.last_bgsave_time_sec)
            .add("rdb_current_bgsave_time_sec", self.current_bgsave_time_sec)
            .add("rdb_saves", self.saves)
            .add("rdb_last_cow_size", 0)
            .add("rdb_last_load_keys_expired", self.last_load_keys_expired)
            .add("rdb_last_load_keys_loaded", self.last_load_keys_loaded)
            .add("rdb_last_load_keys_skipped", self.last_load_keys_skipped)
            .add("aof_enabled", 0);
        if self.loading {
            let perc = if self.loading_total_bytes == 0 {
                0.0
            } else {
                100.0 * self.loading_loaded_bytes as f64 / self.loading_total_bytes as f64
            };
            s.add("loading_start_time", self.loading_start_time)
                .add("loading_total_bytes", self.loading_total_bytes)
                .add("loading_loaded_bytes", self.loading_loaded_bytes)
                .add("loading_loaded_perc", format!("{perc:.2}"));
        }
        s
    }

    /// Reads one INFO field into these figures; false for a field that is not one of them.
    pub fn read(&mut self, name: &str, value: &str) -> bool {
        let num = || value.parse::<u64>().unwrap_or(0);
        let secs = || value.parse::<i64>().unwrap_or(-1);
        match name {
            "loading" => self.loading = value == "1",
            "rdb_changes_since_last_save" => self.changes_since_last_save = num(),
            "rdb_bgsave_in_progress" => self.bgsave_in_progress = value == "1",
            "rdb_last_save_time" => self.last_save_time = num(),
            "rdb_last_bgsave_status" => self.last_bgsave_ok = value == "ok",
            "rdb_last_bgsave_time_sec" => self.last_bgsave_time_sec = secs(),
            "rdb_current_bgsave_time_sec" => self.current_bgsave_time_sec = secs(),
            "rdb_saves" => self.saves = num(),
            "current_save_keys_processed" => self.current_save_keys_processed = num(),
            "current_save_keys_total" => self.current_save_keys_total = num(),
            "rdb_last_load_keys_expired" => self.last_load_keys_expired = num(),
            "rdb_last_load_keys_loaded" => self.last_load_keys_loaded = num(),
            "rdb_last_load_keys_skipped" => self.last_load_keys_skipped = num(),
            "loading_start_time" => self.loading_start_time = num(),
            "loading_total_bytes" => self.loading_total_bytes = num(),
            "loading_loaded_bytes" => self.loading_loaded_bytes = num(),
            _ => return false,
        }
        true
    }

    /// Returns a cluster's figures from its members': loading or saving while any member
    /// is, counts summed, the oldest last save (everything is saved as of then), `err` when
    /// any member's last snapshot failed, the longest save times, the earliest load start.
    /// `None` for no members.
    pub fn merge<'a>(members: impl IntoIterator<Item = &'a SnapshotFigures>) -> Option<Self> {
        let mut it = members.into_iter();
        let mut sum = it.next()?.clone();
        for m in it {
            sum.loading |= m.loading;
            sum.bgsave_in_progress |= m.bgsave_in_progress;
            sum.last_bgsave_ok &= m.last_bgsave_ok;
            sum.last_save_time = sum.last_save_time.min(m.last_save_time);
            sum.last_bgsave_time_sec = sum.last_bgsave_time_sec.max(m.last_bgsave_time_sec);
            sum.current_bgsave_time_sec =
                sum.current_bgsave_time_sec.max(m.current_bgsave_time_sec);
            let add = |a: &mut u64, b: u64| *a = a.saturating_add(b);
            add(&mut sum.changes_since_last_save, m.changes_since_last_save);
            add(&mut sum.saves, m.saves);
            add(
                &mut sum.current_save_keys_processed,
                m.current_save_keys_processed,
            );
            add(&mut sum.current_save_keys_total, m.current_save_keys_total);
            add(&mut sum.last_load_keys_expired, m.last_load_keys_expired);
            add(&mut sum.last_load_keys_loaded, m.last_load_keys_loaded);
            add(&mut sum.last_load_keys_skipped, m.last_load_keys_skipped);
            add(&mut sum.loading_total_bytes, m.loading_total_bytes);
            add(&mut sum.loading_loaded_bytes, m.loading_loaded_bytes);
            if m.loading_start_time != 0 {
                sum.loading_start_time = match sum.loading_start_time {
                    0 => m.loading_start_time,
                    t => t.min(m.loading_start_time),
                };
            }
        }
        Some(sum)
    }
}

/// What `CONFIG GET dir`, `dbfilename` and `save` report.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SnapshotSettings {
    /// The snapshot directory, absolute (Redis reports its working directory, where it
    /// keeps the file).
    pub dir: String,
    /// The snapshot file's name.
    pub dbfilename: String,
    /// The periodic snapshot points, as `--save` takes them ("" for none).
    pub save: String,
}

impl Default for SnapshotSettings {
    /// Returns what a process without snapshots reports: its working directory, Redis's
    /// default file name, no save points.
    fn default() -> SnapshotSettings {
        SnapshotSettings::new(std::path::Path::new("."), "dump.rdb", String::new())
    }
}

impl SnapshotSettings {
    /// Returns the settings of `--dir dir --dbfilename dbfilename --save save`, `dir` made
    /// absolute.
    pub fn new(dir: &std::path::Path, dbfilename: &str, save: String) -> SnapshotSettings {
        let dir = dir
            .canonicalize()
            .or_else(|_| std::path::absolute(dir))
            .unwrap_or_else(|_| dir.to_path_buf());
        SnapshotSettings {
            dir: dir.to_string_lossy().into_owned(),
            dbfilename: dbfilename.to_string(),
            save,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_section_reads_back_as_its_figures() {
        let f = SnapshotFigures {
            loading: true,
            changes_since_last_save: 7,
            bgsave_in_progress: true,
            last_save_time: 1_700_000_000,
            last_bgsave_ok: false,
            last_bgsave_time_sec: 3,
            current_bgsave_time_sec: 1,
            saves: 2,
            current_save_keys_processed: 10,
            current_save_keys_total: 20,
            last_load_keys_expired: 1,
            last_load_keys_loaded: 5,
            last_load_keys_skipped: 2,
            loading_start_time: 1_700_000_001,
            loading_total_bytes: 1000,
            loading_loaded_bytes: 250,
        };
        let mut back = SnapshotFigures::default();
        for (name, value) in &f.section().fields {
            back.read(name, value);
        }
        assert_eq!(back, f);
        let text = f.section().fields;
        assert!(text.contains(&("loading_loaded_perc".into(), "25.00".into())));
        let quiet = SnapshotFigures::default().section().fields;
        assert!(!quiet.iter().any(|(k, _)| k.starts_with("loading_")));
    }

    #[test]
    fn a_cluster_is_saved_as_of_its_oldest_save_and_failed_if_any_failed() {
        let a = SnapshotFigures {
            last_save_time: 200,
            changes_since_last_save: 3,
            saves: 1,
            last_bgsave_time_sec: 2,
            ..SnapshotFigures::default()
        };
        let b = SnapshotFigures {
            last_save_time: 100,
            changes_since_last_save: 4,
            bgsave_in_progress: true,
            last_bgsave_ok: false,
            current_bgsave_time_sec: 5,
            ..SnapshotFigures::default()
        };
        let m = SnapshotFigures::merge([&a, &b]).unwrap();
        assert_eq!(m.last_save_time, 100);
        assert_eq!(m.changes_since_last_save, 7);
        assert_eq!(m.saves, 1);
        assert!(m.bgsave_in_progress && !m.last_bgsave_ok);
        assert_eq!((m.last_bgsave_time_sec, m.current_bgsave_time_sec), (2, 5));
        assert_eq!(SnapshotFigures::merge([]), None);
    }
}
