//! Users, as Redis 6's ACL: who may log in, which commands each may run (by category or by
//! name) and which keys each may touch.
//!
//! ```text
//! --user "alice on >pass ~cache:* +@read" ─▶ rules::parse_user_line ─▶ User ─▶ Acl
//! AUTH / HELLO AUTH ─▶ Acl::authenticate ─▶ Session's user ─▶ User::check (every command) ─▶ -NOPERM
//! ACL SETUSER / DELUSER ─▶ Acl::set_user / delete_users ─▶ generation + 1 ─▶ sessions look their user up again
//! a refusal, a failed AUTH ─▶ log::AclLog (ACL LOG)
//! ```
//!
//! Without `--user` lines there is one user, `default`, `on nopass ~* &* +@all`, which a
//! `requirepass` gives a password: everything is as before users existed, and the check on
//! each command is one branch ([`User::unrestricted`]).

pub mod categories;
pub mod command;
pub mod log;
mod redis_commands;
pub mod rules;
mod units;
pub mod user;

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, RwLock};

use bytes::Bytes;

pub use user::{Denied, User};

use crate::auth::Password;

/// Every user of a process, by name: the `user` lines and `--user` flags at start, changed
/// by `ACL SETUSER` and `ACL DELUSER` (on the process they are sent to: a router's users are
/// its own, not its shards').
#[derive(Debug)]
pub struct Acl {
    users: RwLock<BTreeMap<Bytes, Arc<User>>>,
    /// Bumped by every change, so a session notices (one load per command) that its user
    /// may have changed and looks it up again, as Redis's clients see their user's new rules.
    generation: AtomicU64,
    /// The `default` user's `on nopass` and `unrestricted`, read without the lock by every
    /// new session.
    default_open: AtomicBool,
    default_unrestricted: AtomicBool,
    log: log::AclLog,
}

/// Why `ACL SETUSER` changed nothing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SetUserError {
    /// A name with a space or a NUL, which Redis refuses.
    Name,
    /// A rule Redis would refuse (the rule, and why).
    Rule(Bytes, String),
}

impl Default for Acl {
    fn default() -> Acl {
        Acl::new(None, &[]).unwrap_or_else(|_| unreachable!("no rules, no errors"))
    }
}

impl Acl {
    /// Returns the users of `lines` (Redis's `user` directive, one user per line) plus the
    /// `default` user: `on nopass ~* &* +@all`, or with `requirepass` as its one password,
    /// unless a line defines `default` itself (its rules then apply to that starting point,
    /// as in Redis).
    ///
    /// # Errors
    /// The first line Redis would refuse, and why.
    pub fn new(requirepass: Option<&Password>, lines: &[String]) -> Result<Acl, String> {
        let mut default = rules::parse_user_line("default on nopass ~* &* +@all")?;
        if let Some(pw) = requirepass.filter(|p| !p.is_empty()) {
            default.nopass = false;
            default.passwords = vec![user::hash_password(pw.expose())];
        }
        let mut users = BTreeMap::new();
        users.insert(default.name.clone(), default);
        for line in lines {
            let mut words = line.split_whitespace();
            let name = words.next().ok_or("a user line needs a user name")?;
            let user = users
                .entry(Bytes::copy_from_slice(name.as_bytes()))
                .or_insert_with(|| User::new(Bytes::copy_from_slice(name.as_bytes())));
            for rule in words {
                rules::apply(user, rule.as_bytes())
                    .map_err(|e| format!("user {name}: rule '{rule}': {e}"))?;
            }
        }
        let acl = Acl {
            users: RwLock::new(users.into_iter().map(|(k, v)| (k, Arc::new(v))).collect()),
            generation: AtomicU64::new(0),
            default_open: AtomicBool::new(false),
            default_unrestricted: AtomicBool::new(false),
            log: log::AclLog::default(),
        };
        acl.note_default();
        Ok(acl)
    }

    fn note_default(&self) {
        let default = self.default_user();
        self.default_open
            .store(default.enabled() && default.nopass(), Relaxed);
        self.default_unrestricted
            .store(default.unrestricted(), Relaxed);
    }

