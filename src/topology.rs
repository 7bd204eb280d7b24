//! `jumpcache topology --router HOST:PORT status|wait`: a router's `# Topology` section, or a
//! progress bar over a resize (keys moved of the total, rate, time left) until it is done.

use std::collections::HashMap;
use std::io::Write;
use std::time::{Duration, Instant};

use bytes::BytesMut;
use protocol::reply::ReplyDecoder;
use protocol::Frame;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::cli::{TopologyAction, TopologyArgs};

/// How often `wait` asks.
const EVERY: Duration = Duration::from_millis(250);

pub async fn run(args: TopologyArgs) -> Result<(), Box<dyn std::error::Error>> {
    let mut conn = Conn::open(&args.router).await?;
    if let Some(password) = &args.password {
        if let Frame::Error(e) = conn.call(&["AUTH", password]).await? {
            return Err(String::from_utf8_lossy(&e).into_owned().into());
        }
    }
    match args.action {
        TopologyAction::Status => {
            print!("{}", conn.section().await?.0);
            Ok(())
        }
        TopologyAction::Wait => wait(&mut conn).await,
    }
}

/// Draws the bar on stderr until the router says `migration_status:idle`.
async fn wait(conn: &mut Conn) -> Result<(), Box<dyn std::error::Error>> {
    let started = Instant::now();
    let mut first_moved = None;
    loop {
        let (_, fields) = conn.section().await?;
        let number = |k: &str| {
            fields
                .get(k)
                .and_then(|v| v.parse::<u64>().ok())
                .unwrap_or(0)
        };
        let epoch = number("topology_epoch");
        if fields.get("migration_status").map(String::as_str) != Some("running") {
            eprintln!();
            println!(
                "epoch {epoch}: {} groups, idle; the last resize moved {} keys",
                number("topology_groups"),
                number("migration_keys_moved"),
            );
            return Ok(());
        }
        let moved = number("migration_keys_moved");
        let total = moved + number("migration_keys_remaining");
        let since = *first_moved.get_or_insert(moved);
        let secs = started.elapsed().as_secs_f64().max(0.001);
        let rate = (moved.saturating_sub(since)) as f64 / secs;
        let left = total.saturating_sub(moved) as f64;
        let eta = if rate > 0.0 {
            format!("{:.0}s", left / rate)
        } else {
            "?".into()
        };
        let done = if total == 0 {
            0.0
        } else {
            moved as f64 / total as f64
        };
        let width = 30;
        let filled = ((done * width as f64) as usize).min(width);
        eprint!(
            "\repoch {epoch} [{}{}] {moved}/{total} keys  {:.0} keys/s  ETA {eta}   ",
            "#".repeat(filled),
            ".".repeat(width - filled),
            rate,
        );
        std::io::stderr().flush()?;
        tokio::time::sleep(EVERY).await;
    }
}

/// One RESP connection, one request at a time.
struct Conn {
    stream: TcpStream,
    buf: BytesMut,
    decoder: ReplyDecoder,
}

impl Conn {
    async fn open(addr: &str) -> Result<Conn, Box<dyn std::error::Error>> {
        let stream = TcpStream::connect(addr)
            .await
            .map_err(|e| format!("cannot connect to {addr}: {e}"))?;
        Ok(Conn {
            stream,
            buf: BytesMut::new(),
            decoder: ReplyDecoder::default(),
        })
    }

    async fn call(&mut self, args: &[&str]) -> Result<Frame, Box<dyn std::error::Error>> {
        let mut request = BytesMut::new();
        protocol::encode::request(&mut request, args.iter().map(|a| a.as_bytes()));
        self.stream.write_all(&request).await?;
        loop {
            if let Some(raw) = self.decoder.decode(&mut self.buf)? {
                return Ok(router::shards::Reply::Raw(raw).into_frame()?);
            }
            if self.stream.read_buf(&mut self.buf).await? == 0 {
                return Err("the router closed the connection".into());
            }
        }
    }

    /// Returns the router's `# Topology` section, as text and as fields.
    async fn section(
        &mut self,
    ) -> Result<(String, HashMap<String, String>), Box<dyn std::error::Error>> {
        let text = match self.call(&["INFO", "topology"]).await? {
            Frame::Bulk(b) | Frame::Verbatim(b) => String::from_utf8_lossy(&b).into_owned(),
            Frame::Error(e) => return Err(String::from_utf8_lossy(&e).into_owned().into()),
            other => return Err(format!("unexpected reply {other:?}").into()),
        };
        let fields = text
            .lines()
            .filter_map(|l| l.trim_end().split_once(':'))
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        if !text.contains("topology_epoch") {
            return Err("no # Topology section: is this a jumpcache router?".into());
        }
        Ok((text, fields))
    }
}
