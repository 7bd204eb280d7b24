//! Scores and ranges as Redis reads them: a score is C's `strtod` over the whole argument
//! (`inf`, `-inf`, `+inf`, exponents, hexadecimal; never NaN), a score range is
//! `zslParseRange`'s (`(` for exclusive), a lexical range `zslParseLexRangeItem`'s
//! (`[` `(` `-` `+`).

/// C's `isspace` in the "C" locale.
fn is_c_space(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\n' | 0x0b | 0x0c | b'\r')
}

/// What `strtod` made of a whole argument.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Parsed {
    value: f64,
    /// `errno == ERANGE`: the text was finite but overflowed, or underflowed to zero.
    range_error: bool,
}

/// Runs `strtod` on `s`; `None` unless it consumes all of `s` (what follows leading white
/// space included).
fn strtod(s: &[u8]) -> Option<Parsed> {
    let start = s.iter().position(|&b| !is_c_space(b)).unwrap_or(s.len());
    let s = &s[start..];
    let (neg, body) = match s.first() {
        Some(b'-') => (true, &s[1..]),
        Some(b'+') => (false, &s[1..]),
        _ => (false, s),
    };
    let sign = if neg { -1.0 } else { 1.0 };
    if body.eq_ignore_ascii_case(b"inf") || body.eq_ignore_ascii_case(b"infinity") {
        return Some(Parsed {
            value: sign * f64::INFINITY,
            range_error: false,
        });
    }
    if body.len() >= 3 && body[..3].eq_ignore_ascii_case(b"nan") {
        let rest = &body[3..];
        let ok = rest.is_empty()
            || (rest.first() == Some(&b'(')
                && rest.last() == Some(&b')')
                && rest[1..rest.len() - 1]
                    .iter()
                    .all(|b| b.is_ascii_alphanumeric() || *b == b'_'));
        return ok.then_some(Parsed {
            value: f64::NAN,
            range_error: false,
        });
    }
    if body.len() >= 2 && body[0] == b'0' && (body[1] | 0x20) == b'x' {
        // "0x" with no hex digit after it: strtod reads the "0" alone.
        let p = hex(&body[2..].to_ascii_lowercase())?;
        return Some(Parsed {
            value: sign * p.value,
            range_error: p.range_error,
        });
    }
    let nonzero = decimal(body)?;
    // invariant: `decimal` accepted only ASCII digits, '.', 'e', 'E', '+', '-'.
    let text = std::str::from_utf8(body).ok()?;
    let value: f64 = text.parse().ok()?;
    Some(Parsed {
        value: sign * value,
        range_error: value.is_infinite() || (value == 0.0 && nonzero),
    })
}

/// Checks C's decimal grammar (`digits[.digits][e[sign]digits]`, at least one digit in the
/// mantissa); returns whether the mantissa has a non-zero digit.
fn decimal(s: &[u8]) -> Option<bool> {
    let mut i = 0;
    let mut digits = 0;
    let mut nonzero = false;
    while i < s.len() && s[i].is_ascii_digit() {
        nonzero |= s[i] != b'0';
        digits += 1;
        i += 1;
    }
    if i < s.len() && s[i] == b'.' {
        i += 1;
        while i < s.len() && s[i].is_ascii_digit() {
            nonzero |= s[i] != b'0';
            digits += 1;
            i += 1;
        }
    }
    if digits == 0 {
        return None;
    }
    if i < s.len() && (s[i] == b'e' || s[i] == b'E') {
        i += 1;
        if i < s.len() && (s[i] == b'+' || s[i] == b'-') {
            i += 1;
        }
        let exp_start = i;
        while i < s.len() && s[i].is_ascii_digit() {
            i += 1;
        }
        if i == exp_start {
            return None;
        }
    }
    (i == s.len()).then_some(nonzero)
}

/// Reads a hexadecimal float after its `0x` (lowercased): `h[.h][p[sign]d]`.
fn hex(s: &[u8]) -> Option<Parsed> {
    let mut mantissa: u128 = 0;
    let mut exp: i64 = 0;
    let mut digits = 0;
    let mut i = 0;
    let mut seen_dot = false;
    while i < s.len() {
        let c = s[i];
        if c == b'.' && !seen_dot {
            seen_dot = true;
        } else if let Some(d) = (c as char).to_digit(16) {
            digits += 1;
            if mantissa >> 120 == 0 {
                mantissa = (mantissa << 4) | u128::from(d);
                if seen_dot {
                    exp -= 4;
                }
            } else if !seen_dot {
                exp += 4;
            }
        } else {
            break;
        }
        i += 1;
    }
    if digits == 0 {
        return None;
    }
    if i < s.len() && s[i] == b'p' {
        let text = &s[i + 1..];
        let digits = text
            .strip_prefix(b"-")
            .or(text.strip_prefix(b"+"))
            .unwrap_or(text);
        if digits.is_empty() || !digits.iter().all(u8::is_ascii_digit) {
            return None;
        }
        // A longer exponent than fits is as good as infinite either way.
        let e = std::str::from_utf8(text)
            .ok()
            .and_then(|t| t.parse::<i64>().ok())
            .unwrap_or(if text[0] == b'-' { -100_000 } else { 100_000 });
        exp = exp.saturating_add(e.clamp(-100_000, 100_000));
    } else if i != s.len() {
        return None;
    }
    let value = (mantissa as f64) * 2f64.powi(exp.clamp(-2000, 2000) as i32);
    Some(Parsed {
        value,
        range_error: value.is_infinite() || (value == 0.0 && mantissa != 0),
    })
}

