//! One ACL user: on or off, its passwords (SHA-256), the commands it may run and the keys it
//! may touch, and the rules that made it (for `ACL LIST`).

use std::sync::OnceLock;

use bytes::Bytes;
use protocol::command::{Command, CommandSpec, COMMANDS};
use sha2::{Digest, Sha256};

use crate::glob::glob_match;

/// A SHA-256 digest of a password: what a user keeps, never the password itself.
pub type Digest32 = [u8; 32];

/// Returns the SHA-256 of `password`.
pub fn hash_password(password: &[u8]) -> Digest32 {
    Sha256::digest(password).into()
}

/// A user, as Redis 6's ACL defines one (the parts of it jumpcache has: no channels, no
/// selectors).
#[derive(Debug, Clone)]
pub struct User {
    pub(crate) name: Bytes,
    pub(crate) enabled: bool,
    pub(crate) nopass: bool,
    pub(crate) passwords: Vec<Digest32>,
    /// One flag per [`unit`]: a command, or one subcommand of a container command.
    pub(crate) allowed: Vec<bool>,
    /// Key patterns (`~pattern`); `*` among them means every key.
    pub(crate) keys: Vec<Bytes>,
    /// `sanitize-payload` or `skip-sanitize-payload` (RESTORE's payload check, which
    /// jumpcache always does): kept only to describe the user as Redis does.
    pub(crate) sanitize: Option<&'static str>,
    /// `&*` (the default user's) or `resetchannels`: kept only to describe the user as Redis does.
    pub(crate) all_channels: bool,
    /// The command rules since the last `+@all`/`-@all`, lower-case, for `ACL LIST`.
    pub(crate) command_rules: Vec<String>,
    /// True when every command and every key is allowed: the check costs one branch.
    pub(crate) unrestricted: bool,
}

/// Why a user may not run a command: each becomes Redis's `-NOPERM` reply.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Denied {
    /// The command (or `container|subcommand`, as named) is not allowed.
    Command(String),
    /// One of the keys matches none of the user's patterns.
    Key,
}

impl Denied {
    /// Returns Redis 7.0's reply text.
    pub fn text(&self) -> String {
        match self {
            Denied::Command(name) => {
                format!("NOPERM this user has no permissions to run the '{name}' command")
            }
            Denied::Key => {
                "NOPERM this user has no permissions to access one of the keys used as arguments"
                    .into()
            }
        }
    }
}

/// Returns where each row's permission flags start in [`User::allowed`]: a row takes one flag,
/// plus one per subcommand.
fn offsets() -> &'static [usize] {
    static OFFSETS: OnceLock<Vec<usize>> = OnceLock::new();
    OFFSETS.get_or_init(|| {
        let mut at = 0;
        let mut v = Vec::with_capacity(COMMANDS.len() + 1);
        for spec in COMMANDS {
            v.push(at);
            at += 1 + spec.subcommands.len();
        }
        v.push(at);
        v
    })
}

/// Returns how many permission units there are (commands plus subcommands).
pub(crate) fn unit_count() -> usize {
    offsets()[COMMANDS.len()]
}

/// Returns the permission unit of `spec` (`sub: None`) or of its subcommand number `sub`.
pub(crate) fn unit(spec: &CommandSpec, sub: Option<usize>) -> usize {
    offsets()[spec.index()] + sub.map_or(0, |s| s + 1)
}

impl User {
    /// Returns a new user as Redis's `ACL SETUSER name` makes one: off, no password, no
    /// command, no key.
    pub fn new(name: impl Into<Bytes>) -> User {
        User {
            name: name.into(),
            enabled: false,
            nopass: false,
            passwords: Vec::new(),
            allowed: vec![false; unit_count()],
            keys: Vec::new(),
            all_channels: false,
            sanitize: None,
            command_rules: Vec::new(),
            unrestricted: false,
        }
    }

