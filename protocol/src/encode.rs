//! Frames become bytes here, in RESP2 or RESP3.
//!
//! Our own writer rather than redis-protocol's: it writes straight into the connection's
//! buffer with no intermediate frame type (see docs/benchmarks.md for the comparison).

use bytes::{BufMut, BytesMut};

use crate::frame::{Frame, Protocol};

/// Appends `frame` to `out` in `proto`.
pub fn encode(frame: &Frame, proto: Protocol, out: &mut BytesMut) {
    match frame {
        Frame::Simple(s) => line(out, b'+', s),
        Frame::Error(e) => line(out, b'-', e),
        Frame::Integer(n) => int_line(out, b':', *n),
        Frame::Bulk(b) => bulk(out, b),
        Frame::Null => null(out, proto, b'$'),
        Frame::NullArray => null(out, proto, b'*'),
        Frame::Array(items) => {
            int_line(out, b'*', items.len() as i64);
            for item in items {
                encode(item, proto, out);
            }
        }
        Frame::Push(items) => {
            int_line(
                out,
                if proto == Protocol::Resp3 { b'>' } else { b'*' },
                items.len() as i64,
            );
            for item in items {
                encode(item, proto, out);
            }
        }
        Frame::Sequence(frames) => {
            for frame in frames {
                encode(frame, proto, out);
            }
        }
        Frame::Set(items) => {
            int_line(
                out,
                if proto == Protocol::Resp3 { b'~' } else { b'*' },
                items.len() as i64,
            );
            for item in items {
                encode(item, proto, out);
            }
        }
        Frame::Map(pairs) => {
            match proto {
                Protocol::Resp3 => int_line(out, b'%', pairs.len() as i64),
                Protocol::Resp2 => int_line(out, b'*', 2 * pairs.len() as i64),
            }
            for (k, v) in pairs {
                encode(k, proto, out);
                encode(v, proto, out);
            }
        }
        Frame::Double(d) => {
            let text = format_double(*d);
            match proto {
                Protocol::Resp3 => line(out, b',', text.as_bytes()),
                Protocol::Resp2 => bulk(out, text.as_bytes()),
            }
        }
        Frame::Boolean(b) => match proto {
            Protocol::Resp3 => out.put_slice(if *b { b"#t\r\n" } else { b"#f\r\n" }),
            Protocol::Resp2 => int_line(out, b':', i64::from(*b)),
        },
        Frame::Verbatim(text) => match proto {
            Protocol::Resp3 => {
                int_line(out, b'=', text.len() as i64 + 4);
                out.put_slice(b"txt:");
                out.put_slice(text);
                out.put_slice(b"\r\n");
            }
            Protocol::Resp2 => bulk(out, text),
        },
    }
}

/// Appends a bulk string.
pub fn bulk(out: &mut BytesMut, data: &[u8]) {
    int_line(out, b'$', data.len() as i64);
    out.reserve(data.len() + 2);
    out.put_slice(data);
    out.put_slice(b"\r\n");
}

/// Appends a request (`*N` of bulks), as a client or the router sends it.
pub fn request<'a>(out: &mut BytesMut, args: impl ExactSizeIterator<Item = &'a [u8]>) {
    int_line(out, b'*', args.len() as i64);
    for arg in args {
        bulk(out, arg);
    }
}

fn null(out: &mut BytesMut, proto: Protocol, resp2_prefix: u8) {
    match proto {
        Protocol::Resp3 => out.put_slice(b"_\r\n"),
        Protocol::Resp2 => {
            out.put_u8(resp2_prefix);
            out.put_slice(b"-1\r\n");
        }
    }
}

fn line(out: &mut BytesMut, prefix: u8, text: &[u8]) {
    out.reserve(text.len() + 3);
    out.put_u8(prefix);
    out.put_slice(text);
    out.put_slice(b"\r\n");
}

/// Appends `prefix`, the decimal `n`, and CRLF, without allocating.
pub fn int_line(out: &mut BytesMut, prefix: u8, n: i64) {
    // Built back to front in one stack buffer (prefix, sign, up to 20 digits, CRLF), then
    // appended with one copy: one capacity check instead of four.
    let mut line = [0u8; 24];
    let mut i = line.len() - 2;
    line[i..].copy_from_slice(b"\r\n");
    let mut v = n.unsigned_abs();
    loop {
        i -= 1;
        line[i] = b'0' + (v % 10) as u8;
        v /= 10;
        if v == 0 {
            break;
        }
    }
    if n < 0 {
        i -= 1;
        line[i] = b'-';
    }
    i -= 1;
    line[i] = prefix;
    out.extend_from_slice(&line[i..]);
}

