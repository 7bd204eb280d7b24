//! One ACL user: on or off, its passwords (SHA-256), the commands it may run and the keys it
//! may touch, and the rules that made it (for `ACL LIST`).

use bytes::Bytes;
use protocol::command::{Command, CommandSpec};
use sha2::{Digest, Sha256};

use super::categories::{Categories, NAMES};
use super::units::units;
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
    /// One flag per unit ([`units`]): a command, or one subcommand of a container command.
    pub(crate) allowed: Vec<bool>,
    /// Key patterns (`~pattern`); `*` among them means every key.
    pub(crate) keys: Vec<Bytes>,
    /// `sanitize-payload` or `skip-sanitize-payload` (RESTORE's payload check, which
    /// jumpcache always does): kept only to describe the user as Redis does.
    pub(crate) sanitize: Option<&'static str>,
    /// `&*` (the default user's) or `resetchannels`, and `&pattern`s: jumpcache has no
    /// Pub/Sub, so these are kept only to describe the user as Redis does.
    pub(crate) all_channels: bool,
    pub(crate) channels: Vec<Bytes>,
    /// True after `+@all` (or `allcommands`) until `-@all`: Redis then starts the user's
    /// description from `+@all`, else from `-@all`.
    pub(crate) future: bool,
    /// True when every command and every key is allowed: the check costs one branch.
    pub(crate) unrestricted: bool,
}

/// Why a user may not run a command: each becomes Redis's `-NOPERM` reply.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Denied {
    /// The command (or `container|subcommand`, as named) is not allowed.
    Command(String),
    /// A key (the first refused) matches none of the user's patterns.
    Key(Bytes),
}

impl Denied {
    /// Returns Redis 7.0's reply text.
    pub fn text(&self) -> String {
        match self {
            Denied::Command(name) => {
                format!("NOPERM this user has no permissions to run the '{name}' command")
            }
            Denied::Key(_) => {
                "NOPERM this user has no permissions to access one of the keys used as arguments"
                    .into()
            }
        }
    }
}

/// Returns how many permission units there are (commands plus subcommands, Redis's too).
pub(crate) fn unit_count() -> usize {
    units().len()
}

