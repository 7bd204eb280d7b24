//! The shard's persistence state: one snapshot at a time (SAVE in the caller's thread, BGSAVE
//! and `--save` in a thread of their own), written to a temp file, fsynced and renamed over
//! the previous one, so a failed or killed save leaves the previous file as it was; loading
//! at start-up; INFO's `# Persistence`.

use std::fs::File;
use std::io::{self, BufReader, BufWriter};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use serve::info::Section;
use serve::persistence::SnapshotFigures;

use super::config::{CorruptPolicy, RdbConfig};
use super::reader::{self, LoadSummary, RdbError};
use super::writer::RdbWriter;
use crate::store::{Store, SEGMENTS};

/// Redis's reply when a save is asked for while one runs.
pub const IN_PROGRESS: &str = "ERR Background save already in progress";

/// The reply to SAVE or BGSAVE on a shard without snapshot settings (inside `jumpcache cluster`).
pub const NO_PERSISTENCE: &str =
    "ERR snapshots are off on this shard (no --dir: it runs inside jumpcache cluster)";

/// Redis's reply to a data command while the snapshot file is being loaded at start-up.
pub const LOADING: &str = "LOADING Redis is loading the dataset in memory";

/// After a failed periodic snapshot, the next waits this long (Redis's
/// `CONFIG_BGSAVE_RETRY_DELAY`).
const RETRY_DELAY_SECS: u64 = 5;

/// What the shard knows of its snapshots; shared with the BGSAVE thread.
#[derive(Debug)]
pub struct Persistence {
    config: Option<RdbConfig>,
    /// Writes since the last successful snapshot (Redis's `dirty`).
    dirty: AtomicU64,
    /// Unix seconds of the last successful snapshot, or of the start (Redis's `lastsave`).
    last_save: AtomicU64,
    /// Unix seconds of the last attempt, successful or not.
    last_try: AtomicU64,
    /// A snapshot (SAVE or BGSAVE) is being written.
    saving: AtomicBool,
    /// The one being written is a BGSAVE (or a periodic one).
    background: AtomicBool,
    background_started: Mutex<Option<Instant>>,
    last_ok: AtomicBool,
    last_background_secs: AtomicI64,
    saves: AtomicU64,
    loading: AtomicBool,
    /// Unix seconds the load began (INFO's `loading_start_time`).
    loading_started: AtomicU64,
    /// The file's size, for INFO's `loading_total_bytes`.
    loading_total_bytes: AtomicU64,
    /// Bytes of the file read so far (`loading_loaded_bytes`).
    loading_read_bytes: AtomicU64,
    /// Keys the running snapshot wrote so far, and will write (`current_save_keys_*`).
    save_keys_done: AtomicU64,
    save_keys_total: AtomicU64,
    /// The file was read (or found missing) once: a second `load_at_start` does nothing.
    load_tried: AtomicBool,
    /// True once no load is pending: none to do, or the one at start-up ended (either way).
    load_over: tokio::sync::watch::Sender<bool>,
    loaded: Mutex<LoadSummary>,
}

/// Nice steps the BGSAVE thread lowers its priority by: against one client thread at full
/// speed it gets about a tenth of a CPU (weights 110 against 1024); on an idle CPU it runs
/// at full speed.
const BGSAVE_NICE: i32 = 10;

/// Numbers the temp files of every shard in this process (tests run several in one process,
/// sharing a directory).
static TEMP_COUNTER: AtomicU64 = AtomicU64::new(0);

fn unix_secs() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// Why a snapshot could not start.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refused {
    /// One is being written.
    InProgress,
    /// This shard has no snapshot settings.
    Off,
}

impl Refused {
    /// Returns Redis's error text for it.
    pub fn text(self) -> &'static str {
        match self {
            Refused::InProgress => IN_PROGRESS,
            Refused::Off => NO_PERSISTENCE,
        }
    }
}

