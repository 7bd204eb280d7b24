//! Hostile RDB files and DUMP payloads: ten thousand mutations each of real files (one
//! jumpcache saved, one redis-server saved in its listpack, intset and quicklist encodings)
//! and of real DUMP payloads, fed to the RDB reader and to RESTORE's decoder. None may panic
//! or hang; a payload that decodes must dump and decode back to itself; the process's peak
//! memory stays small (nothing in a file is trusted as an allocation size). The bounded,
//! seeded sibling of the `rdb_reader` and `restore_payload` fuzz targets (docs/fuzzing.md).

use std::path::PathBuf;

use harness::{spawn_shard_with, within, RedisServer};
use server::rdb::crc64::crc64;
use server::rdb::dump::{dump_object, restore_object};
use server::rdb::reader::load;
use server::rdb::RdbConfig;

/// A small seeded generator (xorshift64*), so a failure replays.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

/// Bytes the RDB format gives meaning to: length prefixes (6, 14, 32 and 64 bits), special
/// encodings (int8/16/32, LZF), opcodes, listpack and ziplist markers.
const INTERESTING: &[u8] = &[
    0x00, 0x01, 0x3f, 0x40, 0x7f, 0x80, 0x81, 0xc0, 0xc1, 0xc2, 0xc3, 0xc4, 0xf4, 0xf5, 0xf7, 0xf8,
    0xf9, 0xfa, 0xfb, 0xfc, 0xfd, 0xfe, 0xff, 0x12, 0x13, 0x10, 0x11, 0x14, 0x0b, 0x0e,
];

/// Returns `seed` changed in one to four places.
fn mutate(rng: &mut Rng, seed: &[u8]) -> Vec<u8> {
    let mut out = seed.to_vec();
    for _ in 0..1 + rng.below(4) {
        let at = rng.below(out.len());
        match rng.below(7) {
            0 => {
                if !out.is_empty() {
                    out[at] ^= 1 << rng.below(8);
                }
            }
            1 => {
                if !out.is_empty() {
                    out[at] = INTERESTING[rng.below(INTERESTING.len())];
                }
            }
            2 => {
                let n = 1 + rng.below(9);
                let bytes: Vec<u8> = (0..n).map(|_| rng.next() as u8).collect();
                out.splice(at..at, bytes);
            }
            3 => {
                let end = (at + 1 + rng.below(64)).min(out.len());
                out.drain(at..end);
            }
            4 => out.truncate(at),
            5 => {
                // A 32- or 64-bit length claiming far more than the file holds.
                let mut big = vec![0x81];
                big.extend_from_slice(&(rng.next() >> rng.below(64)).to_be_bytes());
                out.splice(at..at, big);
            }
            _ => {
                let end = (at + 1 + rng.below(32)).min(out.len());
                let copy = out[at..end].to_vec();
                let to = rng.below(out.len());
                out.splice(to..to, copy);
            }
        }
    }
    out
}

/// Reads `bytes` as an RDB file, dropping every key; Ok or Err, never a panic.
fn read(bytes: &[u8]) -> Result<u64, String> {
    let mut keys = 0;
    load(bytes, bytes.len() as u64, 0, 1 << 20, |_, _, _| keys += 1)
        .map(|_| keys)
        .map_err(|e| e.to_string())
}

/// Seals a DUMP body with RDB version 10 and its checksum, as DUMP does.
fn seal(body: &[u8]) -> Vec<u8> {
    let mut out = body.to_vec();
    out.extend_from_slice(&10u16.to_le_bytes());
    let crc = crc64(0, &out);
    out.extend_from_slice(&crc.to_le_bytes());
    out
}

/// Peak resident memory of this process (`VmHWM`), in KiB.
fn peak_rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("VmHWM:"))
                .and_then(|v| v.trim().trim_end_matches(" kB").trim().parse().ok())
        })
        .unwrap_or(0)
}

/// The writes that make every type in its small and large encodings, with TTLs.
fn writes() -> Vec<Vec<String>> {
    let mut w: Vec<Vec<String>> = Vec::new();
    let mut cmd = |parts: &[&str]| w.push(parts.iter().map(|s| s.to_string()).collect());
    cmd(&["SET", "s", "value"]);
    cmd(&["SET", "n", "12345"]);
    cmd(&["SET", "long", &"abc".repeat(300)]);
    cmd(&["SET", "ttl", "v", "PX", "500000"]);
    cmd(&["HSET", "h", "f", "v", "g", "123"]);
    cmd(&["SADD", "ints", "1", "2", "-3", "70000", "5000000000"]);
    cmd(&["SADD", "strs", "a", "b"]);
    cmd(&["ZADD", "z", "1.5", "a", "-2", "b", "inf", "c"]);
    cmd(&["RPUSH", "l", "a", "1", "", "bb"]);
    cmd(&["PEXPIRE", "l", "900000"]);
    let mut big_h = vec!["HSET".to_string(), "bigh".into()];
    let mut big_s = vec!["SADD".to_string(), "bigs".into()];
    let mut big_z = vec!["ZADD".to_string(), "bigz".into()];
    let mut big_l = vec!["RPUSH".to_string(), "bigl".into()];
    for i in 0..200 {
        big_h.extend([format!("f{i}"), format!("v{i}")]);
        big_s.push(format!("m{i}"));
        big_z.extend([i.to_string(), format!("m{i}")]);
        big_l.push(format!("element-{i}-{}", "x".repeat(i % 40)));
    }
    w.extend([big_h, big_s, big_z, big_l]);
    w
}