/// Formats a double as Redis's RESP3 `,` does (`%.17g`, `inf`, `-inf`, `nan`).
pub fn format_double(d: f64) -> String {
    if d.is_nan() {
        "nan".into()
    } else if d.is_infinite() {
        if d > 0.0 { "inf" } else { "-inf" }.into()
    } else {
        format_g17(d)
    }
}

/// C's `%.17g` of a finite double: 17 significant digits, trailing zeros dropped, an
/// exponent (at least two digits) below 1e-4 or from 1e17 on.
fn format_g17(d: f64) -> String {
    // `{:.16e}` is correctly rounded, as glibc's printf is: "d.dddddddddddddddde±x".
    let sci = format!("{:.16e}", d.abs());
    let (mantissa, exp) = sci.split_once('e').unwrap_or((&sci, "0"));
    let exp: i32 = exp.parse().unwrap_or(0);
    let digits: String = mantissa.chars().filter(char::is_ascii_digit).collect();
    let sign = if d.is_sign_negative() { "-" } else { "" };
    let trim = |s: String| -> String {
        if s.contains('.') {
            s.trim_end_matches('0').trim_end_matches('.').to_string()
        } else {
            s
        }
    };
    if !(-4..17).contains(&exp) {
        let m = trim(format!("{}.{}", &digits[..1], &digits[1..]));
        let esign = if exp < 0 { '-' } else { '+' };
        return format!("{sign}{m}e{esign}{:02}", exp.abs());
    }
    let body = if exp >= 0 {
        let int = (exp + 1) as usize;
        format!("{}.{}", &digits[..int], &digits[int..])
    } else {
        format!("0.{}{}", "0".repeat((-exp - 1) as usize), digits)
    };
    format!("{sign}{}", trim(body))
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;

    fn enc(frame: &Frame, proto: Protocol) -> Vec<u8> {
        let mut out = BytesMut::new();
        encode(frame, proto, &mut out);
        out.to_vec()
    }

    #[test]
    fn resp2_flattens_resp3_types() {
        let map = Frame::Map(vec![(Frame::bulk(b"a"), Frame::Integer(1))]);
        assert_eq!(enc(&map, Protocol::Resp2), b"*2\r\n$1\r\na\r\n:1\r\n");
        assert_eq!(enc(&map, Protocol::Resp3), b"%1\r\n$1\r\na\r\n:1\r\n");
        assert_eq!(enc(&Frame::Boolean(true), Protocol::Resp2), b":1\r\n");
        assert_eq!(enc(&Frame::Null, Protocol::Resp2), b"$-1\r\n");
        assert_eq!(enc(&Frame::NullArray, Protocol::Resp2), b"*-1\r\n");
        assert_eq!(enc(&Frame::Null, Protocol::Resp3), b"_\r\n");
        assert_eq!(enc(&Frame::Double(1.5), Protocol::Resp2), b"$3\r\n1.5\r\n");
        assert_eq!(enc(&Frame::Double(1.5), Protocol::Resp3), b",1.5\r\n");
        for (d, text) in [
            (0.1, "0.10000000000000001"),
            (1.0, "1"),
            (-0.0, "-0"),
            (100.0, "100"),
            (1e20, "1e+20"),
            (1.5e-7, "1.4999999999999999e-07"),
            (0.0001, "0.0001"),
            (123456789012345678.0, "1.2345678901234568e+17"),
            (12345678901234567.0, "12345678901234568"),
            (4.9e-324, "4.9406564584124654e-324"),
            (-2.5, "-2.5"),
            (1e16, "10000000000000000"),
            (1e17, "1e+17"),
            (123.456, "123.456"),
            (0.00012345, "0.00012344999999999999"),
        ] {
            assert_eq!(format_double(d), text);
        }
        assert_eq!(
            enc(&Frame::Verbatim(Bytes::from_static(b"x")), Protocol::Resp3),
            b"=5\r\ntxt:x\r\n"
        );
    }

    #[test]
    fn integers_encode_at_the_extremes() {
        assert_eq!(
            enc(&Frame::Integer(i64::MIN), Protocol::Resp2),
            b":-9223372036854775808\r\n"
        );
        assert_eq!(enc(&Frame::Integer(0), Protocol::Resp2), b":0\r\n");
        assert_eq!(enc(&Frame::Integer(-7), Protocol::Resp2), b":-7\r\n");
    }
}