impl Persistence {
    /// Returns the state of a shard with these settings (`None`: never loads nor saves).
    pub fn new(config: Option<RdbConfig>) -> Arc<Persistence> {
        let now = unix_secs();
        let nothing_to_load = config.is_none();
        Arc::new(Persistence {
            config,
            dirty: AtomicU64::new(0),
            last_save: AtomicU64::new(now),
            last_try: AtomicU64::new(now),
            saving: AtomicBool::new(false),
            background: AtomicBool::new(false),
            background_started: Mutex::new(None),
            last_ok: AtomicBool::new(true),
            last_background_secs: AtomicI64::new(-1),
            saves: AtomicU64::new(0),
            loading: AtomicBool::new(false),
            loading_started: AtomicU64::new(0),
            loading_total_bytes: AtomicU64::new(0),
            loading_read_bytes: AtomicU64::new(0),
            save_keys_done: AtomicU64::new(0),
            save_keys_total: AtomicU64::new(0),
            load_tried: AtomicBool::new(false),
            load_over: tokio::sync::watch::Sender::new(nothing_to_load),
            loaded: Mutex::new(LoadSummary::default()),
        })
    }

    /// Returns the settings, if the shard has any.
    pub fn config(&self) -> Option<&RdbConfig> {
        self.config.as_ref()
    }

    /// Counts `n` writes towards `rdb_changes_since_last_save` and `--save`.
    pub fn wrote(&self, n: u64) {
        self.dirty.fetch_add(n, Ordering::Relaxed);
    }

    /// Returns the Unix time of the last successful snapshot (LASTSAVE).
    pub fn last_save(&self) -> u64 {
        self.last_save.load(Ordering::Relaxed)
    }

    /// Returns true while the file is being loaded at start-up.
    pub fn is_loading(&self) -> bool {
        self.loading.load(Ordering::Relaxed)
    }

    /// Returns true while a snapshot is being written.
    pub fn is_saving(&self) -> bool {
        self.saving.load(Ordering::Relaxed)
    }

    fn begin(&self) -> Result<&RdbConfig, Refused> {
        let config = self.config.as_ref().ok_or(Refused::Off)?;
        if self.saving.swap(true, Ordering::AcqRel) {
            return Err(Refused::InProgress);
        }
        Ok(config)
    }

    /// Writes a snapshot now, in this thread (SAVE).
    ///
    /// # Errors
    /// [`Refused`] when none can start; `Ok(Err(_))` when writing it failed (the previous
    /// file is untouched).
    pub fn save(&self, store: &Store) -> Result<io::Result<u64>, Refused> {
        let config = self.begin()?;
        Ok(self.write(store, config))
    }

    /// Starts a snapshot in a thread of its own (BGSAVE, `--save`).
    ///
    /// # Errors
    /// [`Refused`] when none can start (one is running, or the shard has no settings).
    pub fn bgsave(self: &Arc<Self>, store: &Store) -> Result<(), Refused> {
        self.begin()?;
        self.background.store(true, Ordering::Relaxed);
        *serve::sync::lock(&self.background_started) = Some(Instant::now());
        let me = self.clone();
        let store = store.clone();
        let spawned = std::thread::Builder::new()
            .name("jumpcache-bgsave".into())
            .spawn(move || {
                // Background work: the threads serving clients come first when both want
                // a CPU (docs/benchmarks.md, "BGSAVE and foreground latency").
                if let Err(e) = sched::lower_priority(BGSAVE_NICE) {
                    tracing::debug!(error = %e, "cannot lower the BGSAVE thread's priority");
                }
                let started = Instant::now();
                let config = me.config.as_ref().expect("checked by begin");
                let _ = me.write(&store, config);
                me.last_background_secs
                    .store(started.elapsed().as_secs() as i64, Ordering::Relaxed);
            });
        if let Err(e) = spawned {
            tracing::error!(error = %e, "cannot start the BGSAVE thread");
            self.last_ok.store(false, Ordering::Relaxed);
            self.background.store(false, Ordering::Relaxed);
            self.saving.store(false, Ordering::Release);
        }
        Ok(())
    }