    /// Returns the user's name.
    pub fn name(&self) -> &Bytes {
        &self.name
    }

    /// Returns true when the user is `on`.
    pub fn enabled(&self) -> bool {
        self.enabled
    }

    /// Returns true when the user logs in with any password (`nopass`).
    pub fn nopass(&self) -> bool {
        self.nopass
    }

    /// Returns true when `password` logs this user in: the user is on and either `nopass` or
    /// the password's SHA-256 is one of its own. Every digest is compared in full, so the
    /// time taken does not say which byte differed.
    pub fn accepts(&self, password: &[u8]) -> bool {
        let digest = hash_password(password);
        let mut found = false;
        for known in &self.passwords {
            let diff = known.iter().zip(&digest).fold(0u8, |d, (a, b)| d | (a ^ b));
            found |= std::hint::black_box(diff) == 0;
        }
        self.enabled & (found | self.nopass)
    }

    /// Returns true when the user may run every command on every key.
    pub fn unrestricted(&self) -> bool {
        self.unrestricted
    }

    /// Checks that the user may run `cmd` on its keys (Redis 7.0's `ACLCheckAllPerm`).
    ///
    /// # Errors
    /// [`Denied`] naming what is refused.
    pub fn check(&self, cmd: &Command) -> Result<(), Denied> {
        if self.unrestricted {
            return Ok(());
        }
        let spec = cmd.spec();
        let sub = (!spec.subcommands.is_empty())
            .then(|| cmd.args().get(1))
            .flatten()
            .and_then(|s| {
                spec.subcommands
                    .iter()
                    .position(|(n, _)| n.as_bytes().eq_ignore_ascii_case(s))
            });
        if !self.allowed[unit(spec, sub)] {
            let name = match sub {
                Some(i) => format!(
                    "{}|{}",
                    spec.lower,
                    spec.subcommands[i].0.to_ascii_lowercase()
                ),
                None => spec.lower.to_string(),
            };
            return Err(Denied::Command(name));
        }
        if !self.all_keys() && cmd.keys().any(|k| !self.may_access(k)) {
            return Err(Denied::Key);
        }
        Ok(())
    }

    /// Returns true when `key` matches one of the user's patterns.
    pub fn may_access(&self, key: &[u8]) -> bool {
        self.keys.iter().any(|p| glob_match(p, key))
    }

    fn all_keys(&self) -> bool {
        self.keys.iter().any(|p| &p[..] == b"*")
    }

    /// Recomputes the one-branch flag after a rule changed the user.
    pub(crate) fn refresh(&mut self) {
        self.unrestricted = self.all_keys() && self.allowed.iter().all(|a| *a);
    }

    /// Returns the user as `ACL LIST` prints it (Redis 7.0's order: flags, passwords, keys,
    /// channels, commands).
    pub fn describe(&self) -> String {
        let mut out = format!("user {}", String::from_utf8_lossy(&self.name));
        out.push_str(if self.enabled { " on" } else { " off" });
        if self.nopass {
            out.push_str(" nopass");
        }
        if let Some(flag) = self.sanitize {
            out.push(' ');
            out.push_str(flag);
        }
        for p in &self.passwords {
            out.push_str(" #");
            for b in p {
                out.push_str(&format!("{b:02x}"));
            }
        }
        if self.all_keys() {
            out.push_str(" ~*");
        } else {
            for k in &self.keys {
                out.push_str(" ~");
                out.push_str(&String::from_utf8_lossy(k));
            }
        }
        out.push_str(if self.all_channels {
            " &*"
        } else {
            " resetchannels"
        });
        // Redis starts every description from all or nothing.
        if !matches!(
            self.command_rules.first().map(String::as_str),
            Some("+@all" | "-@all")
        ) {
            out.push_str(" -@all");
        }
        for r in &self.command_rules {
            out.push(' ');
            out.push_str(r);
        }
        out
    }
}
