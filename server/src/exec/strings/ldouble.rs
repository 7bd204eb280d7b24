//! INCRBYFLOAT's arithmetic: x87 80-bit `long double`, in software.
//!
//! Redis parses both operands with `strtold`, adds them as `long double` (64-bit significand)
//! and prints the sum with `%.17Lf`, trailing zeros stripped. `f64` gives different digits
//! (`1 + -1.1` is `-0.1` in Redis, `-0.10000000000000009` in `f64`), so this module does
//! the same arithmetic exactly: correctly rounded parsing (round half to even, denormals
//! included), exact addition then one rounding, and exact `%.17Lf` formatting, using a small
//! arbitrary-precision integer. Inputs are at most 5120 bytes (Redis's `MAX_LONG_DOUBLE_CHARS`),
//! which bounds the work.

use std::cmp::Ordering;

use super::bigint::Big;

/// Longest string `string2ld` accepts, exclusive (`MAX_LONG_DOUBLE_CHARS`).
const MAX_CHARS: usize = 5 * 1024;
/// Exponent of the lowest significand bit for the largest finite value (2^16384 > x).
const MAX_EXP: i64 = 16383 - 63;
/// Exponent of the lowest significand bit for denormals and the smallest normals.
const MIN_EXP: i64 = -16382 - 63;

/// A finite `long double`: `(-1)^neg * mant * 2^exp`; `mant == 0` is a (signed) zero.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct LongDouble {
    neg: bool,
    mant: u64,
    exp: i64,
}

/// Parses `s` as Redis's `string2ld`: `strtold` syntax (decimal, hex, `inf`), no leading
/// space, nothing after the number, no NaN, no overflow or underflow to zero.
/// `Some(None)` is an infinity (accepted by Redis, refused by the addition).
pub(crate) fn parse(s: &[u8]) -> Option<Option<LongDouble>> {
    if s.is_empty() || s.len() >= MAX_CHARS || s[0].is_ascii_whitespace() || s[0] == 0x0b {
        return None;
    }
    // strtold sees a C string: it stops at the first NUL, and "" parses as 0 with nothing left.
    let s = &s[..s.iter().position(|&b| b == 0).unwrap_or(s.len())];
    let (neg, body) = match s.first() {
        Some(b'-') => (true, &s[1..]),
        Some(b'+') => (false, &s[1..]),
        _ => (false, s),
    };
    if s.is_empty() {
        return Some(Some(LongDouble::zero(false)));
    }
    if body.eq_ignore_ascii_case(b"inf") || body.eq_ignore_ascii_case(b"infinity") {
        return Some(None);
    }
    let (mag, exp2, exp10) = if body.len() > 2 && body[..2].eq_ignore_ascii_case(b"0x") {
        parse_hex(&body[2..])?
    } else {
        parse_decimal(body)?
    };
    from_parts(neg, mag, exp2, exp10).map(Some)
}

/// Returns `a + b` rounded to `long double`, or `None` when it overflows to infinity.
pub(crate) fn add(a: LongDouble, b: LongDouble) -> Option<LongDouble> {
    if a.mant == 0 && b.mant == 0 {
        return Some(LongDouble::zero(a.neg && b.neg));
    }
    if a.mant == 0 {
        return Some(b);
    }
    if b.mant == 0 {
        return Some(a);
    }
    let exp = a.exp.min(b.exp);
    // Exponents lie within MIN_EXP..=MAX_EXP, so these shifts are at most ~32K bits.
    let x = Big::from_u64(a.mant).shl(a.exp.abs_diff(exp));
    let y = Big::from_u64(b.mant).shl(b.exp.abs_diff(exp));
    let (neg, mag) = if a.neg == b.neg {
        (a.neg, x.add(&y))
    } else {
        match x.cmp(&y) {
            Ordering::Greater => (a.neg, x.sub(&y)),
            Ordering::Less => (b.neg, y.sub(&x)),
            Ordering::Equal => return Some(LongDouble::zero(false)),
        }
    };
    round(neg, &mag, exp, false).ok()
}