    /// Starts a periodic snapshot when a `--save` point is reached; returns whether it did.
    pub fn maybe_save(self: &Arc<Self>, store: &Store) -> bool {
        let Some(config) = &self.config else {
            return false;
        };
        if self.is_saving() || self.is_loading() {
            return false;
        }
        let now = unix_secs();
        if !self.last_ok.load(Ordering::Relaxed)
            && now.saturating_sub(self.last_try.load(Ordering::Relaxed)) < RETRY_DELAY_SECS
        {
            return false;
        }
        let dirty = self.dirty.load(Ordering::Relaxed);
        let since = now.saturating_sub(self.last_save());
        let due = config
            .save
            .0
            .iter()
            .any(|&(secs, changes)| dirty >= changes && since >= secs);
        if due {
            tracing::info!(changes = dirty, seconds = since, "periodic snapshot");
        }
        due && self.bgsave(store).is_ok()
    }

    /// Waits for a running snapshot, then writes one (at shutdown, with `--save` points);
    /// none while the file is still being loaded, which would replace it with part of itself
    /// (Redis skips it too).
    pub fn save_on_shutdown(&self, store: &Store) {
        if self.is_loading() {
            tracing::warn!("shutting down while the snapshot loads: no snapshot written");
            return;
        }
        let deadline = Instant::now() + std::time::Duration::from_secs(600);
        loop {
            match self.save(store) {
                Err(Refused::InProgress) if Instant::now() < deadline => {
                    std::thread::sleep(std::time::Duration::from_millis(10));
                }
                _ => return,
            }
        }
    }

    /// Writes the snapshot (the caller holds `saving`) and records how it went.
    fn write(&self, store: &Store, config: &RdbConfig) -> io::Result<u64> {
        let dirty_before = self.dirty.load(Ordering::Relaxed);
        let n = TEMP_COUNTER.fetch_add(1, Ordering::Relaxed);
        let temp = config
            .dir
            .join(format!("temp-{}-{n}.rdb", std::process::id()));
        let result = self.write_file(store, &temp, &config.path());
        if result.is_err() {
            let _ = std::fs::remove_file(&temp);
        }
        let now = unix_secs();
        self.last_try.store(now, Ordering::Relaxed);
        match &result {
            Ok(keys) => {
                self.dirty.fetch_sub(dirty_before, Ordering::Relaxed);
                self.last_save.store(now, Ordering::Relaxed);
                self.last_ok.store(true, Ordering::Relaxed);
                self.saves.fetch_add(1, Ordering::Relaxed);
                tracing::info!(keys, path = %config.path().display(), "snapshot saved");
            }
            Err(e) => {
                self.last_ok.store(false, Ordering::Relaxed);
                tracing::error!(error = %e, path = %config.path().display(), "snapshot failed; the previous file is unchanged");
            }
        }
        self.background.store(false, Ordering::Relaxed);
        self.saving.store(false, Ordering::Release);
        result
    }

    /// Claims the load at start-up: true once per shard with settings and a file; from then
    /// until [`load_claimed`](Self::load_claimed) ends, the shard is loading (INFO
    /// `loading:1`, `-LOADING` to data commands, `/readyz` not ready). False for a shard
    /// without settings or file, or whose load was claimed already (`jumpcache cluster`
    /// loads before its router calls a shard; the shard's listener then finds it done).
    pub fn claim_load(&self) -> bool {
        let Some(config) = &self.config else {
            return false;
        };
        if self.load_tried.swap(true, Ordering::SeqCst) {
            return false;
        }
        let Ok(meta) = std::fs::metadata(config.path()) else {
            tracing::info!(path = %config.path().display(), "no snapshot file to load");
            self.load_over.send_replace(true);
            return false;
        };
        self.loading_started.store(unix_secs(), Ordering::Relaxed);
        self.loading_total_bytes
            .store(meta.len(), Ordering::Relaxed);
        self.loading.store(true, Ordering::SeqCst);
        true
    }

    /// Waits until no load is pending: the shard had nothing to load, or its load at
    /// start-up ended (loaded, or failed). Cancel-safe.
    pub async fn wait_load_over(&self) {
        let mut over = self.load_over.subscribe();
        let _ = over.wait_for(|over| *over).await;
    }

    /// Loads the file named by the settings, if there is one, into `store` (at start-up,
    /// before the shard serves data). Returns what was loaded (`None`: no settings, no file,
    /// or loaded already).
    ///
    /// # Errors
    /// As [`load_claimed`](Self::load_claimed).
    pub fn load_at_start(&self, store: &Store) -> Result<Option<LoadSummary>, String> {
        if !self.claim_load() {
            return Ok(None);
        }
        self.load_claimed(store)
    }

