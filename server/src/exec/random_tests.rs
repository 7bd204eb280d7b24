//! Every command of the table fed random arguments from a vocabulary of what breaks
//! executors (numbers at their limits, ranges, options out of place, keys of every type),
//! in both protocols, on a small store that evicts and expires: nothing may panic, and the
//! store's invariants hold after every round. The `command` fuzz target does the same
//! without a vocabulary (docs/fuzzing.md); this bounded, seeded version runs in CI.

use std::sync::Arc;

use bytes::Bytes;
use protocol::command::{Route, COMMANDS};
use protocol::{Command, Protocol, Request};

use crate::clock::ManualClock;
use crate::config::{Config, StoreBackend};
use crate::state::ShardState;

const WORDS: &[&str] = &[
    "k0",
    "k1",
    "k2",
    "{t}a",
    "{t}b",
    "0",
    "1",
    "-1",
    "2",
    "3",
    "10",
    "100",
    "-100",
    "9223372036854775807",
    "-9223372036854775808",
    "18446744073709551616",
    "1.5",
    "-0.0",
    "inf",
    "-inf",
    "+inf",
    "nan",
    "1e308",
    "(1",
    "(",
    "[a",
    "[",
    "(a",
    "-",
    "+",
    "a",
    "b",
    "",
    "x y",
    "WITHSCORES",
    "WITHVALUES",
    "LIMIT",
    "COUNT",
    "MATCH",
    "*",
    "TYPE",
    "hash",
    "BYSCORE",
    "BYLEX",
    "REV",
    "NX",
    "XX",
    "GT",
    "LT",
    "CH",
    "INCR",
    "LEFT",
    "RIGHT",
    "BEFORE",
    "AFTER",
    "RANK",
    "MAXLEN",
    "REPLACE",
    "DB",
    "EX",
    "PX",
    "KEEPTTL",
    "GET",
    "ABSTTL",
    "IDLETIME",
    "FREQ",
    "ENCODING",
    "USAGE",
    "SAMPLES",
];

fn rng(mut x: u64) -> impl FnMut() -> u64 {
    move || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x
    }
}

#[test]
fn random_arguments_to_every_command_never_panic() {
    random_arguments_on(StoreBackend::Compact);
}

#[test]
fn random_arguments_to_every_command_never_panic_on_moka() {
    random_arguments_on(StoreBackend::Moka);
}

fn random_arguments_on(store: StoreBackend) {
    let clock = Arc::new(ManualClock::new(1_700_000_000_000));
    let config = Config {
        max_memory: 256 * 1024,
        store,
        ..Config::default()
    };
    let shard = ShardState::with_clock(config, 0, clock.clone());
    // Commands that stop or change the process, or wait: not for a store test.
    let skipped = [
        "SAVE",
        "BGSAVE",
        "JUMPCACHE",
        "CONFIG",
        "FLUSHALL",
        "FLUSHDB",
        "KEYS",
    ];
    let rows: Vec<_> = COMMANDS
        .iter()
        .filter(|s| s.route != Route::Local && !skipped.contains(&s.name))
        .collect();
    let mut next = rng(0x5eed_1234_abcd_0001);
    let long = "v".repeat(100);
    let (mut ran, mut answered) = (0, 0);
    for round in 0..100 {
        for _ in 0..2_000 {
            let spec = rows[(next() % rows.len() as u64) as usize];
            let n = (next() % 8) as usize;
            let mut args = vec![Bytes::from_static(spec.name.as_bytes())];
            if let Some((sub, _)) = spec.subcommands.first() {
                if !next().is_multiple_of(4) {
                    args.push(Bytes::from_static(sub.as_bytes()));
                }
            }
            for _ in 0..n {
                let w = match next() % 20 {
                    0 => long.clone(),
                    _ => WORDS[(next() % WORDS.len() as u64) as usize].to_string(),
                };
                args.push(Bytes::from(w));
            }
            let request = Request {
                args,
                raw: Bytes::new(),
                inline: false,
            };
            let Ok(cmd) = Command::from_request(request) else {
                continue;
            };
            let protocol = if next().is_multiple_of(2) {
                Protocol::Resp2
            } else {
                Protocol::Resp3
            };
            let reply = crate::exec::execute(&cmd, &shard, protocol);
            ran += 1;
            answered += usize::from(!reply.is_error());
            let mut out = bytes::BytesMut::new();
            protocol::encode::encode(&reply, protocol, &mut out);
        }
        clock.advance(700 * (round % 3));
        shard.store.run_pending_tasks();
        shard.store.check_invariants();
    }
    // The vocabulary reaches past the argument checks: most commands run, many succeed.
    assert!(
        ran > 40_000 && answered > 12_000,
        "{ran} ran, {answered} answered"
    );
}