/// Formats as Redis's `ld2string(.., LD_STR_HUMAN)`: `%.17Lf`, trailing zeros and a trailing
/// `.` removed, `-0` printed as `0`.
pub(crate) fn format(v: LongDouble) -> String {
    const SCALE: u128 = 100_000_000_000_000_000; // 10^17
    let (int, frac) = if v.exp >= 0 {
        (Big::from_u64(v.mant).shl(v.exp.unsigned_abs()), 0u128)
    } else {
        let k = v.exp.unsigned_abs();
        let (int, rest) = if k >= 64 {
            (0, v.mant)
        } else {
            (v.mant >> k, v.mant & ((1u64 << k) - 1))
        };
        // rest < 2^64, so rest * 10^17 < 2^121 fits; for k >= 122 it rounds to 0.
        let scaled = u128::from(rest) * SCALE;
        let mut q = if k >= 122 { 0 } else { scaled >> k };
        if k < 122 {
            let rem = scaled & ((1u128 << k) - 1);
            let half = 1u128 << (k - 1);
            if rem > half || (rem == half && q & 1 == 1) {
                q += 1;
            }
        }
        if q == SCALE {
            (Big::from_u64(int).add(&Big::from_u64(1)), 0)
        } else {
            (Big::from_u64(int), q)
        }
    };
    let mut out = String::new();
    if v.neg {
        out.push('-');
    }
    out.push_str(&int.to_decimal());
    if frac != 0 {
        let digits = format!("{frac:017}");
        out.push('.');
        out.push_str(digits.trim_end_matches('0'));
    }
    if out == "-0" {
        out.remove(0);
    }
    out
}

impl LongDouble {
    fn zero(neg: bool) -> LongDouble {
        LongDouble {
            neg,
            mant: 0,
            exp: 0,
        }
    }
}

/// Parses decimal digits with an optional `.` and exponent: returns (digits, 0, exp10).
fn parse_decimal(s: &[u8]) -> Option<(Big, i64, i64)> {
    let mut mag = Big::zero();
    let mut i = 0;
    let mut digits = 0usize;
    let mut exp10: i64 = 0;
    let mut seen_dot = false;
    let mut chunk = 0u32;
    let mut chunk_len = 0;
    while i < s.len() {
        match s[i] {
            c @ b'0'..=b'9' => {
                chunk = chunk * 10 + u32::from(c - b'0');
                chunk_len += 1;
                if chunk_len == 9 {
                    mag.mul_small(1_000_000_000);
                    mag.add_small(chunk);
                    (chunk, chunk_len) = (0, 0);
                }
                digits += 1;
                if seen_dot {
                    exp10 -= 1;
                }
            }
            b'.' if !seen_dot => seen_dot = true,
            _ => break,
        }
        i += 1;
    }
    mag.mul_small(10u32.pow(chunk_len));
    mag.add_small(chunk);
    if digits == 0 {
        return None;
    }
    if i < s.len() {
        if !matches!(s[i], b'e' | b'E') {
            return None;
        }
        exp10 = exp10.saturating_add(parse_exponent(&s[i + 1..])?);
    }
    Some((mag, 0, exp10))
}

/// Parses hex digits with an optional `.` and binary exponent: returns (digits, exp2, 0).
fn parse_hex(s: &[u8]) -> Option<(Big, i64, i64)> {
    let mut mag = Big::zero();
    let mut i = 0;
    let mut digits = 0usize;
    let mut exp2: i64 = 0;
    let mut seen_dot = false;
    while i < s.len() {
        match s[i] {
            c if c.is_ascii_hexdigit() => {
                let d = char::from(c).to_digit(16).unwrap_or(0);
                mag.mul_small(16);
                mag.add_small(d);
                digits += 1;
                if seen_dot {
                    exp2 -= 4;
                }
            }
            b'.' if !seen_dot => seen_dot = true,
            _ => break,
        }
        i += 1;
    }
    if digits == 0 {
        return None;
    }
    if i < s.len() {
        if !matches!(s[i], b'p' | b'P') {
            return None;
        }
        exp2 = exp2.saturating_add(parse_exponent(&s[i + 1..])?);
    }
    Some((mag, exp2, 0))
}

