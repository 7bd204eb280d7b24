//! The admin port (`--metrics-port`): `/metrics`, `/healthz` and `/readyz`, for Prometheus and
//! for an orchestrator's probes, answered by a small HTTP/1.1 responder apart from the RESP
//! port and its data path.
//!
//! - `/healthz`: 200 while the process runs (its runtime answers).
//! - `/readyz`: 200 while every server in the process is ready (`serve::admin::ready`: a
//!   router has had an up, health-checked member in every group, and has one in some group
//!   still; a shard is serving), 503
//!   before that and from the moment a shutdown signal arrives (so no new traffic is sent
//!   to a draining process).
//! - `/metrics`: asks every server to copy its counters into the recorder
//!   (`serve::admin::refresh`), then renders the recorder: a scrape sees every command
//!   answered before it.
//!
//! One request per connection (`Connection: close`): probes and scrapes open their own.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use metrics_exporter_prometheus::PrometheusHandle;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Semaphore;

/// Longest request head read; probes and Prometheus send a few hundred bytes.
const MAX_HEAD: usize = 8 * 1024;
/// Time a client has to send its request head.
const READ_TIMEOUT: Duration = Duration::from_secs(5);
/// Admin connections served at once; more wait in the listen backlog.
const MAX_CONNECTIONS: usize = 64;

/// Set once a shutdown signal arrived: `/readyz` answers 503 from then on.
static DRAINING: AtomicBool = AtomicBool::new(false);

/// Marks the process as draining: `/readyz` fails from now on.
pub fn set_draining() {
    DRAINING.store(true, Ordering::Relaxed);
}

/// Answers admin requests on `listener` for as long as the runtime runs.
///
/// Accept errors (out of descriptors) are retried after a pause, never fatal.
pub async fn serve(listener: TcpListener, metrics: PrometheusHandle) {
    let slots = Arc::new(Semaphore::new(MAX_CONNECTIONS));
    let metrics = Arc::new(metrics);
    loop {
        // invariant: the semaphore is never closed.
        let slot = slots.clone().acquire_owned().await.expect("open semaphore");
        let stream = match listener.accept().await {
            Ok((stream, _)) => stream,
            Err(e) => {
                tracing::debug!(error = %e, "admin accept failed");
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        let metrics = metrics.clone();
        tokio::spawn(async move {
            if let Err(e) = answer(stream, &metrics).await {
                tracing::debug!(error = %e, "admin request failed");
            }
            drop(slot);
        });
    }
}

/// Reads one request head and writes its response.
async fn answer(mut stream: TcpStream, metrics: &PrometheusHandle) -> std::io::Result<()> {
    let head = match tokio::time::timeout(READ_TIMEOUT, read_head(&mut stream)).await {
        Ok(head) => head?,
        Err(_) => return Ok(()),
    };
    let (status, content_type, body) = match route(&head) {
        Route::Metrics => {
            serve::admin::refresh().await;
            (
                "200 OK",
                "text/plain; version=0.0.4; charset=utf-8",
                metrics.render(),
            )
        }
        Route::Healthz => ("200 OK", "text/plain", "ok\n".to_string()),
        Route::Readyz if is_ready() => ("200 OK", "text/plain", "ready\n".to_string()),
        Route::Readyz => (
            "503 Service Unavailable",
            "text/plain",
            "not ready\n".to_string(),
        ),
        Route::NotFound => ("404 Not Found", "text/plain", "not found\n".to_string()),
        Route::BadMethod => (
            "405 Method Not Allowed",
            "text/plain",
            "GET only\n".to_string(),
        ),
        Route::BadRequest => ("400 Bad Request", "text/plain", "bad request\n".to_string()),
    };
    let head_only = head.starts_with(b"HEAD ");
    let mut response = format!(
        "HTTP/1.1 {status}\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\n\
         Connection: close\r\n\r\n",
        body.len()
    )
    .into_bytes();
    if !head_only {
        response.extend_from_slice(body.as_bytes());
    }
    stream.write_all(&response).await?;
    stream.shutdown().await
}

fn is_ready() -> bool {
    !DRAINING.load(Ordering::Relaxed) && serve::admin::ready()
}

/// Reads until the blank line that ends a request head, at most [`MAX_HEAD`] bytes.
async fn read_head(stream: &mut TcpStream) -> std::io::Result<Vec<u8>> {
    let mut head = Vec::with_capacity(512);
    let mut buf = [0u8; 1024];
    while !head.windows(4).any(|w| w == b"\r\n\r\n") && head.len() < MAX_HEAD {
        let n = stream.read(&mut buf).await?;
        if n == 0 {
            break;
        }
        head.extend_from_slice(&buf[..n]);
    }
    Ok(head)
}

/// What a request asks for.
#[derive(Debug, PartialEq, Eq)]
enum Route {
    Metrics,
    Healthz,
    Readyz,
    NotFound,
    BadMethod,
    BadRequest,
}

/// Returns the route of a request head's first line (`GET /readyz HTTP/1.1`).
fn route(head: &[u8]) -> Route {
    let line = head
        .split(|&b| b == b'\r' || b == b'\n')
        .next()
        .unwrap_or(&[]);
    let mut parts = line.split(|&b| b == b' ');
    let (Some(method), Some(target)) = (parts.next(), parts.next()) else {
        return Route::BadRequest;
    };
    if method != b"GET" && method != b"HEAD" {
        return Route::BadMethod;
    }
    let path = target.split(|&b| b == b'?').next().unwrap_or(target);
    match path {
        b"/metrics" => Route::Metrics,
        b"/healthz" => Route::Healthz,
        b"/readyz" => Route::Readyz,
        _ => Route::NotFound,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_are_routed_by_method_and_path_without_the_query() {
        let cases: [(&[u8], Route); 7] = [
            (b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n", Route::Metrics),
            (b"GET /healthz HTTP/1.0\r\n\r\n", Route::Healthz),
            (b"HEAD /readyz?verbose HTTP/1.1\r\n\r\n", Route::Readyz),
            (b"GET / HTTP/1.1\r\n\r\n", Route::NotFound),
            (b"POST /metrics HTTP/1.1\r\n\r\n", Route::BadMethod),
            (b"GET\r\n\r\n", Route::BadRequest),
            (b"", Route::BadRequest),
        ];
        for (head, want) in cases {
            assert_eq!(route(head), want, "{}", String::from_utf8_lossy(head));
        }
    }
}
