//! `/metrics`: installs the process's one metrics recorder, metrics-exporter-prometheus with
//! its own HTTP listener (an admin port apart from the RESP port), and every histogram with
//! explicit buckets: without them the exporter writes summaries, which cannot be summed
//! across routers.

use std::net::{SocketAddr, ToSocketAddrs};

use metrics_exporter_prometheus::{Matcher, PrometheusBuilder};
use router::observe::stats::SHARD_RTT;
use serve::stats::{COMMANDS_DURATION, LATENCY_BUCKETS_SECONDS};

/// Serves `/metrics` on `host:port` and describes the metrics with `describe`; returns
/// false, installing nothing, when `port` is 0.
///
/// Must run inside the tokio runtime: the listener is a task on it.
///
/// # Errors
/// The address does not resolve or cannot be bound, or a recorder is already installed.
pub fn install(host: &str, port: u16, describe: fn()) -> Result<bool, Box<dyn std::error::Error>> {
    if port == 0 {
        return Ok(false);
    }
    let addr: SocketAddr = (host, port)
        .to_socket_addrs()?
        .next()
        .ok_or_else(|| format!("--metrics-port: {host}:{port} does not resolve"))?;
    let mut builder = PrometheusBuilder::new().with_http_listener(addr);
    for name in [COMMANDS_DURATION, SHARD_RTT] {
        builder = builder
            .set_buckets_for_metric(Matcher::Full(name.to_string()), LATENCY_BUCKETS_SECONDS)?;
    }
    builder
        .install()
        .map_err(|e| format!("cannot serve /metrics on {addr}: {e}"))?;
    describe();
    tracing::info!(%addr, "metrics listening");
    println!("metrics listening on {addr}");
    Ok(true)
}
