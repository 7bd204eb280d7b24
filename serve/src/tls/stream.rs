//! What a client handler needs of its stream, plain or TLS.

use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;

/// A client's byte stream: a plain TCP socket or TLS over one. Handlers are generic over
/// it, so each kind gets its own compiled copy and a plain connection does no TLS work.
pub trait ClientStream: AsyncRead + AsyncWrite + Unpin + Send + 'static {
    /// True for TLS, whose clean close is a message of its own (`close_notify`).
    const TLS: bool;

    /// Returns the TCP socket underneath (addresses for CLIENT LIST).
    fn tcp(&self) -> &TcpStream;
}

impl ClientStream for TcpStream {
    const TLS: bool = false;

    fn tcp(&self) -> &TcpStream {
        self
    }
}

impl ClientStream for tokio_rustls::server::TlsStream<TcpStream> {
    const TLS: bool = true;

    fn tcp(&self) -> &TcpStream {
        self.get_ref().0
    }
}

/// How long a closing TLS connection may take to send its `close_notify`.
const CLOSE_NOTIFY_WAIT: std::time::Duration = std::time::Duration::from_secs(1);

/// Ends a connection the server is done with: on TLS, sends `close_notify` (a client reading
/// to the end then sees a clean end, not a truncation), waiting at most a second for a
/// client that does not read; on plain TCP nothing (dropping the socket closes it).
pub async fn close<S: ClientStream>(stream: &mut S) {
    if S::TLS {
        use tokio::io::AsyncWriteExt;
        let _ = tokio::time::timeout(CLOSE_NOTIFY_WAIT, stream.shutdown()).await;
    }
}
