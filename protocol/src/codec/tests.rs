use super::*;

fn decode_all(decoder: &mut Decoder, buf: &mut BytesMut) -> Result<Vec<Vec<Vec<u8>>>, String> {
    let mut out = Vec::new();
    loop {
        match decoder.decode(buf) {
            Ok(Some(req)) => out.push(req.args.iter().map(|a| a.to_vec()).collect()),
            Ok(None) => return Ok(out),
            Err(e) => return Err(e.to_string()),
        }
    }
}

/// Feeds `input` in one piece.
fn whole(input: &[u8]) -> Result<Vec<Vec<Vec<u8>>>, String> {
    let mut buf = BytesMut::from(input);
    decode_all(&mut Decoder::default(), &mut buf)
}

/// Feeds `input` in two pieces split at `at`, decoding after each.
fn split(input: &[u8], at: usize) -> Result<Vec<Vec<Vec<u8>>>, String> {
    let mut decoder = Decoder::default();
    let mut buf = BytesMut::from(&input[..at]);
    let mut out = decode_all(&mut decoder, &mut buf)?;
    buf.extend_from_slice(&input[at..]);
    out.extend(decode_all(&mut decoder, &mut buf)?);
    Ok(out)
}

fn args(parts: &[&[u8]]) -> Vec<Vec<u8>> {
    parts.iter().map(|p| p.to_vec()).collect()
}

const CORPUS: &[&[u8]] = &[
    b"*1\r\n$4\r\nPING\r\n",
    b"*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$5\r\nhello\r\n",
    b"*2\r\n$3\r\nGET\r\n$0\r\n\r\n",
    b"*3\r\n$3\r\nSET\r\n$4\r\n\r\n\x00\xff\r\n$2\r\n\r\n\r\n",
    b"PING\r\n",
    b"SET a b\n",
    b"set \"a b\" 'c d' \"\\x41\\n\"\r\n",
    b"\r\n\r\nPING\r\n",
    b"*0\r\n*-1\r\n*1\r\n$4\r\nPING\r\n",
    b"*2\r\n$4\r\nECHO\r\n$3\r\nabc\r\nPING\r\n*1\r\n$4\r\nPING\r\n",
];

#[test]
fn every_corpus_request_split_at_every_offset_decodes_the_same() {
    for input in CORPUS {
        let expected = whole(input).expect("corpus decodes");
        assert!(!expected.is_empty());
        for at in 0..=input.len() {
            assert_eq!(
                split(input, at),
                Ok(expected.clone()),
                "input {input:?} split at {at}"
            );
        }
    }
}

#[test]
fn byte_by_byte_feeding_decodes_the_same() {
    let input: Vec<u8> = CORPUS.concat();
    let expected = whole(&input).unwrap();
    let mut decoder = Decoder::default();
    let mut buf = BytesMut::new();
    let mut got = Vec::new();
    for &b in &input {
        buf.extend_from_slice(&[b]);
        got.extend(decode_all(&mut decoder, &mut buf).unwrap());
    }
    assert_eq!(got, expected);
    assert!(buf.is_empty());
}

#[test]
fn multibulk_and_inline_give_the_arguments() {
    assert_eq!(
        whole(CORPUS[1]).unwrap(),
        vec![args(&[b"SET", b"k", b"hello"])]
    );
    assert_eq!(
        whole(CORPUS[3]).unwrap(),
        vec![args(&[b"SET", b"\r\n\x00\xff", b"\r\n"])]
    );
    assert_eq!(
        whole(b"SET a b\n").unwrap(),
        vec![args(&[b"SET", b"a", b"b"])]
    );
    assert_eq!(
        whole(CORPUS[6]).unwrap(),
        vec![args(&[b"set", b"a b", b"c d", b"A\n"])]
    );
    assert_eq!(whole(b"  \t\r\n").unwrap(), Vec::<Vec<Vec<u8>>>::new());
}

#[test]
fn raw_holds_the_request_bytes_unchanged() {
    let mut buf = BytesMut::from(&b"*1\r\n$4\r\nPING\r\nGET a\r\n"[..]);
    let mut decoder = Decoder::default();
    let first = decoder.decode(&mut buf).unwrap().unwrap();
    assert_eq!(&first.raw[..], b"*1\r\n$4\r\nPING\r\n");
    assert!(!first.inline);
    let second = decoder.decode(&mut buf).unwrap().unwrap();
    assert_eq!(&second.raw[..], b"GET a\r\n");
    assert!(second.inline);
}

fn error_of(input: &[u8]) -> String {
    let mut buf = BytesMut::from(input);
    let mut decoder = Decoder::default();
    loop {
        match decoder.decode(&mut buf) {
            Ok(Some(_)) => continue,
            Ok(None) => panic!("no error for {input:?}"),
            Err(e) => return e.to_frame().map(|f| format!("{f:?}")).unwrap_or_default(),
        }
    }
}

