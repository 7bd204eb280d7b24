//! Redis's ACL rule syntax (`ACL SETUSER` and the config file's `user` lines), the part
//! jumpcache has:
//!
//! ```text
//! on | off | nopass | resetpass | >password | <password | #sha256hex | !sha256hex
//! ~pattern | allkeys | resetkeys | &pattern | allchannels | resetchannels
//! +command | -command | +command|subcommand | +@category | -@category
//! allcommands | nocommands | reset | sanitize-payload | skip-sanitize-payload
//! ```

use bytes::Bytes;

use super::categories::Categories;
use super::units::units;
use super::user::{each_unit_to_set, hash_password, Digest32, User};

/// Parses a `user` line: the name, then rules, separated by spaces
/// (`alice on >pass ~cache:* +@read`).
///
/// # Errors
/// A sentence naming the rule Redis would refuse.
pub fn parse_user_line(line: &str) -> Result<User, String> {
    let mut words = line.split_whitespace();
    let name = words.next().ok_or("a user line needs a user name")?;
    let mut user = User::new(Bytes::copy_from_slice(name.as_bytes()));
    for rule in words {
        apply(&mut user, rule.as_bytes())
            .map_err(|e| format!("Error in user declaration '{name}': '{rule}': {e}"))?;
    }
    Ok(user)
}

/// Applies one rule to `user`, as Redis's `ACLSetUser`.
///
/// # Errors
/// Redis's reason (`Unknown command`, `Unknown category`, a malformed hash ...).
pub fn apply(user: &mut User, rule: &[u8]) -> Result<(), String> {
    let lower = rule.to_ascii_lowercase();
    match &lower[..] {
        b"on" => user.enabled = true,
        b"off" => user.enabled = false,
        b"nopass" => {
            user.nopass = true;
            user.passwords.clear();
        }
        b"resetpass" => {
            user.nopass = false;
            user.passwords.clear();
        }
        b"allkeys" => set_keys(user, vec![Bytes::from_static(b"*")]),
        b"resetkeys" => set_keys(user, Vec::new()),
        b"allchannels" => {
            user.all_channels = true;
            user.channels.clear();
        }
        b"resetchannels" => {
            user.all_channels = false;
            user.channels.clear();
        }
        b"sanitize-payload" => user.sanitize = Some("sanitize-payload"),
        b"skip-sanitize-payload" => user.sanitize = Some("skip-sanitize-payload"),
        b"allcommands" => set_all(user, true),
        b"nocommands" => set_all(user, false),
        b"reset" => {
            apply(user, b"resetpass")?;
            apply(user, b"resetkeys")?;
            apply(user, b"resetchannels")?;
            apply(user, b"off")?;
            apply(user, b"sanitize-payload")?;
            apply(user, b"-@all")?;
        }
        _ => return apply_prefixed(user, rule),
    }
    user.refresh();
    Ok(())
}

fn apply_prefixed(user: &mut User, rule: &[u8]) -> Result<(), String> {
    // Redis takes an empty rule as nothing to do.
    let Some((&first, rest)) = rule.split_first() else {
        return Ok(());
    };
    match first {
        b'>' => add_password(user, hash_password(rest)),
        b'<' => user.passwords.retain(|p| *p != hash_password(rest)),
        b'#' => add_password(user, parse_hash(rest)?),
        b'!' => {
            let hash = parse_hash(rest)?;
            user.passwords.retain(|p| *p != hash);
        }
        b'~' if rest == b"*" => set_keys(user, vec![Bytes::from_static(b"*")]),
        b'~' => {
            if user.all_keys() {
                return Err(
                    "Adding a pattern after the * pattern (or the 'allkeys' flag) is \
                            not valid and does not have any effect. Try 'resetkeys' to start \
                            with an empty list of patterns"
                        .into(),
                );
            }
            if !user.keys.iter().any(|k| &k[..] == rest) {
                user.keys.push(Bytes::copy_from_slice(rest));
            }
        }
        b'&' if rest == b"*" => {
            user.all_channels = true;
            user.channels.clear();
        }
        b'&' => {
            if user.all_channels {
                return Err(
                    "Adding a pattern after the * pattern (or the 'allchannels' flag) \
                            is not valid and does not have any effect. Try 'resetchannels' to \
                            start with an empty list of channels"
                        .into(),
                );
            }
            if !user.channels.iter().any(|c| &c[..] == rest) {
                user.channels.push(Bytes::copy_from_slice(rest));
            }
        }
        b'+' | b'-' => commands(user, first == b'+', rest)?,
        b'%' if user.all_keys() => {
            return Err(
                "Adding a pattern after the * pattern (or the 'allkeys' flag) is not \
                        valid and does not have any effect. Try 'resetkeys' to start with an \
                        empty list of patterns"
                    .into(),
            );
        }
        b'%' => {
            return Err("Read/write key permissions (%R~, %W~) are not supported".into());
        }
        _ => return Err("Syntax error".into()),
    }
    user.refresh();
    Ok(())
}