/// Runs `writes` on a raw client (a shard's or redis-server's), each answered without error.
macro_rules! apply {
    ($raw:expr, $writes:expr) => {
        for c in $writes {
            let args: Vec<&[u8]> = c.iter().map(|a| a.as_bytes()).collect();
            let reply = $raw.call(&args).await;
            assert!(
                !reply.starts_with(b"-"),
                "{c:?}: {:?}",
                String::from_utf8_lossy(&reply)
            );
        }
    };
}

/// The DUMP payloads of the keys `writes` made.
macro_rules! dumps {
    ($raw:expr, $writes:expr) => {{
        let mut out: Vec<Vec<u8>> = Vec::new();
        for c in $writes.iter().filter(|c| c[0] != "PEXPIRE") {
            let reply = $raw.call(&[b"DUMP", c[1].as_bytes()]).await;
            let start = reply.iter().position(|&b| b == b'\n').unwrap() + 1;
            out.push(reply[start..reply.len() - 2].to_vec());
        }
        out
    }};
}

#[tokio::test]
async fn mutated_files_and_payloads_are_refused_or_read_never_a_panic() {
    let dir = std::env::temp_dir().join(format!(
        "jumpcache-rdb-hostile-{}-{}",
        std::process::id(),
        rand::random::<u64>()
    ));
    std::fs::create_dir_all(&dir).unwrap();
    let writes = writes();
    let shard = spawn_shard_with(server::Config {
        rdb: Some(RdbConfig::at(&dir, "dump.rdb")),
        ..server::Config::default()
    })
    .await;
    let mut raw = shard.raw().await;
    apply!(raw, &writes);
    assert_eq!(raw.call(&[b"SAVE"]).await, b"+OK\r\n");
    let mut files = vec![std::fs::read(dir.join("dump.rdb")).unwrap()];
    let mut payloads = dumps!(raw, writes);
    let redis_dir: PathBuf = dir.join("redis");
    std::fs::create_dir_all(&redis_dir).unwrap();
    let redis_arg = redis_dir.to_str().unwrap();
    if let Some(redis) = RedisServer::start_with(&["--dir", redis_arg]).await {
        let mut rc = redis.raw().await;
        apply!(rc, &writes);
        assert_eq!(rc.call(&[b"SAVE"]).await, b"+OK\r\n");
        files.push(std::fs::read(redis_dir.join("dump.rdb")).unwrap());
        payloads.extend(dumps!(rc, writes));
    }
    for f in &files {
        assert_eq!(read(f), Ok(13), "the seeds themselves read");
    }

    let before = peak_rss_kib();
    let mut rng = Rng(0x5eed_2026_0021_0021);
    let (mut refused, mut read_ok) = (0u32, 0u32);
    within(async {
        for i in 0..10_000 {
            let seed = &files[i % files.len()];
            let mut bad = mutate(&mut rng, seed);
            // Half with the checksum off (8 zero bytes), so what the parser makes of the
            // bytes is what decides, not the trailer.
            if i % 2 == 0 && bad.len() > 8 {
                let n = bad.len();
                bad[n - 8..].fill(0);
            }
            match read(&bad) {
                Ok(_) => read_ok += 1,
                Err(_) => refused += 1,
            }
        }
    })
    .await;
    let mut decoded = 0;
    for i in 0..10_000 {
        let seed = &payloads[i % payloads.len()];
        let body = mutate(&mut rng, &seed[..seed.len().saturating_sub(10)]);
        for payload in [seal(&body), mutate(&mut rng, seed)] {
            if let Ok(o) = restore_object(&payload, 1 << 20) {
                decoded += 1;
                let again = restore_object(&dump_object(&o), 1 << 20);
                assert_eq!(again.as_ref(), Ok(&o), "payload {payload:?}");
            }
        }
    }
    let grown_mib = peak_rss_kib().saturating_sub(before) / 1024;
    eprintln!(
        "files: {read_ok} read, {refused} refused; payloads: {decoded} decoded; peak RSS +{grown_mib} MiB"
    );
    assert!(refused > 5_000, "most mutations are refused");
    assert!(
        decoded > 0,
        "some mutated payloads still decode (and round-trip)"
    );
    assert!(grown_mib < 256, "peak memory grew {grown_mib} MiB");
    let _ = std::fs::remove_dir_all(&dir);
}