#[test]
fn malformed_input_gets_redis_protocol_errors() {
    let cases: &[(&[u8], &str)] = &[
        (b"*3000000000\r\n", "invalid multibulk length"),
        (b"*abc\r\n", "invalid multibulk length"),
        (b"*\r\n", "invalid multibulk length"),
        (b"*1\r\n$-10\r\n", "invalid bulk length"),
        (b"*1\r\n$blabla\r\n", "invalid bulk length"),
        (b"*1\r\n$536870913\r\n", "invalid bulk length"),
        (b"*1\r\n:5\r\n", "expected '$', got ':'"),
        (b"*1\r\n*1\r\n*1\r\n", "expected '$', got '*'"),
        (b"set \"a b\r\n", "unbalanced quotes in request"),
        (b"set 'a'b\r\n", "unbalanced quotes in request"),
    ];
    for (input, msg) in cases {
        let got = error_of(input);
        assert!(
            got.contains(&format!("ERR Protocol error: {msg}")),
            "{input:?}: {got}"
        );
    }
}

#[test]
fn a_bulk_of_exactly_the_limit_is_accepted() {
    let mut buf = BytesMut::from(&b"*1\r\n$536870912\r\n"[..]);
    assert!(Decoder::default().decode(&mut buf).unwrap().is_none());
}

#[test]
fn deep_nesting_is_one_error_not_recursion() {
    let input = b"*1\r\n".repeat(100_000);
    assert!(error_of(&input).contains("expected '$', got '*'"));
}

#[test]
fn long_lines_hit_the_inline_limit() {
    let mut inline = vec![b'a'; 64 * 1024 + 1];
    assert!(error_of(&inline).contains("too big inline request"));
    inline.truncate(64 * 1024);
    let mut buf = BytesMut::from(&inline[..]);
    assert!(
        Decoder::default().decode(&mut buf).unwrap().is_none(),
        "64 KiB without newline waits"
    );
    let mut count = b"*".to_vec();
    count.extend(vec![b'1'; 64 * 1024 + 1]);
    assert!(error_of(&count).contains("too big mbulk count string"));
    let mut bulk = b"*1\r\n$".to_vec();
    bulk.extend(vec![b'1'; 64 * 1024 + 1]);
    assert!(error_of(&bulk).contains("too big bulk count string"));
}

