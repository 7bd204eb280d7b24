//! What the binary's process tests share: starting `jumpcache` on free ports, its stderr
//! kept for reading, and plain HTTP to its admin port.

#![allow(dead_code)] // Each test file uses its own part of this module.

use std::net::SocketAddr;
use std::process::Stdio;
use std::sync::{Arc, Mutex};

use harness::within;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;
use tokio::process::{Child, Command};

/// Returns a port that was free a moment ago (the binary needs a number for its admin port).
pub fn free_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
    listener.local_addr().expect("local addr").port()
}

/// How to start one `jumpcache` process.
pub struct Spec<'a> {
    /// `shard`, `router` or `cluster`, and its flags (`--port` and `--metrics-port` are added).
    pub args: Vec<String>,
    /// Environment variables to set.
    pub env: Vec<(&'a str, String)>,
    /// A line the process prints on stdout once it listens.
    pub ready: &'a str,
    /// `RUST_LOG`.
    pub log_level: &'a str,
    /// Passes `--port`; false when the port comes from the environment or a file (the
    /// caller then sets it to [`Spec::port`]'s value there).
    pub port_flag: bool,
    /// The RESP port to use (0: pick one).
    pub port: u16,
}

impl<'a> Spec<'a> {
    /// Returns a spec for `args`, waiting for `ready`, at log level `info`.
    pub fn new(args: &[&str], ready: &'a str) -> Spec<'a> {
        Spec {
            args: args.iter().map(ToString::to_string).collect(),
            env: Vec::new(),
            ready,
            log_level: "info",
            port_flag: true,
            port: 0,
        }
    }
}

/// A running `jumpcache`; killed when dropped.
pub struct Jumpcache {
    pub child: Child,
    pub addr: SocketAddr,
    pub metrics: SocketAddr,
    /// Every line it wrote to stderr so far.
    pub stderr: Arc<Mutex<Vec<String>>>,
}

impl Jumpcache {
    /// Sends SIGTERM.
    pub fn terminate(&self) {
        let pid = self.child.id().expect("running").to_string();
        let status = std::process::Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .expect("run kill");
        assert!(status.success(), "kill -TERM {pid}");
    }

    /// Returns the stderr lines so far.
    pub fn log(&self) -> Vec<String> {
        self.stderr.lock().unwrap().clone()
    }
}

/// Starts `spec` with a RESP port and an admin port, and waits until it prints its ready
/// line. A port picked free can be taken before the child binds it: a child that exits
/// without printing is started again on new ports, at most three times.
pub async fn start(spec: Spec<'_>) -> Jumpcache {
    for _ in 0..3 {
        let port = if spec.port == 0 {
            free_port()
        } else {
            spec.port
        };
        let metrics_port = free_port();
        let mut command = Command::new(env!("CARGO_BIN_EXE_jumpcache"));
        command.args(&spec.args);
        if spec.port_flag {
            command.args(["--port", &port.to_string()]);
        }
        command
            .args(["--metrics-port", &metrics_port.to_string()])
            .env("RUST_LOG", spec.log_level)
            .envs(spec.env.iter().map(|(k, v)| (k, v)))
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        let mut child = command.spawn().expect("spawn jumpcache");
        let stderr = Arc::new(Mutex::new(Vec::new()));
        let mut err_lines = BufReader::new(child.stderr.take().expect("stderr")).lines();
        let kept = stderr.clone();
        tokio::spawn(async move {
            while let Ok(Some(line)) = err_lines.next_line().await {
                kept.lock().unwrap().push(line);
            }
        });
        let mut lines = BufReader::new(child.stdout.take().expect("stdout")).lines();
        let started = within(async {
            while let Some(line) = lines.next_line().await.expect("read stdout") {
                if line.contains(spec.ready) {
                    return true;
                }
            }
            false
        })
        .await;
        if !started {
            continue;
        }
        // Keep draining stdout so the child never blocks on a full pipe.
        tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
        return Jumpcache {
            child,
            addr: SocketAddr::from(([127, 0, 0, 1], port)),
            metrics: SocketAddr::from(([127, 0, 0, 1], metrics_port)),
            stderr,
        };
    }
    panic!(
        "jumpcache {:?} exited three times before printing {:?}",
        spec.args, spec.ready
    );
}

/// Sends `GET path` and returns (status code, body).
pub async fn http_get(addr: SocketAddr, path: &str) -> std::io::Result<(u16, String)> {
    let mut stream = TcpStream::connect(addr).await?;
    let request = format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n");
    stream.write_all(request.as_bytes()).await?;
    let mut response = Vec::new();
    stream.read_to_end(&mut response).await?;
    let text = String::from_utf8_lossy(&response).into_owned();
    let status = text
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let body = text
        .split_once("\r\n\r\n")
        .map_or(String::new(), |(_, b)| b.to_string());
    Ok((status, body))
}

/// Asks `path` until it answers `status` (a probe that changes as health checks run; each
/// ask is a real request, spaced 20 ms apart, for at most 10 s).
pub async fn until_status(addr: SocketAddr, path: &str, status: u16) {
    let mut last = None;
    for _ in 0..500 {
        let got = http_get(addr, path).await.ok().map(|(s, _)| s);
        if got == Some(status) {
            return;
        }
        last = got;
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    panic!("{path} never answered {status}; last {last:?}");
}

/// Returns the value of the sample whose line starts with `series ` (name plus labels).
pub fn sample(body: &str, series: &str) -> Option<f64> {
    body.lines()
        .find_map(|l| l.strip_prefix(series)?.strip_prefix(' '))
        .and_then(|v| v.trim().parse().ok())
}
