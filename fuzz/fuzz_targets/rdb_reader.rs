//! The RDB reader fed arbitrary files: `server::rdb::reader::load`, as a shard reads its
//! snapshot at start-up, with the memory bound small (1 MiB) or large. Nothing may panic,
//! hang, or allocate without bound (run with `-malloc_limit_mb`, see docs/fuzzing.md): every
//! length in a file is checked against the bytes it has left before anything is allocated.
//!
//! Byte 0 picks the bound and whether to prefix a valid header (`REDIS0010`), which spares
//! the fuzzer finding the magic; the rest is the file.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    let file: Vec<u8> = if mode & 1 == 1 {
        [&b"REDIS0010"[..], rest].concat()
    } else {
        rest.to_vec()
    };
    let cap = if mode & 2 == 2 { 1 << 20 } else { u64::MAX };
    let mut keys = 0u64;
    let _ = server::rdb::reader::load(&file[..], file.len() as u64, 0, cap, |_, _, _| keys += 1);
});
