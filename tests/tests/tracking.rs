//! Client-side caching on a shard: CLIENT TRACKING's replies and invalidation messages are
//! redis-server's, byte for byte and in the same order with the replies; expiry, eviction and
//! a bounded table invalidate too.

use harness::{reply_len, request, spawn_shard, spawn_shard_with, within, RedisServer};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

trait Stream: AsyncRead + AsyncWrite + Unpin + Send {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send> Stream for T {}

/// A connection that reads one frame at a time, pushes included.
struct Conn {
    stream: Box<dyn Stream>,
    buf: Vec<u8>,
}

impl Conn {
    async fn tcp(addr: std::net::SocketAddr) -> Conn {
        let stream = tokio::net::TcpStream::connect(addr).await.expect("connect");
        Conn {
            stream: Box::new(stream),
            buf: Vec::new(),
        }
    }

    async fn unix(path: &std::path::Path) -> Conn {
        let stream = tokio::net::UnixStream::connect(path)
            .await
            .expect("connect");
        Conn {
            stream: Box::new(stream),
            buf: Vec::new(),
        }
    }

    async fn frame(&mut self) -> Vec<u8> {
        within(async {
            loop {
                if let Some(n) = reply_len(&self.buf) {
                    return self.buf.drain(..n).collect();
                }
                let mut chunk = [0u8; 16384];
                let n = self.stream.read(&mut chunk).await.expect("read");
                assert!(n > 0, "closed");
                self.buf.extend_from_slice(&chunk[..n]);
            }
        })
        .await
    }

    /// Sends a command; returns the frames read up to its reply: the pushes before it, then
    /// the reply (pushes after it are read with the next command).
    async fn step(&mut self, args: &[&[u8]]) -> Vec<Vec<u8>> {
        self.stream.write_all(&request(args)).await.expect("write");
        let mut frames = Vec::new();
        loop {
            let frame = self.frame().await;
            let push = is_push(&frame);
            frames.push(frame);
            if !push {
                return frames;
            }
        }
    }

