//! A cursor over a command's arguments (mini-redis's `Parse`).

use bytes::Bytes;

use crate::error::CommandError;

/// Walks a command's arguments, after the name.
#[derive(Debug, Clone)]
pub struct Args<'a> {
    args: &'a [Bytes],
    pos: usize,
}

impl<'a> Args<'a> {
    /// Returns a cursor at the first of `args`.
    pub fn new(args: &'a [Bytes]) -> Args<'a> {
        Args { args, pos: 0 }
    }

    /// Returns how many arguments are left.
    pub fn remaining(&self) -> usize {
        self.args.len() - self.pos
    }

    /// Returns the next argument, or `Syntax` when there is none.
    ///
    /// # Errors
    /// `CommandError::Syntax` when the arguments are exhausted.
    pub fn next_bytes(&mut self) -> Result<&'a Bytes, CommandError> {
        let arg = self.args.get(self.pos).ok_or(CommandError::Syntax)?;
        self.pos += 1;
        Ok(arg)
    }

    /// Returns the next argument if there is one.
    pub fn try_next(&mut self) -> Option<&'a Bytes> {
        let arg = self.args.get(self.pos)?;
        self.pos += 1;
        Some(arg)
    }

    /// Fails with `Syntax` unless every argument was consumed.
    ///
    /// # Errors
    /// `CommandError::Syntax` when arguments are left.
    pub fn finish(&self) -> Result<(), CommandError> {
        if self.remaining() == 0 {
            Ok(())
        } else {
            Err(CommandError::Syntax)
        }
    }
}

/// Parses an integer exactly as Redis's `string2ll` does: optional `-`, no `+`, no leading
/// zeros, no spaces, within `i64`.
pub fn parse_i64(s: &[u8]) -> Option<i64> {
    if s.is_empty() || s.len() > 20 {
        return None;
    }
    if s == b"0" {
        return Some(0);
    }
    let (neg, digits) = match s[0] {
        b'-' => (true, &s[1..]),
        _ => (false, s),
    };
    if digits.is_empty() || digits[0] == b'0' {
        return None;
    }
    let mut v: u64 = 0;
    for &c in digits {
        if !c.is_ascii_digit() {
            return None;
        }
        v = v.checked_mul(10)?.checked_add(u64::from(c - b'0'))?;
    }
    if neg {
        if v > i64::MAX as u64 + 1 {
            None
        } else {
            Some((v as i128).wrapping_neg() as i64)
        }
    } else {
        i64::try_from(v).ok()
    }
}

/// Parses a SCAN cursor as Redis's `parseScanCursorOrReply` (`strtoul`, base 10), for the
/// shard and the router alike: optional
/// sign (a negative value wraps), leading zeros allowed, no leading space, nothing after.
pub fn parse_cursor(s: &[u8]) -> Option<u64> {
    // strtoul reads a C string: it stops at a NUL, and "" is 0 with nothing left over.
    let s = &s[..s.iter().position(|&b| b == 0).unwrap_or(s.len())];
    if s.is_empty() {
        return Some(0);
    }
    let (neg, digits) = match s[0] {
        b'-' => (true, &s[1..]),
        b'+' => (false, &s[1..]),
        _ => (false, s),
    };
    if digits.is_empty() || !digits.iter().all(u8::is_ascii_digit) {
        return None;
    }
    let v = digits.iter().try_fold(0u64, |acc, &d| {
        acc.checked_mul(10)?.checked_add(u64::from(d - b'0'))
    })?;
    Some(if neg { v.wrapping_neg() } else { v })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_i64_matches_string2ll() {
        assert_eq!(parse_i64(b"0"), Some(0));
        assert_eq!(parse_i64(b"-1"), Some(-1));
        assert_eq!(parse_i64(b"9223372036854775807"), Some(i64::MAX));
        assert_eq!(parse_i64(b"-9223372036854775808"), Some(i64::MIN));
        assert_eq!(parse_i64(b"9223372036854775808"), None);
        for bad in [
            &b""[..],
            b"+1",
            b"01",
            b"-0",
            b" 1",
            b"1 ",
            b"1a",
            b"-",
            b"abc",
        ] {
            assert_eq!(parse_i64(bad), None, "{bad:?}");
        }
    }
}
