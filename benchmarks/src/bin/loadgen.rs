//! `loadgen`: GET/SET load against any Redis-protocol server, open-loop at a target rate
//! (latency from each request's intended send time) or closed-loop, with an HDR histogram.
//!
//!     cargo run --release -p jumpcache-benchmarks --bin loadgen -- --help

use std::time::Duration;

use clap::Parser;
use jumpcache_benchmarks::keys::parse_dist;
use jumpcache_benchmarks::loadgen::{run, Config};

#[derive(Parser, Debug)]
#[command(
    name = "loadgen",
    about = "GET/SET load against a Redis-protocol server (a jumpcache router, a shard, twemproxy, redis-server)",
    long_about = "GET/SET load against a Redis-protocol server (a jumpcache router, a shard, \
twemproxy, redis-server).\n\nWith --rate the load is open-loop: every connection sends on its own \
schedule and a request's latency counts from when it should have been sent, so a stall shows \
in the percentiles instead of hiding (coordinated omission). Without --rate it is closed-loop: \
each connection sends as soon as its previous reply arrives (the most the server does with that \
many clients). Latencies go into an HDR histogram (µs, 3 significant digits). The first \
--timer-slack-us of a request's send lateness is the generator's timer (tokio's tick is 1 ms) \
and is not counted; the lateness itself is reported."
)]
struct Args {
    /// Server address, host:port.
    #[arg(long, default_value = "127.0.0.1:6379")]
    addr: String,
    /// Connections (each has one request in flight).
    #[arg(short, long, default_value_t = 16)]
    connections: usize,
    /// Seconds to run.
    #[arg(short, long, default_value_t = 10.0)]
    duration: f64,
    /// Stop after this many requests (or at --duration, the earlier).
    #[arg(short = 'n', long)]
    requests: Option<u64>,
    /// Target requests per second in all (open loop); without it, closed loop.
    #[arg(short, long)]
    rate: Option<f64>,
    /// Number of distinct keys.
    #[arg(short, long, default_value_t = 100_000)]
    keys: u64,
    /// Key names are PREFIX followed by the key's number.
    #[arg(long, default_value = "key:")]
    key_prefix: String,
    /// Key distribution: uniform, zipf[:S] (default S 0.99) or hotset[:FRACTION:PROBABILITY]
    /// (default 0.2:0.8: 20% of the keys get 80% of the requests).
    #[arg(long, default_value = "uniform")]
    dist: String,
    /// Share of GETs (0..1); the rest are SETs.
    #[arg(long, default_value_t = 0.9)]
    get_ratio: f64,
    /// Bytes per SET value.
    #[arg(long, default_value_t = 64)]
    value_size: usize,
    /// SET every key once first (pipelined, not measured).
    #[arg(long)]
    preload: bool,
    /// A request not answered within this many milliseconds counts as an error.
    #[arg(long, default_value_t = 2000)]
    timeout_ms: u64,
    /// Write a timeline CSV (bins of --bin-ms) to this file.
    #[arg(long)]
    timeline: Option<std::path::PathBuf>,
    /// Timeline bin width in milliseconds.
    #[arg(long, default_value_t = 100)]
    bin_ms: u64,
    /// Check for stale reads: versioned values, each key written by one connection; a GET
    /// older than an acknowledged SET is stale, a nil after one is lost.
    #[arg(long)]
    check_stale: bool,
    /// Seed of the key and command choices.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Open loop: microseconds of send lateness put down to the generator's timer (tokio's
    /// timers tick in whole milliseconds) and not counted; lateness beyond counts in full.
    #[arg(long, default_value_t = 1000)]
    timer_slack_us: u64,
    /// No progress bar.
    #[arg(long)]
    quiet: bool,
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args = Args::parse();
    let dist = parse_dist(&args.dist)?;
    if !(0.0..=1.0).contains(&args.get_ratio) {
        return Err("--get-ratio must be within 0..1".into());
    }
    let config = Config {
        addr: args.addr,
        connections: args.connections.max(1),
        duration: Duration::from_secs_f64(args.duration),
        requests: args.requests,
        rate: args.rate,
        keys: args.keys,
        key_prefix: args.key_prefix,
        dist,
        get_ratio: args.get_ratio,
        value_size: args.value_size,
        preload: args.preload,
        preloaded: false,
        timeout: Duration::from_millis(args.timeout_ms),
        timeline: args
            .timeline
            .as_ref()
            .map(|_| Duration::from_millis(args.bin_ms)),
        check_stale: args.check_stale,
        seed: args.seed,
        timer_slack: Duration::from_micros(args.timer_slack_us),
        progress: !args.quiet,
    };
    let mode = match config.rate {
        Some(r) => format!("open loop at {r:.0}/s"),
        None => "closed loop".into(),
    };
    eprintln!(
        "{} on {} connections, {} over {} keys, {:.0}% GET",
        mode,
        config.connections,
        config.dist,
        config.keys,
        config.get_ratio * 100.0
    );
    let report = run(config).await?;
    print!("{}", report.summary());
    if let Some(path) = args.timeline {
        let mut csv = String::from("t_ms,ok,errors,misses,lost,stale,p50_us,p99_us\n");
        for (i, bin) in report.timeline.iter().enumerate() {
            let c = &bin.counts;
            csv += &format!(
                "{},{},{},{},{},{},{},{}\n",
                i as u64 * args.bin_ms,
                c.ok,
                c.errors,
                c.misses,
                c.lost,
                c.stale,
                bin.quantile_us(0.5),
                bin.quantile_us(0.99)
            );
        }
        std::fs::write(&path, csv)?;
        eprintln!("timeline written to {}", path.display());
    }
    Ok(())
}
