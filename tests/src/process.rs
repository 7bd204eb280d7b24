//! Real `jumpcache shard` processes, for failover tests: started on a free port, killed
//! with SIGKILL, restarted on the same port.
//!
//! The binary's path comes from the caller: only the root package's own integration tests
//! get `CARGO_BIN_EXE_jumpcache` (Cargo builds the binary before them, so it is never stale),
//! so those tests live there and pass `env!("CARGO_BIN_EXE_jumpcache")` in.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Stdio;

use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

use crate::{within, STEP_TIMEOUT};

/// A `jumpcache shard` process; killed when dropped.
pub struct ShardProcess {
    bin: PathBuf,
    /// Flags after `shard --port N --max-memory 64mb`.
    extra: Vec<String>,
    addr: SocketAddr,
    child: Option<Child>,
}

/// Returns a loopback port that was free a moment ago (bound to port 0, then released).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("bind 127.0.0.1:0")
        .port()
}

impl ShardProcess {
    /// Starts `bin shard` on a free loopback port and waits until it listens.
    ///
    /// A port picked free can be taken before the child binds it: a shard that exits
    /// without listening is started again on a new port, at most three times.
    pub async fn start(bin: impl AsRef<Path>) -> ShardProcess {
        ShardProcess::start_with(bin, &[]).await
    }

    /// As [`start`](Self::start), with more flags for `jumpcache shard`.
    pub async fn start_with(bin: impl AsRef<Path>, extra: &[&str]) -> ShardProcess {
        for _ in 0..3 {
            let mut shard = ShardProcess {
                bin: bin.as_ref().to_path_buf(),
                extra: extra.iter().map(ToString::to_string).collect(),
                addr: SocketAddr::from(([127, 0, 0, 1], free_port())),
                child: None,
            };
            if shard.spawn().await {
                return shard;
            }
        }
        panic!("jumpcache shard exited three times before listening");
    }

    /// Returns the shard's address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Returns the process id while it runs.
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().and_then(Child::id)
    }

    /// Kills the process with SIGKILL (no goodbye to its clients) and reaps it.
    pub async fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.start_kill();
            let _ = within(child.wait()).await;
        }
    }

    /// Freezes the process (SIGSTOP): it keeps its data and its port but answers nothing,
    /// as a partitioned or stalled host would.
    pub fn pause(&self) {
        self.signal("-STOP");
    }

    /// Thaws a process frozen by [`pause`](Self::pause) (SIGCONT).
    pub fn resume(&self) {
        self.signal("-CONT");
    }

    fn signal(&self, sig: &str) {
        let pid = self
            .child
            .as_ref()
            .and_then(Child::id)
            .expect("a running shard");
        let status = std::process::Command::new("kill")
            .args([sig, &pid.to_string()])
            .status()
            .expect("run kill");
        assert!(status.success(), "kill {sig} {pid}");
    }

    /// Starts the process again, empty, on the same port; waits until it listens.
    pub async fn restart(&mut self) {
        self.kill().await;
        assert!(self.spawn().await, "shard on {} did not restart", self.addr);
    }

    /// Spawns the shard and waits until it listens (see [`start_logged`]). Returns false
    /// when the process ended without listening (its port was taken).
    async fn spawn(&mut self) -> bool {
        let port = self.addr.port().to_string();
        let mut args = vec!["shard", "--port", &port, "--max-memory", "64mb"];
        args.extend(self.extra.iter().map(String::as_str));
        self.child = start_logged(&self.bin, &args, "shard listening").await;
        self.child.is_some()
    }
}

/// Starts `bin args` with its log (stderr, at `info`) piped, and reads it until a line holds
/// `ready`: readiness without sleeping. The rest of the log is drained so a full pipe never
/// blocks the process. Returns `None` when it ended (or took [`STEP_TIMEOUT`]) before that
/// line, as a process whose port was taken meanwhile does.
pub async fn start_logged(bin: impl AsRef<Path>, args: &[&str], ready: &str) -> Option<Child> {
    let bin = bin.as_ref();
    let mut child = Command::new(bin)
        .args(args)
        .env("RUST_LOG", "info")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap_or_else(|e| panic!("start {}: {e}", bin.display()));
    let stderr = child.stderr.take().expect("piped stderr");
    let mut lines = BufReader::new(stderr).lines();
    let seen = tokio::time::timeout(STEP_TIMEOUT, async {
        while let Ok(Some(line)) = lines.next_line().await {
            if line.contains(ready) {
                return true;
            }
        }
        false
    })
    .await;
    if seen != Ok(true) {
        return None;
    }
    tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
    Some(child)
}
