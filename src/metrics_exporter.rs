//! The admin port: installs the process's one metrics recorder (metrics-exporter-prometheus,
//! every histogram with explicit buckets: without them the exporter writes summaries, which
//! cannot be summed across routers) and serves it with `/healthz` and `/readyz` (see
//! `admin`) on its own listener, apart from the RESP port.

use std::net::{SocketAddr, ToSocketAddrs};
use std::time::Duration;

use metrics_exporter_prometheus::{Matcher, PrometheusBuilder};
use router::observe::stats::SHARD_RTT;
use serve::stats::{COMMANDS_DURATION, LATENCY_BUCKETS_SECONDS};

/// How often the recorder drains its histograms' buffers (the exporter's own default).
const UPKEEP_INTERVAL: Duration = Duration::from_secs(5);

/// Serves `/metrics`, `/healthz` and `/readyz` on `host:port` and describes the metrics with
/// `describe`; returns false, installing nothing, when `port` is 0.
///
/// Must run inside the tokio runtime: the listener is a task on it.
///
/// # Errors
/// The address does not resolve or cannot be bound, or a recorder is already installed.
pub async fn install(
    host: &str,
    port: u16,
    describe: fn(),
) -> Result<bool, Box<dyn std::error::Error>> {
    if port == 0 {
        return Ok(false);
    }
    let addr: SocketAddr = (host, port)
        .to_socket_addrs()?
        .next()
        .ok_or_else(|| format!("--metrics-port: {host}:{port} does not resolve"))?;
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .map_err(|e| format!("cannot serve /metrics on {addr}: {e}"))?;
    let mut builder = PrometheusBuilder::new();
    for name in [COMMANDS_DURATION, SHARD_RTT] {
        builder = builder
            .set_buckets_for_metric(Matcher::Full(name.to_string()), LATENCY_BUCKETS_SECONDS)?;
    }
    let handle = builder.install_recorder()?;
    describe();
    let upkeep = handle.clone();
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(UPKEEP_INTERVAL);
        loop {
            tick.tick().await;
            upkeep.run_upkeep();
        }
    });
    tokio::spawn(crate::admin::serve(listener, handle));
    tracing::info!(%addr, "metrics listening");
    println!("metrics listening on {addr}");
    Ok(true)
}
