//! The `ACL` command, the part jumpcache has:
//!
//! ```text
//! ACL WHOAMI | ACL LIST | ACL USERS | ACL CAT [category] | ACL GETUSER name
//! ACL SETUSER name [rule ...] | ACL DELUSER name [name ...] | ACL GENPASS [bits]
//! ACL DRYRUN name command [arg ...] | ACL LOG [count | RESET] | ACL SAVE | ACL LOAD | ACL HELP
//! ```
//!
//! A change (SETUSER, DELUSER) applies to the process it is sent to: a router's users are
//! its own, a shard's its own; so is its ACL LOG.

use bytes::Bytes;
use protocol::codec::Request;
use protocol::command::{Command, COMMANDS};
use protocol::error::CommandError;
use protocol::frame::Frame;

use super::categories::{categories, Categories, NAMES};
use super::{Acl, Denied, SetUserError, User};
use crate::session::ServerConfig;

/// Redis's reply to ACL SAVE and ACL LOAD without an ACL file, which jumpcache never has.
const NO_ACL_FILE: &str = "ERR This Redis instance is not configured to use an ACL file. You \
     may want to specify users via the ACL SETUSER command and then issue a CONFIG REWRITE \
     (assuming you have a Redis configuration file set) in order to store users in the Redis \
     configuration.";

/// Answers `ACL ...` for a session logged in as `user`.
///
/// # Errors
/// Redis's errors: an unknown category, a rule SETUSER refuses, DRYRUN's unknown user or
/// command, GENPASS's bad size.
pub fn acl(cmd: &Command, user: &User, config: &ServerConfig) -> Result<Frame, CommandError> {
    let acl = &config.acl;
    let args = cmd.args();
    let message = |s: String| CommandError::Message(s);
    match &args[1].to_ascii_uppercase()[..] {
        b"WHOAMI" => Ok(Frame::Bulk(user.name().clone())),
        b"USERS" => Ok(Frame::Array(
            acl.users()
                .iter()
                .map(|u| Frame::Bulk(u.name().clone()))
                .collect(),
        )),
        b"LIST" => Ok(Frame::Array(
            acl.users()
                .iter()
                .map(|u| Frame::bulk(u.describe().as_bytes()))
                .collect(),
        )),
        b"CAT" => match args.get(2) {
            None => Ok(Frame::Array(
                NAMES.iter().map(|n| Frame::bulk(n.as_bytes())).collect(),
            )),
            Some(name) => {
                let wanted = Categories::named(name).ok_or_else(|| {
                    message(format!(
                        "ERR Unknown category '{}'",
                        String::from_utf8_lossy(name)
                    ))
                })?;
                Ok(Frame::Array(
                    in_category(wanted)
                        .into_iter()
                        .map(|n| Frame::bulk(n.as_bytes()))
                        .collect(),
                ))
            }
        },
        b"GETUSER" => Ok(acl.user(&args[2]).map_or(Frame::Null, |u| getuser(&u))),
        b"SETUSER" => {
            acl.set_user(&args[2], &args[3..]).map_err(|e| match e {
                SetUserError::Name => {
                    CommandError::Static("ERR Usernames can't contain spaces or null characters")
                }
                SetUserError::Rule(rule, e) => message(format!(
                    "ERR Error in ACL SETUSER modifier '{}': {e}",
                    String::from_utf8_lossy(&rule)
                )),
            })?;
            Ok(Frame::ok())
        }
        b"DELUSER" => {
            let names = &args[2..];
            let deleted = acl.delete_users(names).map_err(CommandError::Static)?;
            // Redis closes the clients logged in as a deleted user.
            for client in config.clients.list() {
                if names.iter().any(|n| client.logged_in_as(n)) {
                    client.kill();
                }
            }
            Ok(Frame::Integer(deleted as i64))
        }
        b"GENPASS" => genpass(args),
        b"DRYRUN" => dryrun(args, acl),
        b"SAVE" | b"LOAD" => Err(CommandError::Static(NO_ACL_FILE)),
        b"LOG" => match &args[2..] {
            [] => Ok(acl.log().reply(10)),
            [reset] if reset.eq_ignore_ascii_case(b"RESET") => {
                acl.log().reset();
                Ok(Frame::ok())
            }
            [count] => {
                let count = protocol::command::parse_i64(count).ok_or(CommandError::NotInteger)?;
                Ok(acl.log().reply(usize::try_from(count).unwrap_or(0)))
            }
            _ => Err(wrong_subcommand(&args[1])),
        },
        _ => Ok(Frame::Array(
            HELP.iter().map(|l| Frame::simple(l)).collect(),
        )),
    }
}