    async fn id(&mut self) -> u64 {
        let reply = self.step(&[b"CLIENT", b"ID"]).await.pop().expect("reply");
        std::str::from_utf8(&reply[1..reply.len() - 2])
            .expect("utf8")
            .parse()
            .expect("id")
    }
}

/// A RESP3 push, or a RESP2 pub/sub message (what a subscribed RESP2 connection is sent).
fn is_push(frame: &[u8]) -> bool {
    frame.starts_with(b">") || frame.starts_with(b"*3\r\n$7\r\nmessage\r\n")
}

/// `conn: command`, with `{a}`/`{r}` for a connection's client id; a leading `~` compares
/// the reply with the client ids written as `ID`, a leading `!` does not compare it. After
/// each step that changes a key, the other connections' pending messages are read by PING
/// (a message queued before a command's reply is written ahead of it, by both servers).
const SCRIPT: &str = r#"
a: !HELLO 3
b: PING
a: CLIENT TRACKINGINFO
a: CLIENT GETREDIR
a: CLIENT TRACKING on
a: CLIENT TRACKINGINFO
a: CLIENT GETREDIR
a: GET k
a: SET k 1
a: PING
a: GET k
b: SET k 2
a: PING
a: GET k
a: MSET k 3 j 4
a: MGET k j
b: MSET j 5 k 6
a: PING
a: MGET k j
a: HGET h f
b: HSET h f v
a: PING
a: GET k
b: FLUSHALL
a: PING
a: CLIENT TRACKING on BCAST
a: CLIENT TRACKING off
a: CLIENT TRACKINGINFO
a: CLIENT GETREDIR
a: CLIENT TRACKING on BCAST PREFIX a PREFIX ab
a: CLIENT TRACKING on PREFIX a
a: CLIENT TRACKING on OPTIN OPTOUT
a: CLIENT TRACKING on BCAST OPTIN
a: CLIENT TRACKING on REDIRECT 999999
a: CLIENT TRACKING on REDIRECT x
a: CLIENT TRACKING on FOO
a: CLIENT TRACKING maybe
a: CLIENT TRACKING
a: CLIENT TRACKING on extra
a: CLIENT CACHING yes
a: CLIENT CACHING maybe
a: CLIENT CACHING
a: CLIENT GETREDIR x
a: CLIENT TRACKINGINFO x
a: CLIENT TRACKING on OPTIN
a: CLIENT TRACKING on OPTOUT
a: CLIENT CACHING no
a: CLIENT CACHING yes
a: CLIENT TRACKINGINFO
a: CLIENT CACHING maybe
a: GET i1
a: CLIENT CACHING yes
a: GET i2
a: GET i3
b: MSET i1 1 i2 2 i3 3
a: PING
a: MULTI
a: CLIENT CACHING yes
a: GET i4
a: EXEC
b: SET i4 x
a: PING
a: CLIENT TRACKING off
a: CLIENT TRACKING on OPTOUT
a: GET o1
a: CLIENT CACHING no
a: CLIENT TRACKINGINFO
a: GET o2
a: GET o3
b: MSET o1 1 o2 2 o3 3
a: PING
a: CLIENT TRACKING off
a: CLIENT TRACKING on NOLOOP
a: CLIENT TRACKINGINFO
a: GET n
a: SET n 1
a: PING
b: SET n 2
a: PING
a: CLIENT TRACKING off
a: CLIENT TRACKING on BCAST PREFIX p PREFIX q NOLOOP
a: CLIENT TRACKINGINFO
b: SET pa 1
a: PING
b: MSET pb 1 qc 2 zz 3 pd 4
a: PING
a: SET pe 1
a: PING
a: CLIENT TRACKING on BCAST PREFIX r
a: CLIENT TRACKINGINFO
a: CLIENT TRACKING on BCAST PREFIX pq
a: CLIENT TRACKING on BCAST PREFIX p
b: FLUSHALL
a: PING
a: CLIENT TRACKING off
a: CLIENT TRACKING on BCAST
a: CLIENT TRACKINGINFO
b: SET any 1
a: PING
a: CLIENT TRACKING off
r: SUBSCRIBE __redis__:invalidate
a: ~CLIENT TRACKING on REDIRECT {r}
a: ~CLIENT TRACKINGINFO
a: ~CLIENT GETREDIR
a: GET x
b: SET x 1
r: PING
a: GET x
b: FLUSHALL
r: PING
r: GET x
r: CLIENT ID
r: UNSUBSCRIBE
r: UNSUBSCRIBE
r: SUBSCRIBE c1
r: UNSUBSCRIBE c2
r: UNSUBSCRIBE c1
b: SUBSCRIBE c
b: PING hi
b: RESET
a: !HELLO 3
a: ~CLIENT TRACKING on REDIRECT {b}
a: GET y
b: SET y 1
b: PING
a: PING
a: GET y
a: RESET
a: CLIENT TRACKINGINFO
a: CONFIG GET tracking-table-max-keys
a: CONFIG SET tracking-table-max-keys -1
a: CONFIG SET tracking-table-max-keys x
a: COMMAND INFO subscribe unsubscribe
"#;

/// Runs [`SCRIPT`] on three connections (a, b, r) and returns each step's frames.
async fn transcript(mut open: impl FnMut() -> futures_conn::Open) -> Vec<(String, Vec<Vec<u8>>)> {
    let mut conns = [open().await, open().await, open().await];
    let mut ids = [0u64; 3];
    for (i, c) in conns.iter_mut().enumerate() {
        ids[i] = c.id().await;
    }
    let mut out = Vec::new();
    for line in SCRIPT.lines().filter(|l| !l.trim().is_empty()) {
        let (who, cmd) = line.split_once(": ").expect("conn: command");
        let i = match who {
            "a" => 0,
            "b" => 1,
            _ => 2,
        };
        let (mode, cmd) = match cmd.as_bytes()[0] {
            b'!' | b'~' => (cmd.as_bytes()[0], &cmd[1..]),
            _ => (b' ', cmd),
        };
        let cmd = cmd
            .replace("{a}", &ids[0].to_string())
            .replace("{b}", &ids[1].to_string())
            .replace("{r}", &ids[2].to_string());
        let args: Vec<&[u8]> = cmd.split(' ').map(str::as_bytes).collect();
        let mut frames = conns[i].step(&args).await;
        if mode == b'!' {
            frames.clear();
        }
        if mode == b'~' {
            for f in &mut frames {
                let mut text = String::from_utf8_lossy(f).into_owned();
                for id in ids {
                    if text == format!(":{id}\r\n") {
                        text = ":ID\r\n".into();
                    }
                    text = text.replace(&format!("redirect\r\n:{id}\r\n"), "redirect\r\n:ID\r\n");
                }
                *f = text.into_bytes();
            }
        }
        out.push((line.to_string(), frames));
    }
    out
}

mod futures_conn {
    /// A connection being opened.
    pub type Open = std::pin::Pin<Box<dyn std::future::Future<Output = super::Conn> + Send>>;
}

#[tokio::test]
async fn tracking_replies_and_pushes_match_redis_server() {
    let Some(redis) = RedisServer::start().await else {
        return;
    };
    let shard = spawn_shard().await;
    let socket = redis.socket().to_path_buf();
    let want = transcript(|| {
        let socket = socket.clone();
        Box::pin(async move { Conn::unix(&socket).await })
    })
    .await;
    let addr = shard.addr();
    let got = transcript(|| Box::pin(Conn::tcp(addr))).await;
    for ((line, want), (_, got)) in want.iter().zip(&got) {
        let show = |frames: &Vec<Vec<u8>>| {
            frames
                .iter()
                .map(|f| String::from_utf8_lossy(f).into_owned())
                .collect::<Vec<_>>()
        };
        assert_eq!(show(got), show(want), "{line}");
    }
    shard.stop().await;
}

/// Reads frames on `conn` until an invalidation naming `key` arrives.
async fn until_invalidated(conn: &mut Conn, key: &str) {
    let want = format!("$10\r\ninvalidate\r\n*1\r\n${}\r\n{key}\r\n", key.len());
    loop {
        let frame = conn.frame().await;
        if String::from_utf8_lossy(&frame).contains(&want) {
            return;
        }
    }
}

/// Reads the next frame, which must be the invalidation of `key`.
async fn until_invalidated_next(conn: &mut Conn, key: &str) {
    let want = format!(
        ">2\r\n$10\r\ninvalidate\r\n*1\r\n${}\r\n{key}\r\n",
        key.len()
    );
    assert_eq!(String::from_utf8_lossy(&conn.frame().await), want);
}

#[tokio::test]
async fn expiry_invalidates_and_fails_exec_on_a_watched_key() {
    let shard = spawn_shard().await;
    let mut reader = Conn::tcp(shard.addr()).await;
    let mut writer = Conn::tcp(shard.addr()).await;
    reader.step(&[b"HELLO", b"3"]).await;
    reader.step(&[b"CLIENT", b"TRACKING", b"on"]).await;
    writer.step(&[b"SET", b"e", b"1", b"PX", b"50"]).await;
    writer.step(&[b"WATCH", b"e"]).await;
    let read = reader.step(&[b"GET", b"e"]).await;
    assert_eq!(read, [b"$1\r\n1\r\n".to_vec()]);
    // Nobody touches the key again: active expiry removes it, and the reader is told.
    until_invalidated(&mut reader, "e").await;
    writer.step(&[b"MULTI"]).await;
    writer.step(&[b"SET", b"e", b"2"]).await;
    assert_eq!(writer.step(&[b"EXEC"]).await, [b"*-1\r\n".to_vec()]);
    shard.stop().await;
}

#[tokio::test]
async fn eviction_and_a_full_table_invalidate() {
    let shard = spawn_shard_with(server::Config {
        max_memory: 200_000,
        ..server::Config::default()
    })
    .await;
    let mut reader = Conn::tcp(shard.addr()).await;
    let mut writer = Conn::tcp(shard.addr()).await;
    reader.step(&[b"HELLO", b"3"]).await;
    reader.step(&[b"CLIENT", b"TRACKING", b"on"]).await;
    writer.step(&[b"SET", b"old", b"v"]).await;
    reader.step(&[b"GET", b"old"]).await;
    // Far more than the bound: `old`, least recently used, is evicted on the way.
    let value = vec![b'x'; 1000];
    for i in 0..1000 {
        let key = format!("fill{i}");
        writer.step(&[b"SET", key.as_bytes(), &value]).await;
    }
    until_invalidated(&mut reader, "old").await;
    // A table of 2 keys: the third read pushes one of the first two out.
    writer
        .step(&[b"CONFIG", b"SET", b"tracking-table-max-keys", b"2"])
        .await;
    reader.step(&[b"FLUSHALL"]).await;
    reader.frame().await; // FLUSHALL's null invalidation, after its reply
    reader.step(&[b"GET", b"t1"]).await;
    reader.step(&[b"GET", b"t2"]).await;
    let frames = reader.step(&[b"GET", b"t3"]).await;
    assert_eq!(frames, [b"_\r\n".to_vec()]);
    // One of the three (chosen at random, as Redis does) is pushed out and invalidated.
    let pushed = String::from_utf8_lossy(&reader.frame().await).into_owned();
    let evicted = ["t1", "t2", "t3"]
        .into_iter()
        .find(|k| pushed == format!(">2\r\n$10\r\ninvalidate\r\n*1\r\n$2\r\n{k}\r\n"))
        .unwrap_or_else(|| panic!("{pushed}"));
    // It is forgotten: writes of all three invalidate only the other two, in order.
    for key in ["t1", "t2", "t3"] {
        writer.step(&[b"SET", key.as_bytes(), b"v"]).await;
    }
    for key in ["t1", "t2", "t3"].into_iter().filter(|k| *k != evicted) {
        until_invalidated_next(&mut reader, key).await;
    }
    shard.stop().await;
}

/// Reads frames until the one that answers PING (sent now), returning all of them.
async fn until_pong(conn: &mut Conn) -> Vec<String> {
    conn.step(&[b"PING"])
        .await
        .iter()
        .map(|f| String::from_utf8_lossy(f).into_owned())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_router_with_a_near_cache_tracks_for_its_clients() {
    let shards = [spawn_shard().await, spawn_shard().await];
    let config = router::Config {
        shards: shards.iter().map(|s| s.addr().to_string()).collect(),
        near_cache: 64 << 20,
        ..router::Config::default()
    };
    let a = harness::spawn_router(config.clone()).await;
    let b = harness::spawn_router(config).await;
    let mut writer = Conn::tcp(a.addr()).await;
    // RESP3: the push on the reader's own connection.
    let mut reader = Conn::tcp(b.addr()).await;
    reader.step(&[b"HELLO", b"3"]).await;
    assert_eq!(
        reader.step(&[b"CLIENT", b"TRACKING", b"on"]).await,
        [b"+OK\r\n".to_vec()]
    );
    writer.step(&[b"SET", b"k", b"1"]).await;
    reader.step(&[b"GET", b"k"]).await;
    writer.step(&[b"SET", b"k", b"2"]).await;
    // The write's reply came after the invalidation was on the reader's socket.
    let frames = until_pong(&mut reader).await;
    assert_eq!(
        frames,
        [">2\r\n$10\r\ninvalidate\r\n*1\r\n$1\r\nk\r\n", "+PONG\r\n"]
    );
    assert_eq!(
        reader.step(&[b"GET", b"k"]).await,
        [b"$1\r\n2\r\n".to_vec()]
    );
    // RESP2: to a REDIRECT client subscribed to __redis__:invalidate.
    let mut target = Conn::tcp(b.addr()).await;
    let id = target.id().await.to_string();
    target.step(&[b"SUBSCRIBE", b"__redis__:invalidate"]).await;
    let mut resp2 = Conn::tcp(b.addr()).await;
    let on = [
        b"CLIENT".as_ref(),
        b"TRACKING",
        b"on",
        b"REDIRECT",
        id.as_bytes(),
    ];
    assert_eq!(resp2.step(&on).await, [b"+OK\r\n".to_vec()]);
    resp2.step(&[b"GET", b"x"]).await;
    writer.step(&[b"SET", b"x", b"1"]).await;
    let frames = until_pong(&mut target).await;
    assert_eq!(
        frames,
        [
            "*3\r\n$7\r\nmessage\r\n$20\r\n__redis__:invalidate\r\n*1\r\n$1\r\nx\r\n",
            "*2\r\n$4\r\npong\r\n$0\r\n\r\n"
        ]
    );
    // Without a near-cache the router's shard connections do not track: refused.
    let plain = harness::spawn_router(router::Config {
        shards: shards.iter().map(|s| s.addr().to_string()).collect(),
        ..router::Config::default()
    })
    .await;
    let mut conn = Conn::tcp(plain.addr()).await;
    assert_eq!(
        conn.step(&[b"CLIENT", b"TRACKING", b"on"]).await,
        [b"-ERR CLIENT TRACKING is not supported by this process\r\n".to_vec()]
    );
}
