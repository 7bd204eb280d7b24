//! Raw-socket helpers for protocol edge cases.

use std::net::SocketAddr;

use bytes::BytesMut;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::STEP_TIMEOUT;

/// Encodes a request as a client would (`*N` of bulks).
pub fn request(args: &[&[u8]]) -> Vec<u8> {
    let mut out = BytesMut::new();
    protocol::encode::request(&mut out, args.iter().copied());
    out.to_vec()
}

/// A plain TCP client that writes bytes and reads whole replies.
pub struct RawClient {
    stream: TcpStream,
    buf: BytesMut,
}

impl RawClient {
    /// Connects to `addr`.
    pub async fn connect(addr: SocketAddr) -> RawClient {
        let stream = TcpStream::connect(addr).await.expect("connect");
        RawClient {
            stream,
            buf: BytesMut::new(),
        }
    }

    /// Sends `bytes` as they are.
    pub async fn send(&mut self, bytes: &[u8]) {
        self.stream.write_all(bytes).await.expect("write");
    }

    /// Sends one command and returns its raw reply.
    pub async fn call(&mut self, args: &[&[u8]]) -> Vec<u8> {
        self.send(&request(args)).await;
        self.reply().await.expect("a reply")
    }

    /// Reads one complete reply; `None` when the server closed first.
    pub async fn reply(&mut self) -> Option<Vec<u8>> {
        tokio::time::timeout(STEP_TIMEOUT, read_reply(&mut self.stream, &mut self.buf))
            .await
            .expect("reply in time")
    }

    /// Reads until the server closes, returning everything not yet consumed.
    pub async fn read_to_end(&mut self) -> Vec<u8> {
        let mut out = std::mem::take(&mut self.buf).to_vec();
        out.extend(read_to_end(&mut self.stream).await);
        out
    }

    /// Returns the socket.
    pub fn stream(&mut self) -> &mut TcpStream {
        &mut self.stream
    }
}

/// Reads one complete RESP reply from `stream`, buffering extra bytes in `buf`.
pub async fn read_reply(stream: &mut TcpStream, buf: &mut BytesMut) -> Option<Vec<u8>> {
    loop {
        if let Some(len) = reply_len(buf) {
            return Some(buf.split_to(len).to_vec());
        }
        if stream.read_buf(buf).await.ok()? == 0 {
            return None;
        }
    }
}

/// Reads until EOF (or a reset), with the step timeout.
pub async fn read_to_end(stream: &mut TcpStream) -> Vec<u8> {
    let mut out = Vec::new();
    let _ = tokio::time::timeout(STEP_TIMEOUT, stream.read_to_end(&mut out))
        .await
        .expect("close in time");
    out
}

/// Connects, sends `bytes`, and returns everything received until the server closes.
pub async fn send_raw(addr: SocketAddr, bytes: &[u8]) -> Vec<u8> {
    let mut client = RawClient::connect(addr).await;
    client.send(bytes).await;
    client.read_to_end().await
}

/// Returns the length of the first complete reply in `buf`, if it is all there.
/// Counts items still to read instead of recursing (aggregates add their children).
pub fn reply_len(buf: &[u8]) -> Option<usize> {
    let mut pos = 0;
    let mut remaining: i64 = 1;
    while remaining > 0 {
        let end = pos + buf.get(pos..)?.windows(2).position(|w| w == b"\r\n")?;
        let head = buf[pos];
        let n: i64 = std::str::from_utf8(&buf[pos + 1..end])
            .ok()?
            .parse()
            .unwrap_or(0);
        pos = end + 2;
        remaining -= 1;
        match head {
            b'$' | b'=' | b'!' if n >= 0 => {
                if buf.len() < pos + n as usize + 2 {
                    return None;
                }
                pos += n as usize + 2;
            }
            b'*' | b'~' | b'>' if n > 0 => remaining += n,
            b'%' | b'|' if n > 0 => remaining += 2 * n,
            _ => {}
        }
    }
    Some(pos)
}
