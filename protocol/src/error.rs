//! The three error classes, and Redis's exact error texts, written once.

use std::fmt;
use std::io;

use bytes::Bytes;

use crate::frame::Frame;

/// Redis's error texts, byte for byte (Redis 7.0), and the few of jumpcache's own.
pub mod text {
    /// Generic option error.
    pub const SYNTAX: &str = "ERR syntax error";
    /// An argument that must be a 64-bit integer.
    pub const NOT_INTEGER: &str = "ERR value is not an integer or out of range";
    /// An argument that must be a float.
    pub const NOT_FLOAT: &str = "ERR value is not a valid float";
    /// INCR family past i64.
    pub const OVERFLOW: &str = "ERR increment or decrement would overflow";
    /// INCRBYFLOAT giving NaN or infinity.
    pub const NAN_OR_INF: &str = "ERR increment would produce NaN or Infinity";
    /// A value past proto-max-bulk-len (APPEND, SETRANGE).
    pub const STRING_TOO_LONG: &str =
        "ERR string exceeds maximum allowed size (proto-max-bulk-len)";
    /// SETRANGE with a negative offset.
    pub const OFFSET_OUT_OF_RANGE: &str = "ERR offset is out of range";
    /// DECRBY with -9223372036854775808 (its negation does not fit).
    pub const DECREMENT_OVERFLOW: &str = "ERR decrement would overflow";
    /// EXPIRE with NX and one of XX, GT, LT.
    pub const EXPIRE_NX_CONFLICT: &str =
        "ERR NX and XX, GT or LT options at the same time are not compatible";
    /// EXPIRE with both GT and LT.
    pub const EXPIRE_GT_LT_CONFLICT: &str =
        "ERR GT and LT options at the same time are not compatible";
    /// A write that cannot fit under maxmemory.
    pub const OOM: &str = "OOM command not allowed when used memory > 'maxmemory'.";
    /// A command for one type run on a key holding another.
    pub const WRONGTYPE: &str = "WRONGTYPE Operation against a key holding the wrong kind of value";
    /// SELECT of a database other than 0.
    pub const DB_INDEX: &str = "ERR DB index is out of range";
    /// SCAN with a cursor that is not an unsigned integer.
    pub const INVALID_CURSOR: &str = "ERR invalid cursor";
    /// HELLO with a protocol version we do not speak.
    pub const NOPROTO: &str = "NOPROTO unsupported protocol version";
    /// Commands before AUTH.
    pub const NOAUTH: &str = "NOAUTH Authentication required.";
    /// HELLO before authenticating, without its AUTH option.
    pub const NOAUTH_HELLO: &str = "NOAUTH HELLO must be called with the client already authenticated, otherwise the HELLO AUTH <user> <pass> option can be used to authenticate the client and select the RESP protocol version at the same time";
    /// A connection past `maxclients`; sent before closing it.
    pub const MAX_CLIENTS: &str = "ERR max number of clients reached";
    /// A wrong password.
    pub const WRONGPASS: &str = "WRONGPASS invalid username-password pair or user is disabled.";
    /// AUTH when no password is set.
    pub const AUTH_NOT_SET: &str = "ERR AUTH <password> called without any password configured for the default user. Are you sure your configuration is correct?";
    /// Redis Cluster's text for a multi-key command whose keys live on different nodes
    /// (a router: keys in different groups).
    pub const CROSSSLOT: &str = "CROSSSLOT Keys in request don't hash to the same slot";
    /// jumpcache's own: a router got a shard reply of the wrong shape or count.
    pub const UNEXPECTED_REPLY: &str = "ERR unexpected reply from a shard";

