//! A client connection: the socket and both buffers. It knows nothing of commands.
//!
//! It enforces the per-connection limits, each with O(1) work per read or per reply:
//! - `client-query-buffer-limit`: checked after each read, against the bytes of the request
//!   not yet complete (what Redis calls the query buffer);
//! - `client-output-buffer-limit`: checked by [`Connection::relieve`] after replies are
//!   queued, once a non-blocking write has handed the kernel what it takes;
//! - `timeout`: a read, or a write that makes no progress, waits at most that long.
//!
//! Back-pressure: a handler answers what is buffered, then [`Connection::flush`]es before it
//! reads more, so a client that does not read its replies stops being read from.

use std::future::poll_fn;
use std::pin::Pin;
use std::sync::atomic::Ordering::Relaxed;
use std::task::Poll;

use bytes::{Buf, BytesMut};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

use protocol::codec::{Decoder, Limits, Request, UNAUTHENTICATED_QUERY_BUFFER};
use protocol::encode::encode;
use protocol::error::FrameError;
use protocol::frame::{Frame, Protocol};

use crate::stats::Stats;

/// Read buffer's starting size: Redis reads 16 KiB at a time; 64 KiB keeps syscalls few
/// for pipelines.
const READ_CHUNK: usize = 64 * 1024;

/// Queued reply bytes that make [`Connection::relieve`] try a write mid-batch (or the output
/// limit, if smaller), so one pipeline of big values is not all held in memory.
const FLUSH_AT: usize = 1024 * 1024;

/// A RESP connection with buffered, batched writes.
#[derive(Debug)]
pub struct Connection<S> {
    stream: S,
    rbuf: BytesMut,
    wbuf: BytesMut,
    decoder: Decoder,
    protocol: Protocol,
    read_total: u64,
    written_total: u64,
    limits: Limits,
    /// `client-query-buffer-limit`, or 1 MiB before AUTH.
    query_limit: usize,
    /// Queued reply bytes past which `relieve` writes.
    flush_at: usize,
}

impl<S: AsyncRead + AsyncWrite + Unpin> Connection<S> {
    /// Wraps `stream`, decoding requests with `limits`.
    pub fn new(stream: S, limits: Limits) -> Connection<S> {
        Connection {
            stream,
            rbuf: BytesMut::with_capacity(READ_CHUNK),
            wbuf: BytesMut::with_capacity(READ_CHUNK),
            decoder: Decoder::new(limits),
            protocol: Protocol::Resp2,
            read_total: 0,
            written_total: 0,
            limits,
            query_limit: limits.max_query_buffer,
            flush_at: FLUSH_AT.min(limits.max_output_buffer).max(1),
        }
    }

    /// Changes `timeout` (CONFIG SET): the idle limit of the next reads and writes.
    pub fn set_idle_timeout(&mut self, idle: Option<std::time::Duration>) {
        self.limits.idle_timeout = idle;
    }

    /// Applies (`false`) or lifts (`true`) Redis's limits for clients that have not
    /// authenticated: 10 arguments, 16 KiB bulks, a 1 MiB query buffer.
    pub fn set_authenticated(&mut self, authenticated: bool) {
        self.decoder.set_authenticated(authenticated);
        self.query_limit = if authenticated {
            self.limits.max_query_buffer
        } else {
            self.limits
                .max_query_buffer
                .min(UNAUTHENTICATED_QUERY_BUFFER)
        };
    }

    /// Waits for the next request; `Ok(None)` means the peer closed cleanly between requests.
    ///
    /// Cancel-safe: the only await is `read_buf`, so `select!` loses no bytes.
    ///
    /// # Errors
    /// `FrameError` on malformed input, a socket error, or a close in mid-request;
    /// `QueryBufferLimit` when the request being received passes `client-query-buffer-limit`;
    /// `Idle` when nothing arrives for `timeout`.
    pub async fn read_request(&mut self) -> Result<Option<Request>, FrameError> {
        loop {
            if let Some(request) = self.try_read_request()? {
                return Ok(Some(request));
            }
            // Only an incomplete request is left in the buffer: that is Redis's query buffer.
            if self.rbuf.len() > self.query_limit {
                return Err(FrameError::QueryBufferLimit);
            }
            if self.rbuf.capacity() - self.rbuf.len() < 4096 {
                self.rbuf.reserve(READ_CHUNK);
            }
            let read = match self.limits.idle_timeout {
                None => self.stream.read_buf(&mut self.rbuf).await?,
                Some(idle) => tokio::time::timeout(idle, self.stream.read_buf(&mut self.rbuf))
                    .await
                    .map_err(|_| FrameError::Idle)??,
            };
            if read == 0 {
                return if self.rbuf.is_empty() {
                    Ok(None)
                } else {
                    Err(FrameError::Truncated)
                };
            }
            self.read_total += read as u64;
        }
    }

