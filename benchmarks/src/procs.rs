//! Real processes for the experiments: `jumpcache cluster|shard|router`, `redis-server` and
//! twemproxy (`nutcracker`), each on free loopback ports, ready when it answers a request
//! (polled with a deadline), killed when dropped.

use std::io;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

use crate::resp::{info_field, Conn, Reply};

/// How long a process may take to become ready.
pub const READY_TIMEOUT: Duration = Duration::from_secs(20);

/// Returns a loopback port that was free a moment ago.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("bind 127.0.0.1:0")
}

/// Returns whether `program` is on the PATH.
pub fn have(program: &str) -> bool {
    std::env::var_os("PATH")
        .is_some_and(|paths| std::env::split_paths(&paths).any(|dir| dir.join(program).is_file()))
}

/// A child process with its output lines kept; killed (SIGKILL) when dropped.
pub struct Proc {
    pub child: Option<Child>,
    pub lines: Arc<Mutex<Vec<String>>>,
    program: PathBuf,
    args: Vec<String>,
}

impl Proc {
    /// Starts `program args`, keeping its stdout and stderr lines.
    pub fn spawn(program: impl AsRef<Path>, args: &[String]) -> io::Result<Proc> {
        let mut proc = Proc {
            child: None,
            lines: Arc::new(Mutex::new(Vec::new())),
            program: program.as_ref().to_path_buf(),
            args: args.to_vec(),
        };
        proc.start()?;
        Ok(proc)
    }

    fn start(&mut self) -> io::Result<()> {
        let mut child = Command::new(&self.program)
            .args(&self.args)
            .env("RUST_LOG", "warn")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .map_err(|e| io::Error::new(e.kind(), format!("{}: {e}", self.program.display())))?;
        let out = child.stdout.take().expect("piped stdout");
        let err = child.stderr.take().expect("piped stderr");
        let (a, b) = (self.lines.clone(), self.lines.clone());
        tokio::spawn(async move {
            let mut lines = BufReader::new(out).lines();
            while let Ok(Some(l)) = lines.next_line().await {
                a.lock().unwrap().push(l);
            }
        });
        tokio::spawn(async move {
            let mut lines = BufReader::new(err).lines();
            while let Ok(Some(l)) = lines.next_line().await {
                b.lock().unwrap().push(l);
            }
        });
        self.child = Some(child);
        Ok(())
    }