const HELP: &[&str] = &[
    "ACL <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
    "CAT [<category>]",
    "    List all commands that belong to <category>, or all command categories",
    "    when no category is specified.",
    "DELUSER <username> [<username> ...]",
    "    Delete a list of users.",
    "DRYRUN <username> <command> [<arg> ...]",
    "    Returns whether the user can execute the given command without executing the command.",
    "GETUSER <username>",
    "    Get the user's details.",
    "GENPASS [<bits>]",
    "    Generate a secure 256-bit user password. The optional `bits` argument can",
    "    be used to specify a different size.",
    "LIST",
    "    Show users details in config file format.",
    "LOAD",
    "    Reload users from the ACL file.",
    "LOG [<count> | RESET]",
    "    Show the ACL log entries.",
    "SAVE",
    "    Save the current config to the ACL file.",
    "SETUSER <username> <attribute> [<attribute> ...]",
    "    Create or modify a user with the specified attributes.",
    "USERS",
    "    List all the registered usernames.",
    "WHOAMI",
    "    Return the current connection username.",
    "HELP",
    "    Prints this help.",
];

/// Redis's `addReplySubcommandSyntaxError`: the subcommand as the client wrote it.
fn wrong_subcommand(sub: &[u8]) -> CommandError {
    CommandError::Message(format!(
        "ERR unknown subcommand or wrong number of arguments for '{}'. Try ACL HELP.",
        String::from_utf8_lossy(sub)
    ))
}

/// `ACL GETUSER`'s map, as Redis 7.0 (no selectors).
fn getuser(user: &User) -> Frame {
    let pair = |k: &'static str, v: Frame| (Frame::simple(k), v);
    let bulk = |s: String| Frame::Bulk(Bytes::from(s));
    // Redis sends the keys as bulk strings.
    let fields = vec![
        pair(
            "flags",
            Frame::Array(user.flags().into_iter().map(Frame::simple).collect()),
        ),
        pair(
            "passwords",
            Frame::Array(user.password_hashes().into_iter().map(bulk).collect()),
        ),
        pair("commands", bulk(user.describe_commands())),
        pair("keys", bulk(user.describe_keys())),
        pair("channels", bulk(user.describe_channels())),
        pair("selectors", Frame::Array(Vec::new())),
    ];
    Frame::Map(
        fields
            .into_iter()
            .map(|(k, v)| (as_bulk(k), as_bulk(v)))
            .collect(),
    )
}

/// Turns simple strings (written short above) into the bulk strings Redis sends.
fn as_bulk(frame: Frame) -> Frame {
    match frame {
        Frame::Simple(s) => Frame::Bulk(s),
        Frame::Array(items) => Frame::Array(items.into_iter().map(as_bulk).collect()),
        other => other,
    }
}

/// `ACL GENPASS [bits]`: that many random bits (256 by default) in hex, from the TLS
/// library's secure random source.
fn genpass(args: &[Bytes]) -> Result<Frame, CommandError> {
    let bits = match args {
        [_, _] => 256,
        [_, _, bits] => {
            let bits = protocol::command::parse_i64(bits).ok_or(CommandError::NotInteger)?;
            if !(1..=4096).contains(&bits) {
                return Err(CommandError::Static(
                    "ERR ACL GENPASS argument must be the number of bits for the output \
                     password, a positive number up to 4096",
                ));
            }
            bits as usize
        }
        _ => return Err(wrong_subcommand(&args[1])),
    };
    let chars = bits.div_ceil(4);
    let mut random = vec![0u8; chars.div_ceil(2)];
    rustls::crypto::ring::default_provider()
        .secure_random
        .fill(&mut random)
        .map_err(|_| CommandError::Static("ERR no random source"))?;
    let mut hex: String = random.iter().map(|b| format!("{b:02x}")).collect();
    hex.truncate(chars);
    Ok(Frame::Bulk(Bytes::from(hex)))
}

/// `ACL DRYRUN user command [arg ...]`: whether the user could run the command, without
/// running it.
fn dryrun(args: &[Bytes], acl: &Acl) -> Result<Frame, CommandError> {
    let user = acl.user(&args[2]).ok_or_else(|| {
        CommandError::Message(format!(
            "ERR User '{}' not found",
            String::from_utf8_lossy(&args[2])
        ))
    })?;
    let request = Request {
        args: args[3..].to_vec(),
        raw: Bytes::new(),
        inline: false,
    };
    let cmd = match Command::from_request(request) {
        Ok(cmd) => cmd,
        Err(CommandError::Unknown { name, .. }) => {
            return Err(CommandError::Message(format!(
                "ERR Command '{}' not found",
                String::from_utf8_lossy(&name)
            )))
        }
        Err(e) => return Err(e),
    };
    Ok(match user.check(&cmd) {
        Ok(()) => Frame::ok(),
        Err(Denied::Command(name)) => Frame::Bulk(Bytes::from(format!(
            "This user has no permissions to run the '{name}' command"
        ))),
        Err(Denied::Key(key)) => Frame::Bulk(Bytes::from(format!(
            "This user has no permissions to access the '{}' key",
            String::from_utf8_lossy(&key)
        ))),
    })
}

/// Returns the commands (and `container|subcommand`s) in `wanted`, as `ACL CAT name` lists them.
pub fn in_category(wanted: Categories) -> Vec<String> {
    let mut out = Vec::new();
    for spec in COMMANDS {
        if categories(spec, None).intersects(wanted) {
            out.push(spec.lower.to_string());
        }
        for (sub, _) in spec.subcommands {
            if categories(spec, Some(sub)).intersects(wanted) {
                out.push(spec.full_name(Some(sub)));
            }
        }
    }
    out
}