#[test]
fn split_args_matches_sdssplitargs() {
    assert_eq!(split_args(b"a  b\tc").unwrap(), args(&[b"a", b"b", b"c"]));
    assert_eq!(split_args(br#""\x4g""#).unwrap(), args(&[b"x4g"]));
    assert_eq!(split_args(br#"'it\'s'"#).unwrap(), args(&[b"it's"]));
    assert_eq!(split_args(br#"a"b c"d"#), None);
    assert_eq!(split_args(br#"x"b c" d"#).unwrap(), args(&[b"xb c", b"d"]));
    assert_eq!(split_args(b"a\x00b").unwrap(), args(&[b"a"]));
    assert_eq!(split_args(b"").unwrap(), Vec::<Vec<u8>>::new());
}

#[test]
fn slow_arrival_of_a_big_array_stays_linear() {
    // 200,000 one-byte elements arriving 16 bytes at a time: quadratic re-parsing would not finish.
    let n = 200_000;
    let mut input = format!("*{n}\r\n").into_bytes();
    for _ in 0..n {
        input.extend_from_slice(b"$1\r\nx\r\n");
    }
    let mut decoder = Decoder::default();
    let mut buf = BytesMut::new();
    let mut done = None;
    for chunk in input.chunks(16) {
        buf.extend_from_slice(chunk);
        if let Some(req) = decoder.decode(&mut buf).unwrap() {
            done = Some(req);
        }
    }
    assert_eq!(done.unwrap().args.len(), n);
}

#[test]
fn a_complete_line_over_the_limit_is_rejected_however_it_arrives() {
    let mut inline = vec![b'a'; 64 * 1024 + 1];
    inline.extend_from_slice(b"\r\n");
    assert!(error_of(&inline).contains("too big inline request"));
    let mut count = b"*".to_vec();
    count.extend(vec![b'1'; 64 * 1024 + 1]);
    count.extend_from_slice(b"\r\n");
    assert!(error_of(&count).contains("too big mbulk count string"));
}

#[test]
fn unauthenticated_clients_get_redis_smaller_limits() {
    let unauth = |input: &[u8]| {
        let mut decoder = Decoder::default();
        decoder.set_authenticated(false);
        let mut buf = BytesMut::from(input);
        match decoder.decode(&mut buf) {
            Err(e) => e.to_string(),
            Ok(r) => format!("ok {}", r.is_some()),
        }
    };
    assert_eq!(
        unauth(b"*11\r\n"),
        "Protocol error: unauthenticated multibulk length"
    );
    assert_eq!(
        unauth(b"*10\r\n$16385\r\n"),
        "Protocol error: unauthenticated bulk length"
    );
    assert_eq!(unauth(b"*10\r\n$16384\r\n"), "ok false");
    // Redis's own limits still come first.
    assert_eq!(
        unauth(b"*1\r\n$-1\r\n"),
        "Protocol error: invalid bulk length"
    );
    let mut decoder = Decoder::default();
    decoder.set_authenticated(false);
    decoder.set_authenticated(true);
    let mut buf = BytesMut::from(&b"*11\r\n"[..]);
    assert!(decoder.decode(&mut buf).unwrap().is_none());
}

/// One decoded request (its arguments, and whether it was inline) or the error text.
type Outcome = Result<(Vec<Vec<u8>>, bool), String>;

/// What decoding gives, up to and including the first error (after which a connection is
/// closed).
fn outcomes(pieces: &[&[u8]], authenticated: bool) -> Vec<Outcome> {
    let mut decoder = Decoder::new(Limits {
        max_inline_len: 256,
        max_bulk_len: 4096,
        ..Limits::default()
    });
    decoder.set_authenticated(authenticated);
    let mut buf = BytesMut::new();
    let mut out = Vec::new();
    for piece in pieces {
        buf.extend_from_slice(piece);
        loop {
            match decoder.decode(&mut buf) {
                Ok(Some(req)) => {
                    // The raw bytes of a multibulk re-decode to the same arguments.
                    if !req.inline {
                        let mut again = BytesMut::from(&req.raw[..]);
                        let same = Decoder::default().decode(&mut again).unwrap().unwrap();
                        assert_eq!(same.args, req.args);
                        assert!(again.is_empty());
                    }
                    out.push(Ok((
                        req.args.iter().map(|a| a.to_vec()).collect(),
                        req.inline,
                    )));
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

/// Returns a random request stream: well-formed requests, then mutated bytes.
fn random_input(rng: &mut impl rand::Rng) -> Vec<u8> {
    const PIECES: &[&[u8]] = &[
        b"*", b"$", b"\r\n", b"\r", b"\n", b"-1", b"0", b"3", b"10", b"11", b"16385", b"abc",
        b"PING", b"SET", b"\"", b"'", b"\\x41", b" ", b"\0", b"\xff",
    ];
    let mut input = Vec::new();
    for _ in 0..rng.gen_range(1..6) {
        if rng.gen_bool(0.5) {
            let n = rng.gen_range(1..5);
            let args: Vec<Vec<u8>> = (0..n)
                .map(|_| (0..rng.gen_range(0..20)).map(|_| rng.gen()).collect())
                .collect();
            let mut out = BytesMut::new();
            crate::encode::request(&mut out, args.iter().map(Vec::as_slice));
            input.extend_from_slice(&out);
        } else {
            for _ in 0..rng.gen_range(1..12) {
                input.extend_from_slice(PIECES[rng.gen_range(0..PIECES.len())]);
            }
        }
    }
    // Mutate: flip, insert or delete a few bytes.
    for _ in 0..rng.gen_range(0..4) {
        if input.is_empty() {
            break;
        }
        let at = rng.gen_range(0..input.len());
        match rng.gen_range(0..3) {
            0 => input[at] ^= 1 << rng.gen_range(0..8),
            1 => input.insert(at, rng.gen()),
            _ => {
                input.remove(at);
            }
        }
    }
    input
}

#[test]
fn random_and_mutated_requests_split_anywhere_decode_as_in_one_piece() {
    use rand::{Rng, SeedableRng};
    let mut rng = rand::rngs::StdRng::seed_from_u64(0x6a75_6d70);
    for _ in 0..20_000 {
        let input = random_input(&mut rng);
        let authenticated = rng.gen_bool(0.8);
        let whole = outcomes(&[&input], authenticated);
        let mut cuts: Vec<usize> = (0..rng.gen_range(1..6))
            .map(|_| rng.gen_range(0..=input.len()))
            .collect();
        cuts.sort_unstable();
        let mut pieces = Vec::new();
        let mut from = 0;
        for cut in cuts {
            pieces.push(&input[from..cut]);
            from = cut;
        }
        pieces.push(&input[from..]);
        assert_eq!(
            outcomes(&pieces, authenticated),
            whole,
            "input {input:?} in pieces {pieces:?}"
        );
    }
}