/// Returns the permission unit of `spec` (`sub: None`) or of its subcommand number `sub`.
pub(crate) fn unit(spec: &CommandSpec, sub: Option<usize>) -> usize {
    units().of(spec, sub)
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
            channels: Vec::new(),
            sanitize: None,
            future: false,
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
            let name = spec.full_name(sub.map(|i| spec.subcommands[i].0));
            return Err(Denied::Command(name));
        }
        if !self.all_keys() {
            if let Some(key) = cmd.keys().find(|k| !self.may_access(k)) {
                return Err(Denied::Key(key.clone()));
            }
        }
        Ok(())
    }

    /// Returns true when `key` matches one of the user's patterns.
    pub fn may_access(&self, key: &[u8]) -> bool {
        self.keys.iter().any(|p| glob_match(p, key))
    }

    pub(crate) fn all_keys(&self) -> bool {
        self.keys.iter().any(|p| &p[..] == b"*")
    }

    /// Recomputes the one-branch flag after a rule changed the user.
    pub(crate) fn refresh(&mut self) {
        let ours = units().ours;
        self.unrestricted = self.all_keys() && self.allowed[..ours].iter().all(|a| *a);
    }

    /// Returns the user as `ACL LIST` prints it (Redis 7.0's `ACLDescribeUser`: flags,
    /// passwords, keys, channels, commands).
    pub fn describe(&self) -> String {
        let mut out = format!("user {}", String::from_utf8_lossy(&self.name));
        for flag in self.flags() {
            out.push(' ');
            out.push_str(flag);
        }
        for p in &self.passwords {
            out.push_str(" #");
            out.push_str(&hex(p));
        }
        let keys = self.describe_keys();
        if !keys.is_empty() {
            out.push(' ');
            out.push_str(&keys);
        }
        if self.all_channels {
            out.push_str(" &*");
        } else {
            out.push_str(" resetchannels");
            for c in &self.channels {
                out.push_str(" &");
                out.push_str(&String::from_utf8_lossy(c));
            }
        }
        out.push(' ');
        out.push_str(&self.describe_commands());
        out
    }

    /// Returns the flags `ACL GETUSER` lists: `on` or `off`, `nopass`, and the payload flag.
    pub fn flags(&self) -> Vec<&'static str> {
        let mut out = vec![if self.enabled { "on" } else { "off" }];
        if self.nopass {
            out.push("nopass");
        }
        out.extend(self.sanitize);
        out
    }

    /// Returns the passwords' SHA-256s in hex, as `ACL GETUSER` lists them.
    pub fn password_hashes(&self) -> Vec<String> {
        self.passwords.iter().map(hex).collect()
    }

    /// Returns the key patterns as Redis writes them (`~*`, or `~a:* ~b:*`; empty for none).
    pub fn describe_keys(&self) -> String {
        if self.all_keys() {
            return "~*".into();
        }
        let keys: Vec<String> = self
            .keys
            .iter()
            .map(|k| format!("~{}", String::from_utf8_lossy(k)))
            .collect();
        keys.join(" ")
    }

    /// Returns the channel patterns as `ACL GETUSER` writes them (`&*`, or empty).
    pub fn describe_channels(&self) -> String {
        if self.all_channels {
            return "&*".into();
        }
        let channels: Vec<String> = self
            .channels
            .iter()
            .map(|c| format!("&{}", String::from_utf8_lossy(c)))
            .collect();
        channels.join(" ")
    }

    /// Returns the command rules that make the user's permissions, as Redis 7.0's
    /// `ACLDescribeSelectorCommandRules` makes them: `+@all` or `-@all`, then each category
    /// (in `ACL CAT`'s order) that most of the commands still to describe are in or out of,
    /// then the single commands and subcommands that differ, in table order (Redis's own
    /// order for those is its command dictionary's, which changes from run to run).
    pub fn describe_commands(&self) -> String {
        let mut rules = vec![if self.future { "+@all" } else { "-@all" }.to_string()];
        let additive = !self.future;
        let mut fake = vec![self.future; unit_count()];
        let mut temp = self.allowed.clone();
        // Redis's loop: the category (not yet used) with more commands the same than
        // different, the fewest different, then the most the same, the first in `ACL CAT`'s
        // order on a tie; until none has more the same than different.
        let mut applied = [false; NAMES.len()];
        loop {
            let mut best: Option<(usize, usize, usize)> = None;
            for (j, name) in NAMES.iter().enumerate().filter(|(j, _)| !applied[*j]) {
                let wanted = Categories::named(name.as_bytes()).unwrap_or_default();
                let (mut on, mut off) = (0usize, 0usize);
                each_unit_in(wanted, |u| {
                    if temp[u] {
                        on += 1;
                    } else {
                        off += 1;
                    }
                });
                let (diff, same) = if additive { (off, on) } else { (on, off) };
                let better = match best {
                    None => true,
                    Some((_, min_diff, max_same)) => {
                        diff < min_diff || (diff == min_diff && same > max_same)
                    }
                };
                if same > diff && better {
                    best = Some((j, diff, same));
                }
            }
            let Some((j, _, _)) = best else { break };
            let wanted = Categories::named(NAMES[j].as_bytes()).unwrap_or_default();
            each_unit_to_set(wanted, |u| {
                fake[u] = additive;
                temp[u] = !additive;
            });
            rules.push(format!("{}@{}", if additive { '+' } else { '-' }, NAMES[j]));
            applied[j] = true;
        }
        let all = &units().all;
        for (u, unit) in all.iter().enumerate().filter(|(_, unit)| !unit.sub) {
            for u in std::iter::once(u).chain(unit.children.iter().copied()) {
                if self.allowed[u] != fake[u] {
                    let on = self.allowed[u];
                    rules.push(format!("{}{}", if on { '+' } else { '-' }, all[u].name));
                    fake[u] = on;
                    for &c in &all[u].children {
                        fake[c] = on;
                    }
                }
            }
        }
        rules.join(" ")
    }
}

fn hex(digest: &Digest32) -> String {
    digest.iter().map(|b| format!("{b:02x}")).collect()
}

/// Calls `f` with each unit (command or subcommand) in `wanted`: what Redis's
/// `ACLCountCategoryBitsForSelector` counts.
pub(crate) fn each_unit_in(wanted: Categories, mut f: impl FnMut(usize)) {
    for (u, unit) in units().all.iter().enumerate() {
        if unit.categories.intersects(wanted) {
            f(u);
        }
    }
}

/// Calls `f` with each unit `+@category` sets, as Redis's
/// `ACLSetSelectorCommandBitsForCategory`: a command in the category with all its
/// subcommands, and each subcommand in it.
pub(crate) fn each_unit_to_set(wanted: Categories, mut f: impl FnMut(usize)) {
    for (u, unit) in units().all.iter().enumerate() {
        if unit.categories.intersects(wanted) {
            f(u);
            unit.children.iter().for_each(|&c| f(c));
        }
    }
}
