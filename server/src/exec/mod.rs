//! Command execution: the only code that touches the store.
//!
//! [`execute`] matches every [`Kind`] exhaustively, so a new row in the command table does not
//! compile until the shard handles it.

pub(crate) mod keys;
pub(crate) mod server;
pub(crate) mod strings;

use protocol::{Command, Frame, Kind, Protocol};

use crate::state::ShardState;

/// Runs a data or server command and returns its reply; it never writes to a socket.
///
/// Connection commands (PING, HELLO, CLIENT, ...) are answered by `serve::session` before this.
pub fn execute(cmd: &Command, shard: &ShardState, protocol: Protocol) -> Frame {
    use Kind::*;
    match cmd.kind() {
        Ping | Echo | Quit | Hello | Auth | Client | Select | Command | Config | Time => {
            Frame::error("ERR connection command reached the store")
        }
        Info | DbSize | FlushDb | FlushAll => server::execute(cmd, shard, protocol),
        Get | Set | SetNx | SetEx | PSetEx | GetSet | GetDel | GetEx | MGet | MSet | MSetNx
        | Incr | Decr | IncrBy | DecrBy | IncrByFloat | Append | StrLen | GetRange | SetRange => {
            strings::execute(cmd, &shard.store)
        }
        Del | Unlink | Exists | Touch | Expire | PExpire | ExpireAt | PExpireAt | Persist | Ttl
        | PTtl | ExpireTime | PExpireTime | Type | Keys | Scan | RandomKey => {
            keys::execute(cmd, &shard.store)
        }
    }
}
