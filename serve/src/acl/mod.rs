//! Users, as Redis 6's ACL: who may log in, which commands each may run (by category or by
//! name) and which keys each may touch.
//!
//! ```text
//! --user "alice on >pass ~cache:* +@read" ─▶ rules::parse_user_line ─▶ User ─▶ Acl
//! AUTH / HELLO AUTH ─▶ Acl::authenticate ─▶ Session's user ─▶ User::check (every command) ─▶ -NOPERM
//! ```
//!
//! Without `--user` lines there is one user, `default`, `on nopass ~* &* +@all`, which a
//! `requirepass` gives a password: everything is as before users existed, and the check on
//! each command is one branch ([`User::unrestricted`]).

pub mod categories;
pub mod command;
pub mod rules;
pub mod user;

use std::collections::BTreeMap;
use std::sync::Arc;

use bytes::Bytes;

pub use user::{Denied, User};

use crate::auth::Password;

/// Every user of a process, by name. Fixed at start-up.
#[derive(Debug, Clone)]
pub struct Acl {
    users: BTreeMap<Bytes, Arc<User>>,
    default: Arc<User>,
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
        let users: BTreeMap<Bytes, Arc<User>> =
            users.into_iter().map(|(k, v)| (k, Arc::new(v))).collect();
        let default = users
            .get(&b"default"[..])
            .cloned()
            .unwrap_or_else(|| unreachable!("inserted above"));
        Ok(Acl { users, default })
    }

    /// Returns the `default` user, whom every connection starts as.
    pub fn default_user(&self) -> &Arc<User> {
        &self.default
    }

    /// Returns the user `name` logs in as with `password`; `None` for a wrong password, a
    /// user who is off, or no such user (indistinguishable, as Redis's `WRONGPASS`).
    pub fn authenticate(&self, name: &[u8], password: &[u8]) -> Option<Arc<User>> {
        match self.users.get(name) {
            Some(user) if user.accepts(password) => Some(user.clone()),
            Some(_) => None,
            None => {
                // The same hashing work as for a real user, so timing does not say who exists.
                let _ = std::hint::black_box(user::hash_password(password));
                None
            }
        }
    }

    /// Returns every user, by name.
    pub fn users(&self) -> impl Iterator<Item = &Arc<User>> {
        self.users.values()
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
        assert_eq!(off.users().count(), 2);
    }
}