/// Reads a score as ZADD and ZINCRBY do (`getDoubleFromObject`): all of the argument,
/// no leading space, no NaN, nothing that overflows or underflows to zero.
pub fn parse_score(s: &[u8]) -> Option<f64> {
    if s.first().is_none_or(|&b| is_c_space(b)) {
        return None;
    }
    let p = strtod(s)?;
    (!p.range_error && !p.value.is_nan()).then_some(p.value)
}

/// A score range (`zrangespec`).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ScoreRange {
    pub min: f64,
    pub max: f64,
    pub min_exclusive: bool,
    pub max_exclusive: bool,
}

/// Reads one end of a score range: `(` then a score for an exclusive end.
fn bound(s: &[u8]) -> Option<(f64, bool)> {
    let (text, exclusive) = match s.first() {
        Some(b'(') => (&s[1..], true),
        _ => (s, false),
    };
    // strtod of an empty string consumes nothing and leaves nothing: Redis reads 0.
    let value = if text.is_empty() {
        0.0
    } else {
        strtod(text)?.value
    };
    (!value.is_nan()).then_some((value, exclusive))
}

impl ScoreRange {
    /// Parses `min max` as `zslParseRange`; `None` is "min or max is not a float".
    pub fn parse(min: &[u8], max: &[u8]) -> Option<ScoreRange> {
        let (min, min_exclusive) = bound(min)?;
        let (max, max_exclusive) = bound(max)?;
        Some(ScoreRange {
            min,
            max,
            min_exclusive,
            max_exclusive,
        })
    }

    /// Returns true for a score below the range's start.
    pub fn below_min(&self, score: f64) -> bool {
        if self.min_exclusive {
            score <= self.min
        } else {
            score < self.min
        }
    }

    /// Returns true for a score at or below the range's end.
    pub fn within_max(&self, score: f64) -> bool {
        if self.max_exclusive {
            score < self.max
        } else {
            score <= self.max
        }
    }
}

/// One end of a lexical range.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LexBound {
    /// `-`: before every member.
    Least,
    /// `+`: after every member.
    Greatest,
    /// `[member`.
    Inclusive(Vec<u8>),
    /// `(member`.
    Exclusive(Vec<u8>),
}

impl LexBound {
    fn parse(s: &[u8]) -> Option<LexBound> {
        match s.first()? {
            b'+' if s.len() == 1 => Some(LexBound::Greatest),
            b'-' if s.len() == 1 => Some(LexBound::Least),
            b'[' => Some(LexBound::Inclusive(s[1..].to_vec())),
            b'(' => Some(LexBound::Exclusive(s[1..].to_vec())),
            _ => None,
        }
    }
}

/// A lexical range (`zlexrangespec`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LexRange {
    pub min: LexBound,
    pub max: LexBound,
}

impl LexRange {
    /// Parses `min max` as `zslParseLexRange`; `None` is "min or max not valid string
    /// range item".
    pub fn parse(min: &[u8], max: &[u8]) -> Option<LexRange> {
        Some(LexRange {
            min: LexBound::parse(min)?,
            max: LexBound::parse(max)?,
        })
    }

    /// Returns true for a member below the range's start.
    pub fn below_min(&self, member: &[u8]) -> bool {
        match &self.min {
            LexBound::Least => false,
            LexBound::Greatest => true,
            LexBound::Inclusive(m) => member < m.as_slice(),
            LexBound::Exclusive(m) => member <= m.as_slice(),
        }
    }

    /// Returns true for a member at or below the range's end.
    pub fn within_max(&self, member: &[u8]) -> bool {
        match &self.max {
            LexBound::Least => false,
            LexBound::Greatest => true,
            LexBound::Inclusive(m) => member <= m.as_slice(),
            LexBound::Exclusive(m) => member < m.as_slice(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::{parse_score, LexRange, ScoreRange};

    #[test]
    fn scores_are_read_as_strtod_reads_them() {
        assert_eq!(parse_score(b"1.5"), Some(1.5));
        assert_eq!(parse_score(b"+inf"), Some(f64::INFINITY));
        assert_eq!(parse_score(b"-Infinity"), Some(f64::NEG_INFINITY));
        assert_eq!(parse_score(b"1e3"), Some(1000.0));
        assert_eq!(parse_score(b".5"), Some(0.5));
        assert_eq!(parse_score(b"5."), Some(5.0));
        assert_eq!(parse_score(b"0x10"), Some(16.0));
        assert_eq!(parse_score(b"0x1p-1"), Some(0.5));
        assert_eq!(parse_score(b"0x1.8p+1"), Some(3.0));
        assert_eq!(parse_score(b"4.9e-324"), Some(4.9e-324));
        for bad in [
            &b"nan"[..],
            b"",
            b" 1",
            b"1 ",
            b"1e",
            b"e1",
            b".",
            b"1e400",
            b"1e-400",
            b"abc",
            b"0x",
            b"0x1p",
            b"0x1p_1",
        ] {
            assert_eq!(parse_score(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn ranges_read_exclusive_ends_and_redis_quirks() {
        let r = ScoreRange::parse(b"(1", b"+inf").unwrap();
        assert!(r.min_exclusive && !r.max_exclusive && r.max == f64::INFINITY);
        assert!(r.below_min(1.0) && !r.below_min(1.5) && r.within_max(1e300));
        // strtod skips leading space; an empty end reads as 0.
        assert_eq!(ScoreRange::parse(b" 1", b"(").unwrap().max, 0.0);
        assert!(ScoreRange::parse(b"nan", b"1").is_none());
        assert!(ScoreRange::parse(b"1", b"(x").is_none());
        let l = LexRange::parse(b"[b", b"(d").unwrap();
        assert!(l.below_min(b"a") && !l.below_min(b"b") && l.within_max(b"c"));
        assert!(!l.within_max(b"d"));
        assert!(LexRange::parse(b"b", b"+").is_none() && LexRange::parse(b"+x", b"+").is_none());
    }
}
