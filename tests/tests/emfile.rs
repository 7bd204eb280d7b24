//! Running out of file descriptors at accept: the shard's and the router's accept loops back
//! off and retry, without exiting or spinning, and serve again once descriptors are free.
//!
//! The descriptor limit is lowered on this test process with `prlimit` (util-linux), so this
//! file holds one test: nothing else runs in the process meanwhile. Skipped, with a note,
//! where `prlimit` is missing.

use std::time::{Duration, Instant};

use harness::{spawn, within, RawClient, Server, Target};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// Returns the highest descriptor number open in this process.
fn max_fd() -> u64 {
    std::fs::read_dir("/proc/self/fd")
        .unwrap()
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse().ok())
        .max()
        .unwrap_or(0)
}

/// Returns (soft, hard) RLIMIT_NOFILE of this process.
fn nofile() -> (String, String) {
    let limits = std::fs::read_to_string("/proc/self/limits").unwrap();
    let line = limits
        .lines()
        .find(|l| l.starts_with("Max open files"))
        .unwrap();
    let mut cols = line.split_whitespace().skip(3);
    (
        cols.next().unwrap().to_string(),
        cols.next().unwrap().to_string(),
    )
}

fn set_soft_nofile(soft: &str, hard: &str) -> bool {
    std::process::Command::new("prlimit")
        .arg(format!("--pid={}", std::process::id()))
        .arg(format!("--nofile={soft}:{hard}"))
        .status()
        .is_ok_and(|s| s.success())
}

/// CPU time this process has used (user + system), in clock ticks, read from `stat`: an
/// open /proc/self/stat, since there is no descriptor to spare for opening it when needed.
fn cpu_ticks(stat: &mut std::fs::File) -> u64 {
    use std::io::{Read, Seek};
    stat.rewind().unwrap();
    let mut stat_text = String::new();
    stat.read_to_string(&mut stat_text).unwrap();
    let stat = stat_text;
    let after = &stat[stat.rfind(')').unwrap() + 2..];
    let fields: Vec<&str> = after.split_whitespace().collect();
    fields[11].parse::<u64>().unwrap() + fields[12].parse::<u64>().unwrap()
}

async fn survives_emfile(server: &Server) {
    let (soft, hard) = nofile();
    let mut stat = std::fs::File::open("/proc/self/stat").unwrap();
    // The limit is on descriptor numbers: allow a few above the highest in use, then fill
    // every free number with spares, given up one at a time for the test's client sockets,
    // so that none is free when the server tries to accept.
    assert!(set_soft_nofile(&(max_fd() + 6).to_string(), &hard));
    let mut spares = Vec::new();
    while let Ok(f) = std::fs::File::open("/dev/null") {
        spares.push(f);
    }
    assert!(spares.len() >= 4, "{} spare descriptors", spares.len());
    let mut clients = Vec::new();
    for _ in 0..4 {
        drop(spares.pop());
        // The kernel completes the handshake; the server cannot accept: EMFILE.
        let mut client = TcpStream::connect(server.addr()).await.unwrap();
        client.write_all(b"PING\r\n").await.unwrap();
        clients.push(client);
    }
    let ticks = cpu_ticks(&mut stat);
    let started = Instant::now();
    let mut buf = [0u8; 64];
    let read = tokio::time::timeout(Duration::from_secs(1), clients[0].read(&mut buf)).await;
    assert!(read.is_err(), "not accepted while out of descriptors");
    let used = cpu_ticks(&mut stat) - ticks;
    // 100 ticks a second: a spinning accept loop would burn about one core.
    assert!(
        used < 30,
        "{used} ticks of CPU in {:?} while out of fds",
        started.elapsed()
    );
    drop(stat);
    assert!(set_soft_nofile(&soft, &hard));
    // Descriptors are back: the waiting clients are accepted and answered.
    for client in &mut clients {
        let mut got = Vec::new();
        while !got.ends_with(b"\r\n") {
            let n = within(client.read(&mut buf)).await.unwrap();
            assert!(n > 0, "answered, not closed");
            got.extend_from_slice(&buf[..n]);
        }
        assert_eq!(got, b"+PONG\r\n");
    }
    let mut fresh = RawClient::connect(server.addr()).await;
    assert_eq!(fresh.call(&[b"PING"]).await, b"+PONG\r\n");
}

#[tokio::test]
async fn accept_loops_survive_running_out_of_file_descriptors() {
    if !set_soft_nofile(&nofile().0, &nofile().1) {
        println!("note: prlimit is missing or not permitted; skipping the EMFILE test");
        return;
    }
    for target in [Target::Shard, Target::Cluster] {
        let server = spawn(target).await;
        survives_emfile(&server).await;
        // Released before the next target counts the descriptors in use.
        server.stop().await;
    }
}