    /// SIGKILL, and wait for the process to end.
    pub async fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.start_kill();
            let _ = tokio::time::timeout(Duration::from_secs(10), child.wait()).await;
        }
    }

    /// Starts the same command again (after [`kill`](Self::kill)).
    pub fn restart(&mut self) -> io::Result<()> {
        self.lines.lock().unwrap().clear();
        self.start()
    }

    /// Returns whether the process has exited.
    pub fn exited(&mut self) -> bool {
        match &mut self.child {
            Some(child) => !matches!(child.try_wait(), Ok(None)),
            None => true,
        }
    }

    /// The output so far, for an error message.
    pub fn output(&self) -> String {
        self.lines.lock().unwrap().join("\n")
    }

    /// Waits until a line containing `text` was printed; returns the lines so far.
    pub async fn wait_line(&mut self, text: &str) -> io::Result<Vec<String>> {
        let deadline = Instant::now() + READY_TIMEOUT;
        loop {
            {
                let lines = self.lines.lock().unwrap();
                if lines.iter().any(|l| l.contains(text)) {
                    return Ok(lines.clone());
                }
            }
            if self.exited() || Instant::now() > deadline {
                return Err(io::Error::other(format!(
                    "{} never printed {text:?}:\n{}",
                    self.program.display(),
                    self.output()
                )));
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    /// Waits until `addr` answers a PING (polled every 10 ms, up to [`READY_TIMEOUT`]).
    pub async fn wait_answers(&mut self, addr: &str) -> io::Result<()> {
        let deadline = Instant::now() + READY_TIMEOUT;
        loop {
            if let Ok(mut c) = Conn::connect(addr, Duration::from_millis(500)).await {
                if let Ok(Ok(Reply::Status(_))) =
                    tokio::time::timeout(Duration::from_secs(1), c.call_str(&["PING"])).await
                {
                    return Ok(());
                }
            }
            if self.exited() || Instant::now() > deadline {
                return Err(io::Error::other(format!(
                    "{} {:?} never answered on {addr}:\n{}",
                    self.program.display(),
                    self.args,
                    self.output()
                )));
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }
}

/// Sends one command and returns its reply, connecting for it.
pub async fn command(addr: &str, args: &[&str]) -> io::Result<Reply> {
    let mut c = Conn::connect(addr, Duration::from_secs(5)).await?;
    tokio::time::timeout(Duration::from_secs(30), c.call_str(args))
        .await
        .map_err(|_| io::Error::other(format!("{args:?} on {addr} timed out")))?
}

/// DBSIZE of the server at `addr`.
pub async fn dbsize(addr: &str) -> io::Result<u64> {
    match command(addr, &["DBSIZE"]).await? {
        Reply::Int(n) => Ok(n as u64),
        other => Err(io::Error::other(format!("DBSIZE on {addr}: {other:?}"))),
    }
}

/// `total_commands_processed` of the server at `addr` (INFO stats).
pub async fn commands_processed(addr: &str) -> io::Result<u64> {
    let text = command(addr, &["INFO", "stats"])
        .await?
        .text()
        .unwrap_or_default();
    info_field(&text, "total_commands_processed")
        .and_then(|v| v.parse().ok())
        .ok_or_else(|| io::Error::other(format!("no total_commands_processed on {addr}")))
}

/// Every key on the server at `addr` (KEYS *).
pub async fn keys(addr: &str) -> io::Result<Vec<String>> {
    match command(addr, &["KEYS", "*"]).await? {
        Reply::Array(Some(items)) => Ok(items.iter().filter_map(Reply::text).collect()),
        other => Err(io::Error::other(format!("KEYS on {addr}: {other:?}"))),
    }
}

/// `jumpcache cluster --shards N [--replicas R]` in one process.
pub struct Cluster {
    pub proc: Proc,
    /// The router's address.
    pub addr: String,
    /// Each group's members' addresses (their own ports: DBSIZE, INFO, KEYS).
    pub groups: Vec<Vec<String>>,
}

/// Runs `start` up to three times: a port picked free can be taken (by another process, or by
/// a listener the child itself binds on port 0) before the child binds it.
macro_rules! retry {
    ($start:expr) => {{
        let mut last = None;
        for _ in 0..3 {
            match $start.await {
                Ok(v) => return Ok(v),
                Err(e) => last = Some(e),
            }
        }
        Err(last.expect("three attempts"))
    }};
}

impl Cluster {
    /// Starts `jumpcache cluster` on a free port and reads its groups' addresses.
    pub async fn start(
        bin: &Path,
        shards: usize,
        replicas: usize,
        extra: &[&str],
    ) -> io::Result<Cluster> {
        retry!(Cluster::start_once(bin, shards, replicas, extra))
    }

    async fn start_once(
        bin: &Path,
        shards: usize,
        replicas: usize,
        extra: &[&str],
    ) -> io::Result<Cluster> {
        let port = free_port();
        let mut args: Vec<String> = vec![
            "cluster".into(),
            "--port".into(),
            port.to_string(),
            "--shards".into(),
            shards.to_string(),
            "--metrics-port".into(),
            "0".into(),
        ];
        if replicas > 0 {
            args.extend(["--replicas".into(), replicas.to_string()]);
        }
        args.extend(extra.iter().map(|s| s.to_string()));
        let mut proc = Proc::spawn(bin, &args)?;
        let lines = proc.wait_line("router listening").await?;
        let mut groups = vec![Vec::new(); shards];
        for line in lines {
            // "shard 3 listening on 127.0.0.1:1234" / "shard 3 replica 1 listening on ..."
            let words: Vec<&str> = line.split_whitespace().collect();
            if words.first() == Some(&"shard") && line.contains(" listening on ") {
                let i: usize = words[1].parse().map_err(io::Error::other)?;
                groups[i].push(words.last().unwrap_or(&"").to_string());
            }
        }
        let addr = format!("127.0.0.1:{port}");
        proc.wait_answers(&addr).await?;
        Ok(Cluster { proc, addr, groups })
    }

    /// Each group's first member.
    pub fn primaries(&self) -> Vec<String> {
        self.groups.iter().map(|g| g[0].clone()).collect()
    }
}

/// A `jumpcache shard` process on a fixed port (restartable on it).
pub struct Shard {
    pub proc: Proc,
    pub addr: String,
}

impl Shard {
    /// Starts `jumpcache shard` on a free port.
    pub async fn start(bin: &Path) -> io::Result<Shard> {
        retry!(Shard::start_once(bin))
    }

    async fn start_once(bin: &Path) -> io::Result<Shard> {
        let port = free_port();
        let args: Vec<String> = vec![
            "shard".into(),
            "--port".into(),
            port.to_string(),
            "--metrics-port".into(),
            "0".into(),
        ];
        let mut proc = Proc::spawn(bin, &args)?;
        let addr = format!("127.0.0.1:{port}");
        proc.wait_answers(&addr).await?;
        Ok(Shard { proc, addr })
    }

    /// Starts it again, empty, on the same port, and waits until it answers.
    pub async fn restart(&mut self) -> io::Result<()> {
        self.proc.kill().await;
        self.proc.restart()?;
        self.proc.wait_answers(&self.addr).await
    }
}

/// `jumpcache router --shards SPEC`.
pub async fn router(bin: &Path, shards: &str, extra: &[&str]) -> io::Result<(Proc, String)> {
    retry!(router_once(bin, shards, extra))
}

async fn router_once(bin: &Path, shards: &str, extra: &[&str]) -> io::Result<(Proc, String)> {
    let port = free_port();
    let mut args: Vec<String> = vec![
        "router".into(),
        "--port".into(),
        port.to_string(),
        "--shards".into(),
        shards.into(),
        "--metrics-port".into(),
        "0".into(),
    ];
    args.extend(extra.iter().map(|s| s.to_string()));
    let mut proc = Proc::spawn(bin, &args)?;
    let addr = format!("127.0.0.1:{port}");
    proc.wait_answers(&addr).await?;
    Ok((proc, addr))
}

/// A `redis-server` without persistence.
pub async fn redis_server() -> io::Result<(Proc, String)> {
    retry!(redis_server_once())
}

async fn redis_server_once() -> io::Result<(Proc, String)> {
    let port = free_port();
    let args: Vec<String> = [
        "--port",
        &port.to_string(),
        "--bind",
        "127.0.0.1",
        "--save",
        "",
        "--appendonly",
        "no",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    let mut proc = Proc::spawn("redis-server", &args)?;
    let addr = format!("127.0.0.1:{port}");
    proc.wait_answers(&addr).await?;
    Ok((proc, addr))
}

/// twemproxy in front of `servers` (named `s0`, `s1`, ... in order), with `distribution`
/// `ketama` or `modula` and its default key hash `fnv1a_64`.
pub async fn nutcracker(
    dir: &Path,
    servers: &[String],
    distribution: &str,
) -> io::Result<(Proc, String)> {
    retry!(nutcracker_once(dir, servers, distribution))
}

async fn nutcracker_once(
    dir: &Path,
    servers: &[String],
    distribution: &str,
) -> io::Result<(Proc, String)> {
    let port = free_port();
    let conf = dir.join(format!("nutcracker-{port}.yml"));
    let mut yml = format!(
        "pool:\n  listen: 127.0.0.1:{port}\n  hash: fnv1a_64\n  distribution: {distribution}\n  \
         redis: true\n  auto_eject_hosts: false\n  preconnect: true\n  server_connections: 1\n  \
         servers:\n"
    );
    for (i, s) in servers.iter().enumerate() {
        yml += &format!("   - {s}:1 s{i}\n");
    }
    std::fs::write(&conf, yml)?;
    let args: Vec<String> = vec![
        "-c".into(),
        conf.display().to_string(),
        "-s".into(),
        free_port().to_string(),
        "-a".into(),
        "127.0.0.1".into(),
        "-o".into(),
        dir.join(format!("nutcracker-{port}.log"))
            .display()
            .to_string(),
        "-p".into(),
        dir.join(format!("nutcracker-{port}.pid"))
            .display()
            .to_string(),
    ];
    let mut proc = Proc::spawn("nutcracker", &args)?;
    let addr = format!("127.0.0.1:{port}");
    proc.wait_answers(&addr).await?;
    Ok((proc, addr))
}
