//! `requirepass`: the password, compared in constant time, never printed.
//!
//! Both the shard and the router gate commands through [`crate::session::handle_local`],
//! which uses [`check`] for `AUTH` and `HELLO ... AUTH`.

use std::fmt;

use bytes::Bytes;

/// A password (`requirepass`, `--shard-password`).
///
/// Its `Debug` and `Display` print `<redacted>`, so a config logged with `{:?}` does not leak
/// it; [`Password::matches`] compares in time that does not depend on where the bytes differ.
#[derive(Clone, Default)]
pub struct Password(Bytes);

impl Password {
    /// Returns the password `text`.
    pub fn new(text: impl Into<Bytes>) -> Password {
        Password(text.into())
    }

    /// Parses a password from a flag (clap value parser); never fails.
    ///
    /// # Errors
    /// None; the `Result` is what clap expects.
    pub fn parse(text: &str) -> Result<Password, String> {
        Ok(Password(Bytes::copy_from_slice(text.as_bytes())))
    }

    /// Returns the password's bytes, to send in an `AUTH` request.
    pub fn expose(&self) -> &[u8] {
        &self.0
    }

    /// Returns true when the password is empty (Redis: `requirepass ""` means none).
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Returns true when `candidate` is the password, in time that depends only on the
    /// candidate's length, never on the first differing byte (Redis: `time_independent_strcmp`).
    pub fn matches(&self, candidate: &[u8]) -> bool {
        constant_time_eq(&self.0, candidate)
    }
}

/// Compares every byte of the longer input, folding differences and the length mismatch into
/// one accumulator, so timing does not reveal how much of a guess was right.
fn constant_time_eq(secret: &[u8], candidate: &[u8]) -> bool {
    let n = secret.len().max(candidate.len());
    let mut diff = (secret.len() ^ candidate.len()) as u64;
    for i in 0..n {
        let a = secret.get(i).copied().unwrap_or(0);
        let b = candidate.get(i).copied().unwrap_or(0);
        diff |= u64::from(a ^ b);
    }
    std::hint::black_box(diff) == 0
}

impl PartialEq for Password {
    fn eq(&self, other: &Password) -> bool {
        self.matches(&other.0)
    }
}

impl Eq for Password {}

impl fmt::Debug for Password {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Password(<redacted>)")
    }
}

impl fmt::Display for Password {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<redacted>")
    }
}

/// Returns true when `user` (absent: `default`) and `password` log in, given `requirepass`.
///
/// As Redis 7 with only the default user: without a password the default user is `nopass`
/// and takes any password; any other user name fails.
pub fn check(requirepass: Option<&Password>, user: Option<&[u8]>, password: &[u8]) -> bool {
    let default_user = match user {
        None => true,
        Some(u) => u == b"default",
    };
    match requirepass {
        None => default_user,
        // Evaluate the comparison whatever the user name, so both fail in the same time.
        Some(secret) => secret.matches(password) & default_user,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_only_the_exact_bytes() {
        let p = Password::new("secret");
        assert!(p.matches(b"secret"));
        assert!(!p.matches(b"secreT"));
        assert!(!p.matches(b"secre"));
        assert!(!p.matches(b"secrets"));
        assert!(!p.matches(b""));
        assert!(Password::new("").matches(b""));
    }

    #[test]
    fn debug_and_display_never_show_the_password() {
        let p = Password::new("hunter2");
        assert!(!format!("{p:?} {p}").contains("hunter2"));
        assert!(!format!("{:?}", Some(p)).contains("hunter2"));
    }

    #[test]
    fn check_follows_redis_default_user_rules() {
        let p = Password::new("pw");
        assert!(check(Some(&p), None, b"pw"));
        assert!(check(Some(&p), Some(b"default"), b"pw"));
        assert!(!check(Some(&p), Some(b"other"), b"pw"));
        assert!(!check(Some(&p), None, b"nope"));
        assert!(check(None, Some(b"default"), b"anything"));
        assert!(!check(None, Some(b"other"), b"anything"));
    }
}
