//! Command execution: the only code that touches the store.
//!
//! [`execute`] names each command's executor function, matching every [`Kind`] with no
//! wildcard: a new row of the command table does not compile until the shard runs it.

pub(crate) mod dump;
mod elements;
pub(crate) mod hashes;
pub(crate) mod keys;
pub(crate) mod lists;
pub mod multi;
pub(crate) mod object;
pub(crate) mod server;
pub(crate) mod sets;
pub(crate) mod strings;
pub(crate) mod zsets;

use protocol::command::Flags;
use protocol::{Command, Frame, Kind, Protocol};

use crate::state::ShardState;

/// The reply to a command of the table's `Local` route, which `serve::session::handle_local`
/// answers before the store is reached; no caller sends one here.
const SESSION_COMMAND: &str = "ERR connection command reached the store";

/// Runs a data or server command and returns its reply; it never writes to a socket.
///
/// Connection commands (PING, HELLO, CLIENT, ...) are answered by `serve::session` before this.
pub fn execute(cmd: &Command, shard: &ShardState, protocol: Protocol) -> Frame {
    let reply = run(cmd, shard, protocol);
    // Redis's `dirty`, approximated: one change per write command that did not fail.
    if cmd.spec().flags.contains(Flags::WRITE) && !matches!(reply, Frame::Error(_)) {
        shard.persistence.wrote(1);
        // WATCH: one relaxed load when no client watches anything.
        if shard.txn.watching() {
            match cmd.kind() {
                Kind::FlushAll | Kind::FlushDb => shard.txn.touch_all(),
                _ => shard.txn.touch(cmd.keys()),
            }
        }
        // CLIENT TRACKING: one relaxed load when no client tracks.
        crate::tracking::written(cmd, shard);
    }
    reply
}

