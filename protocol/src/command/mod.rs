//! Requests become commands here: name lookup, arity, key positions, argument cursors; and
//! the table that says where each command runs (`route`).

mod args;
pub use args::{parse_cursor, parse_i64};
mod resp3;
mod route;
mod table;

pub use args::Args;
pub use resp3::{shape as resp3_shape, Shape};
pub use route::{Merge, Route, SetOp, SCAN_CURSOR_BITS, SCAN_CURSOR_MASK, SUBCOMMAND_ROUTES};
pub use table::{lookup, spec, CommandSpec, Flags, KeySpec, Kind, COMMANDS};

use bytes::{Bytes, BytesMut};

use crate::codec::Request;
use crate::error::CommandError;

/// A request matched to its row of the command table, arity checked.
#[derive(Debug, Clone)]
pub struct Command {
    spec: &'static CommandSpec,
    args: Vec<Bytes>,
    raw: Bytes,
    inline: bool,
}

impl Command {
    /// Looks the request's name up and checks its arity.
    ///
    /// # Errors
    /// `Unknown` for a name not in the table, `WrongArity` as Redis counts it,
    /// `UnknownSubcommand` / `WrongArity` (`client|setname`) for container commands.
    pub fn from_request(request: Request) -> Result<Command, CommandError> {
        let Request { args, raw, inline } = request;
        let Some(spec) = args.first().and_then(|name| table::lookup(name)) else {
            let mut args = args;
            let name = if args.is_empty() {
                Bytes::new()
            } else {
                args.remove(0)
            };
            return Err(CommandError::Unknown { name, args });
        };
        check_arity(spec, &args)?;
        Ok(Command {
            spec,
            args,
            raw,
            inline,
        })
    }

    /// Returns the command's row.
    pub fn spec(&self) -> &'static CommandSpec {
        self.spec
    }

    /// Returns which command this is.
    pub fn kind(&self) -> Kind {
        self.spec.kind
    }

    /// Returns every argument, the name at index 0.
    pub fn args(&self) -> &[Bytes] {
        &self.args
    }

    /// Returns a cursor over the arguments after the name.
    pub fn cursor(&self) -> Args<'_> {
        Args::new(&self.args[1..])
    }

    /// Returns the request exactly as the client sent it (multibulk or inline line).
    pub fn raw(&self) -> &Bytes {
        &self.raw
    }

    /// Returns true when the client sent an inline command (its raw bytes are not RESP).
    pub fn is_inline(&self) -> bool {
        self.inline
    }

    /// Returns the command as RESP request bytes: the client's own when it sent RESP,
    /// encoded from the arguments when it sent an inline line or was built here.
    pub fn request_bytes(&self) -> Bytes {
        if !self.inline {
            return self.raw.clone();
        }
        // Sized once: `$<len>\r\n<arg>\r\n` is at most 25 bytes more than the argument.
        let size = 16 + self.args.iter().map(|a| a.len() + 25).sum::<usize>();
        let mut out = BytesMut::with_capacity(size);
        crate::encode::request(&mut out, self.args.iter().map(|a| a.as_ref()));
        out.freeze()
    }

    /// Returns the same command with `args` (the name at index 0), as a router sends part
    /// of a split command: it has no bytes of its own until [`request_bytes`](Self::request_bytes).
    pub fn with_args(&self, args: Vec<Bytes>) -> Command {
        Command {
            spec: self.spec,
            args,
            raw: Bytes::new(),
            inline: true,
        }
    }

    /// Returns command `kind` with `args` after its name, as a router sends a part of a
    /// command that another command computes (SDIFF's other groups answer SUNION).
    pub fn of(kind: Kind, args: impl IntoIterator<Item = Bytes>) -> Command {
        let spec = table::spec(kind);
        let mut all = vec![Bytes::from_static(spec.name.as_bytes())];
        all.extend(args);
        Command {
            spec,
            args: all,
            raw: Bytes::new(),
            inline: true,
        }
    }

    /// Returns where the command goes: its row's route, or its subcommand's where that one
    /// routes otherwise ([`SUBCOMMAND_ROUTES`]).
    pub fn route(&self) -> Route {
        if !self.spec.subcommands.is_empty() {
            if let Some(sub) = self.args.get(1) {
                for (kind, name, route) in SUBCOMMAND_ROUTES {
                    if *kind == self.spec.kind && name.as_bytes().eq_ignore_ascii_case(sub) {
                        return *route;
                    }
                }
            }
        }
        self.spec.route
    }

    /// Returns the keys, by the row's key positions.
    pub fn keys(&self) -> impl Iterator<Item = &Bytes> + '_ {
        let all = self.args.len();
        let (start, step, count) = match self.spec.keys {
            KeySpec::None => (all, 1, usize::MAX),
            KeySpec::First => (1, all.max(1), usize::MAX),
            KeySpec::Second => (2, all.max(1), usize::MAX),
            KeySpec::AllFrom(i) => (i, 1, usize::MAX),
            KeySpec::Pairs(i) => (i, 2, usize::MAX),
            KeySpec::Range(first, last) => (first, 1, last + 1 - first),
            // A count that is not a number names no keys; the executor refuses it.
            KeySpec::Counted(i) => (i + 1, 1, self.key_count(i).unwrap_or(0)),
        };
        self.args.iter().skip(start).step_by(step).take(count)
    }

    /// Returns the key count at argument `i` (EVAL's `numkeys`) when it is a number no larger
    /// than the arguments after it.
    pub fn key_count(&self, i: usize) -> Option<usize> {
        let n = parse_i64(self.args.get(i)?)?;
        let n = usize::try_from(n).ok()?;
        (n <= self.args.len().saturating_sub(i + 1)).then_some(n)
    }
}