    /// Loads the file after [`claim_load`](Self::claim_load) said true; the shard stops
    /// loading when this returns, whatever the outcome.
    ///
    /// # Errors
    /// A message naming the file and what is wrong with it, under `--rdb-corrupt fail`;
    /// under `empty` the error is logged and the shard starts empty.
    pub fn load_claimed(&self, store: &Store) -> Result<Option<LoadSummary>, String> {
        let result = self.load_file_at_start(store);
        self.loading.store(false, Ordering::SeqCst);
        self.load_over.send_replace(true);
        result
    }

    fn load_file_at_start(&self, store: &Store) -> Result<Option<LoadSummary>, String> {
        let Some(config) = &self.config else {
            return Ok(None);
        };
        let path = config.path();
        if !path.exists() {
            tracing::info!(path = %path.display(), "no snapshot file to load");
            return Ok(None);
        }
        let started = Instant::now();
        let loaded = load_file(store, &path, &self.loading_read_bytes);
        match loaded {
            Ok(summary) => {
                *serve::sync::lock(&self.loaded) = summary.clone();
                // Serving before the log line says so: a reader of the log may go ahead.
                self.loading.store(false, Ordering::SeqCst);
                tracing::info!(
                    path = %path.display(),
                    keys = summary.keys,
                    expired = summary.expired,
                    skipped = summary.other_types + summary.other_databases + summary.too_big,
                    version = summary.version,
                    ms = started.elapsed().as_millis() as u64,
                    "snapshot loaded"
                );
                if summary.other_types + summary.other_databases + summary.skipped_records > 0 {
                    tracing::warn!(
                        other_types = summary.other_types,
                        other_databases = summary.other_databases,
                        module_or_function_records = summary.skipped_records,
                        "snapshot: left out streams, module values and functions, and other databases' keys"
                    );
                }
                Ok(Some(summary))
            }
            Err(e) => {
                let msg = format!("{}: {e}", path.display());
                match config.rdb_corrupt {
                    CorruptPolicy::Fail => Err(msg),
                    CorruptPolicy::Empty => {
                        store.flush();
                        self.loading.store(false, Ordering::SeqCst);
                        tracing::error!(error = %msg, "snapshot not loaded (--rdb-corrupt empty): starting empty");
                        Ok(None)
                    }
                }
            }
        }
    }

    /// Returns INFO's `# Persistence` section, in Redis's field order.
    pub fn section(&self) -> Section {
        self.figures().section()
    }

    /// Returns the snapshot state as it is now (INFO, the router's figures, `/metrics`).
    pub fn figures(&self) -> SnapshotFigures {
        let started = *serve::sync::lock(&self.background_started);
        let background = self.background.load(Ordering::Relaxed);
        let current = match (background, started) {
            (true, Some(t)) => t.elapsed().as_secs() as i64,
            _ => -1,
        };
        let saving = self.is_saving();
        let loaded = serve::sync::lock(&self.loaded).clone();
        let loading = self.is_loading();
        let relaxed = |a: &AtomicU64| a.load(Ordering::Relaxed);
        SnapshotFigures {
            loading,
            changes_since_last_save: relaxed(&self.dirty),
            bgsave_in_progress: background,
            last_save_time: self.last_save(),
            last_bgsave_ok: self.last_ok.load(Ordering::Relaxed),
            last_bgsave_time_sec: self.last_background_secs.load(Ordering::Relaxed),
            current_bgsave_time_sec: current,
            saves: relaxed(&self.saves),
            current_save_keys_processed: if saving {
                relaxed(&self.save_keys_done)
            } else {
                0
            },
            current_save_keys_total: if saving {
                relaxed(&self.save_keys_total)
            } else {
                0
            },
            last_load_keys_expired: loaded.expired,
            last_load_keys_loaded: loaded.keys,
            last_load_keys_skipped: loaded.other_types + loaded.other_databases + loaded.too_big,
            loading_start_time: if loading {
                relaxed(&self.loading_started)
            } else {
                0
            },
            loading_total_bytes: if loading {
                relaxed(&self.loading_total_bytes)
            } else {
                0
            },
            loading_loaded_bytes: if loading {
                relaxed(&self.loading_read_bytes)
            } else {
                0
            },
        }
    }
}