    /// Returns a request the client has already sent, without waiting for more: one that is
    /// buffered or whose bytes are in the socket now; `Ok(None)` when there is none. A
    /// draining connection answers what it was sent before the shutdown this way.
    ///
    /// # Errors
    /// As [`read_request`](Self::read_request).
    pub async fn read_sent_request(&mut self) -> Result<Option<Request>, FrameError> {
        // `timeout` polls the read once before it looks at the (already passed) deadline.
        tokio::time::timeout(std::time::Duration::ZERO, self.read_request())
            .await
            .unwrap_or(Ok(None))
    }

    /// Decodes a request that is already buffered, without touching the socket.
    ///
    /// # Errors
    /// `FrameError::Protocol` on malformed input.
    pub fn try_read_request(&mut self) -> Result<Option<Request>, FrameError> {
        self.decoder.decode(&mut self.rbuf)
    }

    /// Queues `frame`; nothing is sent until [`flush`](Self::flush).
    pub fn write_frame(&mut self, frame: &Frame) {
        encode(frame, self.protocol, &mut self.wbuf);
    }

    /// Queues bytes that are already RESP (a shard's reply, forwarded unchanged).
    pub fn write_raw(&mut self, bytes: &[u8]) {
        self.wbuf.extend_from_slice(bytes);
    }

    /// Writes every queued byte in as few syscalls as the socket allows, waiting for the
    /// client to take them: this wait is the back-pressure on a client that does not read.
    ///
    /// Not cancel-safe: a cancelled flush may have sent part of the buffer.
    ///
    /// # Errors
    /// The socket's error; `TimedOut` when the client takes nothing for `timeout`.
    pub async fn flush(&mut self) -> std::io::Result<()> {
        while !self.wbuf.is_empty() {
            let n = match self.limits.idle_timeout {
                None => self.stream.write(&self.wbuf).await?,
                Some(idle) => tokio::time::timeout(idle, self.stream.write(&self.wbuf))
                    .await
                    .map_err(|_| std::io::Error::from(std::io::ErrorKind::TimedOut))??,
            };
            if n == 0 {
                return Err(std::io::ErrorKind::WriteZero.into());
            }
            self.consume_written(n);
        }
        self.stream.flush().await
    }

    /// Called after queuing replies: once enough are queued, hands the kernel what it takes
    /// without waiting, then checks `client-output-buffer-limit` on what is left.
    ///
    /// O(1) when little is queued. Not cancel-safe in the way [`flush`](Self::flush) is not.
    ///
    /// # Errors
    /// The socket's error; `OutputBufferLimit` when the client has not taken its replies
    /// and they pass the limit: close it without a reply, as Redis does.
    pub async fn relieve(&mut self) -> Result<(), FrameError> {
        if self.wbuf.len() < self.flush_at {
            return Ok(());
        }
        self.write_ready().await?;
        if self.wbuf.len() > self.limits.max_output_buffer {
            return Err(FrameError::OutputBufferLimit);
        }
        Ok(())
    }

    /// Writes what the socket accepts right now, without waiting for it to accept more.
    async fn write_ready(&mut self) -> std::io::Result<()> {
        while !self.wbuf.is_empty() {
            let (stream, wbuf) = (&mut self.stream, &self.wbuf);
            let polled = poll_fn(|cx| match Pin::new(&mut *stream).poll_write(cx, wbuf) {
                Poll::Ready(r) => Poll::Ready(Some(r)),
                Poll::Pending => Poll::Ready(None),
            })
            .await;
            match polled {
                Some(Ok(0)) => return Err(std::io::ErrorKind::WriteZero.into()),
                Some(Ok(n)) => self.consume_written(n),
                Some(Err(e)) => return Err(e),
                None => break,
            }
        }
        Ok(())
    }

    fn consume_written(&mut self, n: usize) {
        self.written_total += n as u64;
        if n == self.wbuf.len() {
            self.wbuf.clear();
        } else {
            self.wbuf.advance(n);
        }
    }

    /// Adds the bytes read and written since the last call to `stats`
    /// (`total_net_input_bytes`, `total_net_output_bytes`). Counted per batch, not per
    /// read or write, so the shared counters are touched once per batch.
    pub fn count_io(&mut self, stats: &Stats) {
        let read = std::mem::take(&mut self.read_total);
        let written = std::mem::take(&mut self.written_total);
        stats.net_input_bytes.fetch_add(read, Relaxed);
        stats.net_output_bytes.fetch_add(written, Relaxed);
    }

    /// Returns the protocol replies are encoded in.
    pub fn protocol(&self) -> Protocol {
        self.protocol
    }

    /// Switches the protocol for the replies that follow (`HELLO`).
    pub fn set_protocol(&mut self, protocol: Protocol) {
        self.protocol = protocol;
    }

    /// Returns the socket, for shutdown and peer address.
    pub fn stream(&mut self) -> &mut S {
        &mut self.stream
    }
}