fn run(cmd: &Command, shard: &ShardState, protocol: Protocol) -> Frame {
    use Kind::*;
    let store = &shard.store;
    let args = cmd.args();
    match cmd.kind() {
        Ping | Echo | Quit | Hello | Auth | Client | Select | Command | Config | Time | SlowLog
        | Latency | Wait | Acl | Multi | Subscribe | Unsubscribe => Frame::error(SESSION_COMMAND),
        // `handler::execute` runs it with the connection's session (its epoch stamp).
        Jumpcache => Frame::error("ERR JUMPCACHE reached the store"),
        // `handler::execute` runs them with the connection's session (`exec::multi`).
        Exec | Discard | Watch | Unwatch | Reset | Eval | EvalSha | EvalRo | EvalShaRo | Script
        | TxnPhase => Frame::error("ERR transaction command reached the store"),
        Info => server::info(cmd, shard, protocol),
        DbSize => server::db_size(shard),
        FlushDb | FlushAll => server::flush(cmd, shard),
        Save => server::save(shard),
        BgSave => server::bgsave(cmd, shard),
        LastSave => Frame::Integer(shard.persistence.last_save() as i64),
        Get => strings::get(store, &args[1]),
        Set => strings::set::set(cmd, store),
        SetNx => strings::set_nx(store, &args[1], args[2].clone()),
        SetEx => strings::set::set_ex(cmd, store, false),
        PSetEx => strings::set::set_ex(cmd, store, true),
        GetSet => strings::get_set(store, &args[1], args[2].clone()),
        GetDel => strings::get_del(store, &args[1]),
        GetEx => strings::set::get_ex(cmd, store),
        MGet => strings::mget(store, &args[1..]),
        MSet => strings::mset(store, args, "mset"),
        MSetNx => strings::mset(store, args, "msetnx"),
        Incr => strings::incr_by(store, &args[1], 1),
        Decr => strings::incr_by(store, &args[1], -1),
        IncrBy => strings::incr_by_arg(store, &args[1], &args[2]),
        DecrBy => strings::decr_by_arg(store, &args[1], &args[2]),
        IncrByFloat => strings::incr_by_float(store, &args[1], &args[2]),
        Append => strings::append(store, &args[1], &args[2]),
        StrLen => strings::str_len(store, &args[1]),
        GetRange => strings::get_range(store, &args[1], &args[2], &args[3]),
        SetRange => strings::set_range(store, &args[1], &args[2], &args[3]),
        Del | Unlink => keys::count(&args[1..], |k| store.remove(k)),
        Exists | Touch => keys::count(&args[1..], |k| store.meta(k, true).is_some()),
        Expire => keys::expire(store, args, keys::Unit::Seconds, false, "expire"),
        PExpire => keys::expire(store, args, keys::Unit::Millis, false, "pexpire"),
        ExpireAt => keys::expire(store, args, keys::Unit::Seconds, true, "expireat"),
        PExpireAt => keys::expire(store, args, keys::Unit::Millis, true, "pexpireat"),
        Persist => keys::persist(store, &args[1]),
        Ttl => keys::ttl(store, &args[1], keys::Unit::Seconds, false),
        PTtl => keys::ttl(store, &args[1], keys::Unit::Millis, false),
        ExpireTime => keys::ttl(store, &args[1], keys::Unit::Seconds, true),
        PExpireTime => keys::ttl(store, &args[1], keys::Unit::Millis, true),
        Type => keys::type_of(store, &args[1]),
        Keys => keys::keys(store, &args[1]),
        Scan => keys::scan(store, &args[1..]),
        RandomKey => keys::random_key(store),
        Dump => dump::dump(store, &args[1]),
        Restore => dump::restore(store, args),
        Memory => object::memory(cmd, shard),
        Object => object::object(cmd, shard),
        HSet => hashes::hset(args, store, protocol),
        HSetNx => hashes::hsetnx(args, store, protocol),
        HGet => hashes::hget(args, store, protocol),
        HMGet => hashes::hmget(args, store, protocol),
        HMSet => hashes::hmset(args, store, protocol),
        HGetAll => hashes::hgetall(args, store, protocol),
        HDel => hashes::hdel(args, store, protocol),
        HLen => hashes::hlen(args, store, protocol),
        HExists => hashes::hexists(args, store, protocol),
        HKeys => hashes::hkeys(args, store, protocol),
        HVals => hashes::hvals(args, store, protocol),
        HIncrBy => hashes::hincrby(args, store, protocol),
        HIncrByFloat => hashes::hincrbyfloat(args, store, protocol),
        HStrLen => hashes::hstrlen(args, store, protocol),
        HScan => hashes::hscan(args, store, protocol),
        HRandField => hashes::hrandfield(args, store, protocol),
        SAdd => sets::sadd(args, store, protocol),
        SRem => sets::srem(args, store, protocol),
        SMembers => sets::smembers(args, store, protocol),
        SIsMember => sets::sismember(args, store, protocol),
        SMIsMember => sets::smismember(args, store, protocol),
        SCard => sets::scard(args, store, protocol),
        SPop => sets::spop(args, store, protocol),
        SRandMember => sets::srandmember(args, store, protocol),
        SScan => sets::sscan(args, store, protocol),
        SMove => sets::smove(args, store, protocol),
        SInter => sets::sinter(args, store, protocol),
        SUnion => sets::sunion(args, store, protocol),
        SDiff => sets::sdiff(args, store, protocol),
        SInterCard => sets::sintercard(args, store, protocol),
        SInterStore => sets::sinterstore(args, store, protocol),
        SUnionStore => sets::sunionstore(args, store, protocol),
        SDiffStore => sets::sdiffstore(args, store, protocol),
        ZAdd => zsets::zadd(args, store, protocol),
        ZRem => zsets::zrem(args, store, protocol),
        ZScore => zsets::zscore(args, store, protocol),
        ZMScore => zsets::zmscore(args, store, protocol),
        ZIncrBy => zsets::zincrby(args, store, protocol),
        ZCard => zsets::zcard(args, store, protocol),
        ZCount => zsets::zcount(args, store, protocol),
        ZRank => zsets::zrank(args, store, protocol),
        ZRevRank => zsets::zrevrank(args, store, protocol),
        ZRange => zsets::zrange(args, store, protocol),
        ZRangeByScore => zsets::zrangebyscore(args, store, protocol),
        ZRevRangeByScore => zsets::zrevrangebyscore(args, store, protocol),
        ZRevRange => zsets::zrevrange(args, store, protocol),
        ZRangeByLex => zsets::zrangebylex(args, store, protocol),
        ZRemRangeByScore => zsets::zremrangebyscore(args, store, protocol),
        ZRemRangeByRank => zsets::zremrangebyrank(args, store, protocol),
        ZPopMin => zsets::zpopmin(args, store, protocol),
        ZPopMax => zsets::zpopmax(args, store, protocol),
        ZScan => zsets::zscan(args, store, protocol),
        ZRandMember => zsets::zrandmember(args, store, protocol),
        LPush => lists::lpush(args, store, protocol),
        RPush => lists::rpush(args, store, protocol),
        LPushX => lists::lpushx(args, store, protocol),
        RPushX => lists::rpushx(args, store, protocol),
        LPop => lists::lpop(args, store, protocol),
        RPop => lists::rpop(args, store, protocol),
        LLen => lists::llen(args, store, protocol),
        LRange => lists::lrange(args, store, protocol),
        LIndex => lists::lindex(args, store, protocol),
        LSet => lists::lset(args, store, protocol),
        LRem => lists::lrem(args, store, protocol),
        LTrim => lists::ltrim(args, store, protocol),
        LInsert => lists::linsert(args, store, protocol),
        LPos => lists::lpos(args, store, protocol),
        LMove => lists::lmove(args, store, protocol),
        Rename => keys::rename(args, store),
        RenameNx => keys::renamenx(args, store),
        Copy => keys::copy(args, store),
    }
}

#[cfg(test)]
mod expiry_tests;
#[cfg(test)]
mod random_tests;

#[cfg(test)]
mod tests {
    use protocol::command::{Route, COMMANDS};

    use super::SESSION_COMMAND;
    use crate::exec::strings::tests::{run, shard};

    #[test]
    fn every_row_but_the_local_ones_reaches_the_store() {
        let (s, _) = shard();
        for spec in COMMANDS {
            // The fewest arguments the row's arity allows, through its first subcommand.
            let mut line = vec![spec.name];
            let arity = match spec.subcommands.first() {
                Some((sub, arity)) if spec.arity.abs() > 1 => {
                    line.push(sub);
                    *arity
                }
                _ => spec.arity,
            };
            line.resize(arity.unsigned_abs() as usize, "0");
            let reply = run(&s, &line.join(" "));
            let refused = reply == protocol::Frame::error(SESSION_COMMAND);
            assert_eq!(
                refused,
                spec.route == Route::Local,
                "{}: {reply:?}",
                spec.name
            );
        }
    }
}