/// Parses an exponent: optional sign, at least one digit, nothing after; saturates.
fn parse_exponent(s: &[u8]) -> Option<i64> {
    let (neg, digits) = match s.first() {
        Some(b'-') => (true, &s[1..]),
        Some(b'+') => (false, &s[1..]),
        _ => (false, s),
    };
    if digits.is_empty() || !digits.iter().all(u8::is_ascii_digit) {
        return None;
    }
    let v = digits.iter().fold(0i64, |acc, &d| {
        acc.saturating_mul(10)
            .saturating_add(i64::from(d - b'0'))
            .min(1 << 40)
    });
    Some(if neg { -v } else { v })
}

/// Returns `mag * 2^exp2 * 10^exp10` rounded to `long double`, or `None` out of range.
fn from_parts(neg: bool, mut mag: Big, exp2: i64, exp10: i64) -> Option<LongDouble> {
    if mag.is_zero() {
        return Some(LongDouble::zero(neg));
    }
    if exp10 == 0 {
        // Hex: cheap range pre-check before shifting anything.
        let top = i64::try_from(mag.bit_len()).ok()?.saturating_add(exp2);
        if top > MAX_EXP + 64 + 1 {
            return None;
        }
        if top < MIN_EXP - 2 {
            return None;
        }
        return round(neg, &mag, exp2, false).ok();
    }
    // Decimal: |value| ~ 10^(exp10 + digits); long double spans ~1e-4951 .. 1.19e4932.
    let decimal_digits = i64::try_from(mag.bit_len()).ok()? * 30103 / 100_000 + 1;
    let magnitude = exp10.saturating_add(decimal_digits);
    if magnitude > 4934 {
        return None;
    }
    if magnitude < -4952 {
        return None;
    }
    if exp10 >= 0 {
        mag.mul_pow10(exp10.unsigned_abs());
        return round(neg, &mag, 0, false).ok();
    }
    // mag / 10^n, as repeated exact divisions by 10^9: floor(floor(a/b)/c) = floor(a/(bc)),
    // and any non-zero remainder is the sticky bit. Shift left first so the quotient keeps
    // 64 significant bits plus round and sticky information (log2(10) < 3.33).
    let n = exp10.unsigned_abs();
    let want = n * 333 / 100 + 70;
    let k = want.saturating_sub(mag.bit_len());
    let mut q = mag.shl(k);
    let mut sticky = false;
    let mut left = n;
    while left > 0 {
        let step = left.min(9);
        // step <= 9, so 10^step fits a u32.
        sticky |= q.div_small(10u32.pow(step as u32)) != 0;
        left -= step;
    }
    round(neg, &q, -i64::try_from(k).ok()?, sticky).ok()
}

/// Why a value does not fit a `long double`.
#[derive(Debug)]
enum Range {
    Overflow,
    Underflow,
}

