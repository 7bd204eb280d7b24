//! The `ACL` command, the part jumpcache has (users are fixed at start-up):
//!
//! ```text
//! ACL WHOAMI | ACL LIST | ACL USERS | ACL CAT [category] | ACL HELP
//! ```

use protocol::command::{Command, COMMANDS};
use protocol::error::CommandError;
use protocol::frame::Frame;

use super::categories::{categories, Categories, NAMES};
use super::{Acl, User};

/// Answers `ACL ...` for a session logged in as `user`.
///
/// # Errors
/// `ERR Unknown category` for `ACL CAT` of a category Redis does not have.
pub fn acl(cmd: &Command, user: &User, acl: &Acl) -> Result<Frame, CommandError> {
    let args = cmd.args();
    match &args[1].to_ascii_uppercase()[..] {
        b"WHOAMI" => Ok(Frame::Bulk(user.name().clone())),
        b"USERS" => Ok(Frame::Array(
            acl.users().map(|u| Frame::Bulk(u.name().clone())).collect(),
        )),
        b"LIST" => Ok(Frame::Array(
            acl.users()
                .map(|u| Frame::bulk(u.describe().as_bytes()))
                .collect(),
        )),
        b"CAT" => match args.get(2) {
            None => Ok(Frame::Array(
                NAMES.iter().map(|n| Frame::bulk(n.as_bytes())).collect(),
            )),
            Some(name) => {
                let wanted = Categories::named(name).ok_or_else(|| {
                    CommandError::Message(format!(
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
        _ => Ok(Frame::Array(
            [
                "ACL <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
                "CAT [<category>]",
                "    List all commands that belong to <category>, or all command categories",
                "    when no category is specified.",
                "LIST",
                "    Show users details in config file format.",
                "USERS",
                "    List all the registered usernames.",
                "WHOAMI",
                "    Return the current connection username.",
                "HELP",
                "    Print this help.",
            ]
            .iter()
            .map(|l| Frame::simple(l))
            .collect(),
        )),
    }
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
                out.push(format!("{}|{}", spec.lower, sub.to_ascii_lowercase()));
            }
        }
    }
    out
}
