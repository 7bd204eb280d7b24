//! A client connection: the socket and both buffers. It knows nothing of commands.

use bytes::BytesMut;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

use crate::codec::{Decoder, Limits, Request};
use crate::encode::encode;
use crate::error::FrameError;
use crate::frame::{Frame, Protocol};

/// Read buffer's starting size: Redis reads 16 KiB at a time; 64 KiB keeps syscalls few
/// for pipelines.
const READ_CHUNK: usize = 64 * 1024;

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
        }
    }

    /// Waits for the next request; `Ok(None)` means the peer closed cleanly between requests.
    ///
    /// Cancel-safe: the only await is `read_buf`, so `select!` loses no bytes.
    ///
    /// # Errors
    /// `FrameError` on malformed input, a socket error, or a close in mid-request.
    pub async fn read_request(&mut self) -> Result<Option<Request>, FrameError> {
        loop {
            if let Some(request) = self.try_read_request()? {
                return Ok(Some(request));
            }
            if self.rbuf.capacity() - self.rbuf.len() < 4096 {
                self.rbuf.reserve(READ_CHUNK);
            }
            let read = self.stream.read_buf(&mut self.rbuf).await?;
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

    /// Returns how many reply bytes wait to be flushed.
    pub fn pending_write(&self) -> usize {
        self.wbuf.len()
    }

    /// Returns how many request bytes are buffered but not yet decoded.
    pub fn pending_read(&self) -> usize {
        self.rbuf.len()
    }

    /// Writes every queued byte in as few syscalls as the socket allows.
    ///
    /// Not cancel-safe: a cancelled flush may have sent part of the buffer.
    ///
    /// # Errors
    /// The socket's error.
    pub async fn flush(&mut self) -> std::io::Result<()> {
        if !self.wbuf.is_empty() {
            self.stream.write_all(&self.wbuf).await?;
            self.written_total += self.wbuf.len() as u64;
            self.wbuf.clear();
        }
        Ok(())
    }

    /// Returns and resets the bytes read and written since the last call, for `INFO` counters.
    pub fn take_io_counts(&mut self) -> (u64, u64) {
        let counts = (self.read_total, self.written_total);
        self.read_total = 0;
        self.written_total = 0;
        counts
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
