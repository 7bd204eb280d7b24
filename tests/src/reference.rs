//! A real redis-server to compare against, when one is installed.

use std::path::PathBuf;
use std::process::Stdio;

use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::UnixStream;
use tokio::process::{Child, Command};

use crate::STEP_TIMEOUT;

/// A redis-server child process on a private unix socket (no TCP port at all).
pub struct RedisServer {
    child: Child,
    socket: PathBuf,
    dir: PathBuf,
}

impl RedisServer {
    /// Starts redis-server, or returns `None` (printing a note) when it is not installed.
    pub async fn start() -> Option<RedisServer> {
        RedisServer::start_with(&[]).await
    }

    /// As [`start`](Self::start), with more `redis-server` arguments after the defaults (a
    /// later `--dir` or `--save` wins over the default one).
    pub async fn start_with(extra: &[&str]) -> Option<RedisServer> {
        let dir = std::env::temp_dir().join(format!(
            "jumpcache-redis-{}-{}",
            std::process::id(),
            rand::random::<u64>()
        ));
        std::fs::create_dir_all(&dir).ok()?;
        let socket = dir.join("redis.sock");
        let spawned = Command::new("redis-server")
            .args([
                "--port",
                "0",
                "--save",
                "",
                "--appendonly",
                "no",
                "--daemonize",
                "no",
            ])
            .arg("--unixsocket")
            .arg(&socket)
            .arg("--dir")
            .arg(&dir)
            .args(extra)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn();
        let mut child = match spawned {
            Ok(child) => child,
            Err(_) => {
                eprintln!(
                    "NOTE: redis-server is not installed; differential test skipped (not a pass)"
                );
                return None;
            }
        };
        // Ready when it says so: no sleeping, no polling.
        let stdout = child.stdout.take()?;
        let mut lines = BufReader::new(stdout).lines();
        let ready = tokio::time::timeout(STEP_TIMEOUT, async {
            while let Ok(Some(line)) = lines.next_line().await {
                if line.contains("ready to accept connections")
                    || line.contains("Ready to accept connections")
                {
                    return true;
                }
            }
            false
        })
        .await
        .unwrap_or(false);
        assert!(ready, "redis-server did not become ready");
        // Keep draining its log so it never blocks on a full pipe.
        tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
        Some(RedisServer { child, socket, dir })
    }

    /// Returns the path of its unix socket.
    pub fn socket(&self) -> &std::path::Path {
        &self.socket
    }

    /// Returns a raw connection to it.
    pub async fn raw(&self) -> RawUnixClient {
        RawUnixClient {
            stream: UnixStream::connect(&self.socket)
                .await
                .expect("connect redis-server"),
            buf: Vec::new(),
        }
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        let _ = self.child.start_kill();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// A raw client on a unix socket, reading whole replies.
pub struct RawUnixClient {
    stream: UnixStream,
    buf: Vec<u8>,
}

impl RawUnixClient {
    /// Sends one command and returns its raw reply.
    pub async fn call(&mut self, args: &[&[u8]]) -> Vec<u8> {
        self.stream
            .write_all(&crate::request(args))
            .await
            .expect("write");
        self.reply().await.expect("a reply")
    }

    /// Sends raw bytes.
    pub async fn send(&mut self, bytes: &[u8]) {
        self.stream.write_all(bytes).await.expect("write");
    }

    /// Reads one complete reply; `None` when the server closed first.
    pub async fn reply(&mut self) -> Option<Vec<u8>> {
        let read = async {
            loop {
                if let Some(len) = crate::wire::reply_len(&self.buf) {
                    return Some(self.buf.drain(..len).collect());
                }
                let mut chunk = [0u8; 16384];
                let n = self.stream.read(&mut chunk).await.ok()?;
                if n == 0 {
                    return None;
                }
                self.buf.extend_from_slice(&chunk[..n]);
            }
        };
        tokio::time::timeout(STEP_TIMEOUT, read)
            .await
            .expect("reply in time")
    }
}