/// Rounds `mag * 2^exp` (plus a sticky bit below it) to 64 significant bits, half to even,
/// with denormals below `MIN_EXP`.
fn round(neg: bool, mag: &Big, exp: i64, sticky: bool) -> Result<LongDouble, Range> {
    let len = i64::try_from(mag.bit_len()).map_err(|_| Range::Overflow)?;
    let shift = (len - 64).max(MIN_EXP.saturating_sub(exp));
    let (mant, e) = if shift > 0 {
        let s = shift.unsigned_abs();
        let mut mant = mag.shr(s).low_u64();
        let mut e = exp + shift;
        let half = mag.bit(s - 1);
        let rest = sticky || mag.any_below(s - 1);
        if half && (rest || mant & 1 == 1) {
            let (next, carried) = mant.overflowing_add(1);
            mant = next;
            if carried {
                // 0xFFFF_FFFF_FFFF_FFFF + 1: one more bit, renormalise.
                mant = 1 << 63;
                e += 1;
            }
        }
        (mant, e)
    } else {
        (mag.shl(shift.unsigned_abs()).low_u64(), exp + shift)
    };
    if mant == 0 {
        return if mag.is_zero() {
            Ok(LongDouble::zero(neg))
        } else {
            Err(Range::Underflow)
        };
    }
    if e > MAX_EXP {
        return Err(Range::Overflow);
    }
    Ok(LongDouble { neg, mant, exp: e })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Returns what Redis's INCRBYFLOAT replies for `value` + `incr`.
    fn incr(value: &str, incr: &str) -> Option<String> {
        let a = parse(value.as_bytes())??;
        let b = parse(incr.as_bytes())??;
        add(a, b).map(format)
    }

    #[test]
    fn sums_print_as_redis_7_prints_them() {
        // Each expectation was read from redis-server 7.0.15 on x86-64.
        assert_eq!(incr("10.5", "0.1").as_deref(), Some("10.6"));
        assert_eq!(incr("0.1", "0.2").as_deref(), Some("0.3"));
        assert_eq!(incr("1", "-1.1").as_deref(), Some("-0.1"));
        assert_eq!(
            incr("1e17", "0.1").as_deref(),
            Some("100000000000000000.1015625")
        );
        assert_eq!(
            incr("100000000000000000.1015625", "3.0e3").as_deref(),
            Some("100000000000003000.1015625")
        );
        assert_eq!(
            incr("3", "0.33333333333333333333333333").as_deref(),
            Some("3.33333333333333333")
        );
        assert_eq!(
            incr("123456789.123456789", "0.000000001").as_deref(),
            Some("123456789.12345678999554366")
        );
        assert_eq!(incr("-1e-20", "0").as_deref(), Some("0"));
        assert_eq!(incr("0", "-0").as_deref(), Some("0"));
        assert_eq!(incr("5", "1.").as_deref(), Some("6"));
        assert_eq!(incr("6", ".5").as_deref(), Some("6.5"));
        assert_eq!(incr("6.5", "+.5").as_deref(), Some("7"));
        assert_eq!(incr("0", "0x1p3").as_deref(), Some("8"));
        assert_eq!(incr("17179869184", "1.5").as_deref(), Some("17179869185.5"));
    }

    #[test]
    fn huge_values_print_every_digit() {
        assert_eq!(
            incr("1e300", "1").as_deref(),
            Some("1000000000000000000008997324079559193870523944273290747938260082321265646596180935755849152083750497190350372508614274835903592556184672983913096260520748646287327135641843653294084255107606016789726652932370030551382947620994540294772781889620606179267611627097410650567187386105690089424915104006144")
        );
        assert_eq!(
            incr("0", "1.7976931348623157e308").as_deref(),
            Some("179769313486231569995921046774104434048386446944329178485314420765176628523124396354701868608387085564428793419425520689308708363451136055357897278026477617073498977686288394835618163294045594434929537447290627480669417384648879122776218333598953852832103282504751611691208117720159985926376802466863339536384")
        );
        let big = incr("0", "1e400").unwrap_or_default();
        assert!(big.starts_with("10000000000000000000281880683947586514586453433629052038625910693539685534008629862039363994848324160522094053927317616200295822777259255734023828976593340661017797447434546173917862448116674971723778943824391593338047470675026246684401359237513603830343735485505244955964979021825038280091068414947402456898653040951017512658092615827588920183472511643316591362664138176309734806343732497430221946880"), "{big}");
    }

    #[test]
    fn rejects_what_string2ld_rejects() {
        for bad in [
            "", " 1", "1 ", "abc", "1e", "nan", "-nan", "1e5000", "1e-5000", "0x", ".", "-",
            "1.5 ", "infin",
        ] {
            assert_eq!(parse(bad.as_bytes()), None, "{bad:?}");
        }
        assert_eq!(parse(b"inf"), Some(None));
        assert_eq!(parse(b"-Infinity"), Some(None));
        assert_eq!(incr("1.1e4932", "1.1e4932"), None, "overflow to infinity");
    }
}