/// Checks the arity of the command and, for container commands, of the subcommand.
fn check_arity(spec: &'static CommandSpec, args: &[Bytes]) -> Result<(), CommandError> {
    if !spec.arity_ok(args.len()) {
        return Err(CommandError::WrongArity {
            name: spec.lower.to_string(),
        });
    }
    if spec.subcommands.is_empty() {
        return Ok(());
    }
    // COMMAND alone (arity -1) has no subcommand to check.
    let Some(sub) = args.get(1) else {
        return Ok(());
    };
    let Some((sub_name, arity)) = spec
        .subcommands
        .iter()
        .find(|(n, _)| n.as_bytes().eq_ignore_ascii_case(sub))
    else {
        return Err(CommandError::UnknownSubcommand {
            sub: sub.clone(),
            command: spec.name,
        });
    };
    let fits = if *arity >= 0 {
        args.len() == *arity as usize
    } else {
        args.len() >= arity.unsigned_abs() as usize
    };
    if fits {
        Ok(())
    } else {
        Err(CommandError::WrongArity {
            name: spec.full_name(Some(sub_name)),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req(parts: &[&str]) -> Request {
        Request {
            args: parts
                .iter()
                .map(|p| Bytes::copy_from_slice(p.as_bytes()))
                .collect(),
            raw: Bytes::new(),
            inline: false,
        }
    }

    fn err_text(parts: &[&str]) -> String {
        let e = Command::from_request(req(parts)).unwrap_err();
        e.to_string()
    }

    #[test]
    fn from_request_checks_arity_like_redis() {
        assert_eq!(
            err_text(&["get"]),
            "ERR wrong number of arguments for 'get' command"
        );
        assert_eq!(
            err_text(&["GET", "a", "b"]),
            "ERR wrong number of arguments for 'get' command"
        );
        assert_eq!(
            err_text(&["set", "a"]),
            "ERR wrong number of arguments for 'set' command"
        );
        assert!(Command::from_request(req(&["set", "a", "b", "EX", "10"])).is_ok());
    }

    #[test]
    fn from_request_rejects_unknown_commands_and_subcommands() {
        assert_eq!(
            err_text(&["foo", "bar"]),
            "ERR unknown command 'foo', with args beginning with: 'bar' "
        );
        assert_eq!(
            err_text(&["client", "nope"]),
            "ERR unknown subcommand 'nope'. Try CLIENT HELP."
        );
        assert_eq!(
            err_text(&["client", "setname"]),
            "ERR wrong number of arguments for 'client|setname' command"
        );
        assert_eq!(
            err_text(&["config", "get"]),
            "ERR wrong number of arguments for 'config|get' command"
        );
    }

    #[test]
    fn keys_follow_the_key_spec() {
        let keys = |parts: &[&str]| -> Vec<String> {
            let cmd = Command::from_request(req(parts)).unwrap();
            cmd.keys()
                .map(|k| String::from_utf8(k.to_vec()).unwrap())
                .collect()
        };
        assert_eq!(keys(&["get", "a"]), ["a"]);
        assert_eq!(keys(&["set", "a", "1", "EX", "5"]), ["a"]);
        assert_eq!(keys(&["mget", "a", "b", "c"]), ["a", "b", "c"]);
        assert_eq!(keys(&["mset", "a", "1", "b", "2"]), ["a", "b"]);
        assert!(keys(&["ping"]).is_empty());
        assert_eq!(keys(&["memory", "usage", "a", "SAMPLES", "5"]), ["a"]);
        assert!(keys(&["memory", "stats"]).is_empty());
    }
}