    // Transactions (Redis 7.0's multi.c).
    /// MULTI inside MULTI.
    pub const MULTI_NESTED: &str = "ERR MULTI calls can not be nested";
    /// EXEC outside MULTI.
    pub const EXEC_WITHOUT_MULTI: &str = "ERR EXEC without MULTI";
    /// DISCARD outside MULTI.
    pub const DISCARD_WITHOUT_MULTI: &str = "ERR DISCARD without MULTI";
    /// WATCH inside MULTI.
    pub const WATCH_IN_MULTI: &str = "ERR WATCH inside MULTI is not allowed";
    /// EXEC after a queued command was refused.
    pub const EXECABORT: &str = "EXECABORT Transaction discarded because of previous errors.";

    // Scripts (Redis 7.0's eval.c and script_lua.c).
    /// EVALSHA of a script the shard does not have.
    pub const NOSCRIPT: &str = "NOSCRIPT No matching script. Please use EVAL.";
    /// EVAL's numkeys larger than the arguments.
    pub const NUMKEYS_TOO_BIG: &str = "ERR Number of keys can't be greater than number of args";
    /// EVAL's numkeys negative.
    pub const NUMKEYS_NEGATIVE: &str = "ERR Number of keys can't be negative";
    /// A command refused while a script runs past lua-time-limit.
    pub const BUSY: &str =
        "BUSY Redis is busy running a script. You can only call SCRIPT KILL or SHUTDOWN NOSAVE.";
    /// SCRIPT KILL when no script runs.
    pub const NOTBUSY: &str = "NOTBUSY No scripts in execution right now.";
    /// What a killed script's caller gets.
    pub const SCRIPT_KILLED: &str = "ERR Error running script (call to f_) : @user_script:1: Script killed by user with SCRIPT KILL...";
}

/// Cannot be framed: fatal to that one connection (`-ERR Protocol error: ...`, then close).
#[derive(Debug)]
pub enum FrameError {
    /// The socket failed.
    Io(io::Error),
    /// The peer closed in the middle of a frame.
    Truncated,
    /// Malformed input; the text is Redis's, after `Protocol error: `.
    Protocol(String),
    /// The request not yet complete passed `client-query-buffer-limit`: closed, no reply.
    QueryBufferLimit,
    /// The replies not yet taken passed `client-output-buffer-limit`: closed, no reply.
    OutputBufferLimit,
    /// No request and no reply taken for `timeout` seconds: closed, no reply.
    Idle,
}

impl FrameError {
    /// Returns the reply Redis sends before closing, if any.
    pub fn to_frame(&self) -> Option<Frame> {
        match self {
            FrameError::Protocol(msg) => {
                Some(Frame::error_owned(format!("ERR Protocol error: {msg}")))
            }
            FrameError::Io(_)
            | FrameError::Truncated
            | FrameError::QueryBufferLimit
            | FrameError::OutputBufferLimit
            | FrameError::Idle => None,
        }
    }
}

impl fmt::Display for FrameError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FrameError::Io(e) => write!(f, "io: {e}"),
            FrameError::Truncated => f.write_str("connection closed mid-frame"),
            FrameError::Protocol(msg) => write!(f, "Protocol error: {msg}"),
            FrameError::QueryBufferLimit => f.write_str("reached max query buffer length"),
            FrameError::OutputBufferLimit => f.write_str("reached the output buffer limit"),
            FrameError::Idle => f.write_str("idle timeout"),
        }
    }
}

impl std::error::Error for FrameError {}

impl From<io::Error> for FrameError {
    fn from(e: io::Error) -> Self {
        FrameError::Io(e)
    }
}

