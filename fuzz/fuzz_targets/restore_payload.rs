//! RESTORE's decoder fed arbitrary payloads: `server::rdb::dump::restore_object`, as RESTORE
//! runs it on a client's bytes. Byte 0 picks whether the rest is taken as is (the checksum
//! then refuses nearly everything) or as a body sealed with version 10 and its right CRC64,
//! so the fuzzer reaches the value decoders (strings, listpacks, ziplists, intsets,
//! quicklists). Nothing may panic or allocate without bound, and whatever decodes must DUMP
//! and decode back to itself.
#![no_main]

use libfuzzer_sys::fuzz_target;
use server::rdb::crc64::crc64;
use server::rdb::dump::{dump_object, restore_object};

fuzz_target!(|data: &[u8]| {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    let payload = if mode & 1 == 1 {
        let mut p = rest.to_vec();
        p.extend_from_slice(&10u16.to_le_bytes());
        let crc = crc64(0, &p);
        p.extend_from_slice(&crc.to_le_bytes());
        p
    } else {
        rest.to_vec()
    };
    if let Ok(object) = restore_object(&payload, 1 << 20) {
        let again = restore_object(&dump_object(&object), 1 << 20);
        assert_eq!(again.as_ref(), Ok(&object));
    }
});