fn add_password(user: &mut User, hash: Digest32) {
    user.nopass = false;
    if !user.passwords.contains(&hash) {
        user.passwords.push(hash);
    }
}

/// Parses a `#<64 hex digits>` rule's digest, as Redis: anything else is refused.
fn parse_hash(hex: &[u8]) -> Result<Digest32, String> {
    const BAD: &str = "The password hash must be exactly 64 characters and contain only \
                       lowercase hexadecimal characters";
    if hex.len() != 64 {
        return Err(BAD.into());
    }
    let mut out = [0u8; 32];
    for (i, pair) in hex.chunks(2).enumerate() {
        let digit = |c: u8| match c {
            b'0'..=b'9' => Ok(c - b'0'),
            b'a'..=b'f' => Ok(c - b'a' + 10),
            _ => Err(BAD.to_string()),
        };
        out[i] = digit(pair[0])? << 4 | digit(pair[1])?;
    }
    Ok(out)
}

fn set_keys(user: &mut User, keys: Vec<Bytes>) {
    user.keys = keys;
}

fn set_all(user: &mut User, on: bool) {
    user.allowed.iter_mut().for_each(|a| *a = on);
    user.future = on;
}

/// `+name`, `-name`, `+name|sub`, `+@category` (and `-`).
fn commands(user: &mut User, on: bool, what: &[u8]) -> Result<(), String> {
    let what = std::str::from_utf8(what)
        .map_err(|_| "Unknown command".to_string())?
        .to_ascii_lowercase();
    if let Some(category) = what.strip_prefix('@') {
        if category == "all" {
            set_all(user, on);
            return Ok(());
        }
        let wanted = Categories::named(category.as_bytes())
            .ok_or_else(|| "Unknown command or category name in ACL".to_string())?;
        each_unit_to_set(wanted, |u| user.allowed[u] = on);
    } else {
        // `name` or `container|sub`; Redis 7.0's first-argument rules (`+select|0`) are
        // not there.
        let units = units();
        let u = units
            .named(&what)
            .ok_or_else(|| "Unknown command or category name in ACL".to_string())?;
        user.allowed[u] = on;
        for &c in &units.all[u].children {
            user.allowed[c] = on;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use protocol::codec::Request;
    use protocol::command::Command;

    fn cmd(parts: &[&str]) -> Command {
        Command::from_request(Request {
            args: parts
                .iter()
                .map(|p| Bytes::copy_from_slice(p.as_bytes()))
                .collect(),
            raw: Bytes::new(),
            inline: false,
        })
        .unwrap()
    }

    #[test]
    fn categories_and_key_patterns_decide_what_a_user_runs() {
        let alice = parse_user_line("alice on >pass ~cache:* +@read").unwrap();
        assert!(alice.accepts(b"pass"));
        assert!(!alice.accepts(b"Pass"));
        assert_eq!(alice.check(&cmd(&["get", "cache:1"])), Ok(()));
        assert_eq!(
            alice.check(&cmd(&["set", "cache:1", "v"])),
            Err(super::super::Denied::Command("set".into()))
        );
        assert_eq!(
            alice.check(&cmd(&["mget", "cache:1", "other"])),
            Err(super::super::Denied::Key(Bytes::from_static(b"other")))
        );
        assert_eq!(
            alice.describe(),
            "user alice on #d74ff0ee8da3b9806b18c877dbf29bbde50b5bd8e4dad7a3a725000feb82e8f1 \
             ~cache:* resetchannels -@all +@read"
        );
    }

    #[test]
    fn minus_rules_take_away_from_plus_all_and_subcommands_are_checked() {
        let carol = parse_user_line(
            "carol on #5e884898da28047151d0e56f8dc6292773603d0d6aabbdd62a11ef721d1542d8 +@all \
             -flushall -@admin ~* allkeys",
        )
        .unwrap();
        assert!(carol.accepts(b"password"));
        assert_eq!(
            carol.check(&cmd(&["flushall"])),
            Err(super::super::Denied::Command("flushall".into()))
        );
        assert_eq!(
            carol.check(&cmd(&["config", "get", "x"])),
            Err(super::super::Denied::Command("config|get".into()))
        );
        assert_eq!(carol.check(&cmd(&["client", "id"])), Ok(()));
        assert_eq!(carol.check(&cmd(&["set", "a", "b"])), Ok(()));
        assert_eq!(
            carol.describe(),
            "user carol on #5e884898da28047151d0e56f8dc6292773603d0d6aabbdd62a11ef721d1542d8 \
             ~* resetchannels +@all -@admin -flushall"
        );
    }

    #[test]
    fn password_key_and_reset_rules_undo_what_they_name() {
        let mut u = parse_user_line("u on >a >b ~x:* ~y:* +@all").unwrap();
        assert!(u.accepts(b"a") && u.accepts(b"b"));
        apply(&mut u, b"<a").unwrap();
        assert!(!u.accepts(b"a") && u.accepts(b"b"));
        let hash_of_b = "3e23e8160039594a33894f6564e1b1348bbd7a0088d42c4acb73eeaed59c009d";
        apply(&mut u, format!("!{hash_of_b}").as_bytes()).unwrap();
        assert!(!u.accepts(b"b"));
        apply(&mut u, b"nopass").unwrap();
        assert!(u.accepts(b"anything"));
        apply(&mut u, b"resetpass").unwrap();
        assert!(!u.accepts(b"anything"));
        assert!(u.may_access(b"y:1") && !u.may_access(b"z"));
        apply(&mut u, b"resetkeys").unwrap();
        assert!(!u.may_access(b"y:1"));
        apply(&mut u, b"allkeys").unwrap();
        assert!(u.may_access(b"z"));
        assert!(u.unrestricted());
        apply(&mut u, b"-get").unwrap();
        assert!(!u.unrestricted());
        assert_eq!(
            u.check(&cmd(&["get", "z"])),
            Err(super::super::Denied::Command("get".into()))
        );
        apply(&mut u, b"+get").unwrap();
        assert_eq!(u.check(&cmd(&["get", "z"])), Ok(()));
        apply(&mut u, b"reset").unwrap();
        assert!(!u.enabled());
        assert_eq!(
            u.describe(),
            "user u off sanitize-payload resetchannels -@all"
        );
        apply(&mut u, b"on").unwrap();
        apply(&mut u, b"nopass").unwrap();
        apply(&mut u, b"+config|get").unwrap();
        apply(&mut u, b"allkeys").unwrap();
        assert_eq!(u.check(&cmd(&["config", "get", "x"])), Ok(()));
        assert_eq!(
            u.check(&cmd(&["config", "set", "x", "y"])),
            Err(super::super::Denied::Command("config|set".into()))
        );
        assert_eq!(
            u.describe(),
            "user u on nopass sanitize-payload ~* resetchannels -@all +config|get"
        );
    }

    #[test]
    fn off_users_and_bad_rules_are_refused() {
        let bob = parse_user_line("bob off >x +@all ~*").unwrap();
        assert!(!bob.accepts(b"x"));
        assert!(parse_user_line("x +nosuch").is_err());
        assert!(parse_user_line("x +@nosuch").is_err());
        assert!(parse_user_line("x #abc").is_err());
        assert!(parse_user_line("x bogus").is_err());
        let open = parse_user_line("o on nopass ~* +@all").unwrap();
        assert!(open.unrestricted() && open.accepts(b"anything"));
    }
}