/// Well-framed but cannot run: becomes the reply Redis would send; the connection stays open.
#[derive(Debug, Clone, PartialEq)]
pub enum CommandError {
    /// No such command.
    Unknown {
        /// The name as sent.
        name: Bytes,
        /// The arguments after the name.
        args: Vec<Bytes>,
    },
    /// No such subcommand of a container command.
    UnknownSubcommand {
        /// The subcommand as sent.
        sub: Bytes,
        /// The container command, upper case.
        command: &'static str,
    },
    /// Arity mismatch; the name is Redis's full name (`get`, `client|setname`).
    WrongArity {
        /// Lower-case full name.
        name: String,
    },
    /// `ERR syntax error`.
    Syntax,
    /// `ERR value is not an integer or out of range`.
    NotInteger,
    /// `ERR value is not a valid float`.
    NotFloat,
    /// `ERR invalid expire time in '<command>' command`.
    InvalidExpireTime {
        /// Lower-case command name.
        command: &'static str,
    },
    /// Any other fixed Redis text.
    Static(&'static str),
    /// A formatted Redis text.
    Message(String),
}

impl CommandError {
    /// Returns the error reply Redis sends for this error.
    pub fn to_frame(&self) -> Frame {
        match self {
            CommandError::Unknown { name, args } => {
                let mut list = String::new();
                for arg in args {
                    if list.len() >= 128 {
                        break;
                    }
                    let room = 128 - list.len();
                    list.push('\'');
                    list.push_str(&c_str(arg, room));
                    list.push_str("' ");
                }
                Frame::error_owned(format!(
                    "ERR unknown command '{}', with args beginning with: {}",
                    c_str(name, 128),
                    list
                ))
            }
            CommandError::UnknownSubcommand { sub, command } => Frame::error_owned(format!(
                "ERR unknown subcommand '{}'. Try {} HELP.",
                c_str(sub, 128),
                command
            )),
            CommandError::WrongArity { name } => Frame::error_owned(format!(
                "ERR wrong number of arguments for '{name}' command"
            )),
            CommandError::Syntax => Frame::error(text::SYNTAX),
            CommandError::NotInteger => Frame::error(text::NOT_INTEGER),
            CommandError::NotFloat => Frame::error(text::NOT_FLOAT),
            CommandError::InvalidExpireTime { command } => {
                Frame::error_owned(format!("ERR invalid expire time in '{command}' command"))
            }
            CommandError::Static(t) => Frame::error(t),
            CommandError::Message(m) => Frame::error_owned(m.clone()),
        }
    }
}

/// Renders bytes as C's `%.Ns` would: up to the first NUL, at most `max` bytes.
fn c_str(bytes: &[u8], max: usize) -> String {
    let end = bytes
        .iter()
        .position(|&b| b == 0)
        .unwrap_or(bytes.len())
        .min(max);
    String::from_utf8_lossy(&bytes[..end]).into_owned()
}

impl fmt::Display for CommandError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.to_frame() {
            Frame::Error(b) => f.write_str(&String::from_utf8_lossy(&b)),
            _ => Ok(()),
        }
    }
}

impl std::error::Error for CommandError {}

#[cfg(test)]
mod tests {
    use super::*;

    fn text_of(e: CommandError) -> String {
        match e.to_frame() {
            Frame::Error(b) => String::from_utf8(b.to_vec()).unwrap(),
            other => panic!("not an error: {other:?}"),
        }
    }

    #[test]
    fn unknown_command_lists_args_like_redis() {
        let e = CommandError::Unknown {
            name: Bytes::from_static(b"foo"),
            args: vec![Bytes::from_static(b"a"), Bytes::from_static(b"b\r\nc")],
        };
        assert_eq!(
            text_of(e),
            "ERR unknown command 'foo', with args beginning with: 'a' 'b  c' "
        );
        let e = CommandError::Unknown {
            name: Bytes::from_static(b"foo"),
            args: vec![],
        };
        assert_eq!(
            text_of(e),
            "ERR unknown command 'foo', with args beginning with: "
        );
    }

    #[test]
    fn unknown_command_args_stop_near_128_bytes() {
        let e = CommandError::Unknown {
            name: Bytes::from_static(b"x"),
            args: vec![Bytes::from(vec![b'a'; 200]), Bytes::from_static(b"b")],
        };
        let t = text_of(e);
        assert!(t.ends_with(&format!("'{}' ", "a".repeat(128))), "{t}");
    }
}
