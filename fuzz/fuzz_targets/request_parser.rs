//! The request parser fed arbitrary bytes in arbitrary pieces: it must never panic, and
//! must give the same requests (and the same first error) as when fed in one piece.
//!
//! Input layout: byte 0 picks the limits and the auth state, bytes 1..=4 are cut points
//! (each a fraction of the rest), the rest is what the client sends.
#![no_main]

use bytes::BytesMut;
use libfuzzer_sys::fuzz_target;
use protocol::{Decoder, Limits};

type Outcome = Result<(Vec<Vec<u8>>, bool), String>;

fn outcomes(pieces: &[&[u8]], limits: Limits, authenticated: bool) -> Vec<Outcome> {
    let mut decoder = Decoder::new(limits);
    decoder.set_authenticated(authenticated);
    let mut buf = BytesMut::new();
    let mut out = Vec::new();
    for piece in pieces {
        buf.extend_from_slice(piece);
        loop {
            match decoder.decode(&mut buf) {
                Ok(Some(req)) => {
                    assert!(!req.args.is_empty(), "an empty request is never returned");
                    if !req.inline {
                        // The raw bytes forwarded to a shard decode to the same arguments.
                        let mut again = BytesMut::from(&req.raw[..]);
                        let same = Decoder::new(limits).decode(&mut again).unwrap().unwrap();
                        assert_eq!(same.args, req.args);
                        assert!(again.is_empty());
                    }
                    out.push(Ok((req.args.iter().map(|a| a.to_vec()).collect(), req.inline)));
                }
                Ok(None) => break,
                Err(e) => {
                    out.push(Err(e.to_string()));
                    return out;
                }
            }
        }
    }
    out
}

fuzz_target!(|data: &[u8]| {
    if data.len() < 5 {
        return;
    }
    let mode = data[0];
    let input = &data[5..];
    let limits = if mode & 1 == 0 {
        Limits::default()
    } else {
        // Small limits, so the limit paths are reached with small inputs.
        Limits {
            max_inline_len: 32,
            max_bulk_len: 64,
            max_multibulk_len: 16,
            ..Limits::default()
        }
    };
    let authenticated = mode & 2 == 0;
    let whole = outcomes(&[input], limits, authenticated);
    let mut cuts: Vec<usize> = data[1..5]
        .iter()
        .map(|&c| input.len() * c as usize / 255)
        .collect();
    cuts.sort_unstable();
    let mut pieces = Vec::new();
    let mut from = 0;
    for cut in cuts {
        pieces.push(&input[from..cut]);
        from = cut;
    }
    pieces.push(&input[from..]);
    assert_eq!(outcomes(&pieces, limits, authenticated), whole);
    // Byte by byte, the most fragmented arrival there is.
    if input.len() <= 512 {
        let bytes: Vec<&[u8]> = input.chunks(1).collect();
        assert_eq!(outcomes(&bytes, limits, authenticated), whole);
    }
});