    /// Returns the `default` user, whom every connection starts as.
    pub fn default_user(&self) -> Arc<User> {
        self.user(b"default")
            .unwrap_or_else(|| unreachable!("the default user is never deleted"))
    }

    /// Returns (`on` and `nopass`, no restriction) for the `default` user, without a lock.
    pub fn default_flags(&self) -> (bool, bool) {
        (
            self.default_open.load(Relaxed),
            self.default_unrestricted.load(Relaxed),
        )
    }

    /// Returns the user called `name`.
    pub fn user(&self, name: &[u8]) -> Option<Arc<User>> {
        crate::sync::read(&self.users).get(name).cloned()
    }

    /// Returns the process's `ACL LOG`.
    pub fn log(&self) -> &log::AclLog {
        &self.log
    }

    /// Returns how many changes the users have seen.
    pub fn generation(&self) -> u64 {
        self.generation.load(Relaxed)
    }

    /// Returns the user `name` logs in as with `password`; `None` for a wrong password, a
    /// user who is off, or no such user (indistinguishable, as Redis's `WRONGPASS`).
    pub fn authenticate(&self, name: &[u8], password: &[u8]) -> Option<Arc<User>> {
        match self.user(name) {
            Some(user) if user.accepts(password) => Some(user),
            Some(_) => None,
            None => {
                // The same hashing work as for a real user, so timing does not say who exists.
                let _ = std::hint::black_box(user::hash_password(password));
                None
            }
        }
    }

    /// Returns every user, by name.
    pub fn users(&self) -> Vec<Arc<User>> {
        crate::sync::read(&self.users).values().cloned().collect()
    }

    /// `ACL SETUSER name rules...`: applies `rules` to the user (a new one starts as Redis's:
    /// off, no password, no command, no key), all or nothing.
    ///
    /// # Errors
    /// The first rule Redis would refuse, and Redis's reason.
    pub fn set_user(&self, name: &[u8], rules: &[Bytes]) -> Result<(), SetUserError> {
        if name.iter().any(|b| *b == b' ' || *b == 0) {
            return Err(SetUserError::Name);
        }
        let mut users = crate::sync::write(&self.users);
        let mut user = match users.get(name) {
            Some(u) => User::clone(u),
            None => User::new(Bytes::copy_from_slice(name)),
        };
        for rule in rules {
            rules::apply(&mut user, rule).map_err(|e| SetUserError::Rule(rule.clone(), e))?;
        }
        users.insert(user.name.clone(), Arc::new(user));
        drop(users);
        self.changed();
        Ok(())
    }

    /// `ACL DELUSER names...`: deletes the users, returning how many existed. Sessions logged
    /// in as one are closed at their next command.
    ///
    /// # Errors
    /// `default`, which Redis never deletes.
    pub fn delete_users(&self, names: &[Bytes]) -> Result<usize, &'static str> {
        if names.iter().any(|n| &n[..] == b"default") {
            return Err("ERR The 'default' user cannot be removed");
        }
        let mut users = crate::sync::write(&self.users);
        let deleted = names
            .iter()
            .filter(|n| users.remove(&n[..]).is_some())
            .count();
        drop(users);
        self.changed();
        Ok(deleted)
    }

    fn changed(&self) {
        self.note_default();
        self.generation.fetch_add(1, Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_user_is_open_unless_requirepass_or_a_line_says_otherwise() {
        let acl = Acl::default();
        assert!(acl.default_user().unrestricted());
        assert!(acl.authenticate(b"default", b"x").is_some());
        assert_eq!(
            acl.default_user().describe(),
            "user default on nopass ~* &* +@all"
        );
        let locked = Acl::new(Some(&Password::new("pw")), &[]).unwrap();
        assert!(locked.authenticate(b"default", b"x").is_none());
        assert!(locked.authenticate(b"default", b"pw").is_some());
        let off = Acl::new(None, &["default off".into(), "a on >p +@all ~*".into()]).unwrap();
        assert!(off.authenticate(b"default", b"").is_none());
        assert!(off.authenticate(b"a", b"p").is_some());
        assert!(off.authenticate(b"nobody", b"p").is_none());
        assert_eq!(off.users().len(), 2);
    }
}