impl Persistence {
    /// Writes every live key of `store` to `temp`, fsyncs it, renames it to `path` and
    /// fsyncs the directory; returns the number of keys written.
    fn write_file(&self, store: &Store, temp: &Path, path: &Path) -> io::Result<u64> {
        let now = store.now_ms();
        let stats = store.stats();
        self.save_keys_total.store(stats.keys, Ordering::Relaxed);
        self.save_keys_done.store(0, Ordering::Relaxed);
        let file = File::create(temp)?;
        let mut w = RdbWriter::start(
            BufWriter::with_capacity(1 << 16, file),
            now,
            stats.used_memory,
        )?;
        w.select_db(stats.keys, stats.expires)?;
        let mut keys = 0;
        let mut page = Vec::new();
        for s in 0..SEGMENTS {
            store.snapshot_segment(s, now, &mut page);
            for (key, value, deadline) in &page {
                w.object(key, value, *deadline)?;
            }
            keys += page.len() as u64;
            self.save_keys_done.store(keys, Ordering::Relaxed);
        }
        let file = w
            .finish()?
            .into_inner()
            .map_err(io::IntoInnerError::into_error)?;
        file.sync_all()?;
        drop(file);
        std::fs::rename(temp, path)?;
        // The rename itself survives a crash once the directory is synced.
        let dir: PathBuf = match path.parent() {
            Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
            _ => PathBuf::from("."),
        };
        File::open(dir)?.sync_all()?;
        Ok(keys)
    }
}

/// A reader that counts the bytes it gave (INFO's `loading_loaded_bytes`).
struct Counted<'a, R> {
    inner: R,
    read: &'a AtomicU64,
}

impl<R: io::Read> io::Read for Counted<'_, R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.read.fetch_add(n as u64, Ordering::Relaxed);
        Ok(n)
    }
}

/// Reads the RDB file at `path` into `store`.
fn load_file(store: &Store, path: &Path, read: &AtomicU64) -> Result<LoadSummary, RdbError> {
    let file = File::open(path).map_err(RdbError::Io)?;
    let len = file.metadata().map_err(RdbError::Io)?.len();
    let mut too_big = 0u64;
    let input = Counted { inner: file, read };
    let mut summary = reader::load(
        BufReader::with_capacity(1 << 16, input),
        len,
        store.now_ms(),
        store.max_memory(),
        |key, value, deadline_ms| {
            if store.put_object(&key, value, deadline_ms).is_err() {
                too_big += 1;
            }
        },
    )?;
    if too_big + summary.too_big > 0 {
        tracing::warn!(
            keys = too_big + summary.too_big,
            "snapshot: keys larger than --max-memory left out"
        );
        summary.keys -= too_big;
        summary.too_big += too_big;
    }
    Ok(summary)
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::clock::ManualClock;
    use crate::store::StoreConfig;

    #[test]
    fn one_save_at_a_time_and_none_without_settings() {
        let store = Store::new(StoreConfig::default(), Arc::new(ManualClock::new(1_000)));
        let off = Persistence::new(None);
        assert_eq!(off.save(&store).err(), Some(Refused::Off));
        assert_eq!(off.bgsave(&store).err(), Some(Refused::Off));

        let dir = std::env::temp_dir().join(format!("jumpcache-rdb-unit-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let p = Persistence::new(Some(RdbConfig::at(&dir, "one.rdb")));
        // As if a BGSAVE were writing.
        p.saving.store(true, Ordering::Relaxed);
        assert_eq!(p.save(&store).err(), Some(Refused::InProgress));
        assert_eq!(p.bgsave(&store).err(), Some(Refused::InProgress));
        assert_eq!(
            Refused::InProgress.text(),
            "ERR Background save already in progress"
        );
        p.saving.store(false, Ordering::Relaxed);
        p.wrote(3);
        assert_eq!(p.save(&store).unwrap().unwrap(), 0);
        assert_eq!(p.dirty.load(Ordering::Relaxed), 0);
        assert!(!p.is_saving());
        let _ = std::fs::remove_dir_all(&dir);
    }
}
