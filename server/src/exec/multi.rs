//! Transactions on a shard: EXEC DISCARD WATCH UNWATCH RESET for its own clients, and TXN,
//! what routers send (docs/architecture.md, "Transactions and scripts").
//!
//! ```text
//! EXEC                                     (a client of this shard, after MULTI ... )
//! TXN EXEC watch-token n argc arg... ...   (a router: one group's whole transaction)
//! TXN PREPARE token watch-token lease-ms key...   (phase one: lock, check WATCH)
//! TXN COMMIT token n argc arg... ...       (phase two: run, unlock)
//! TXN ABORT token | TXN WATCH token key... | TXN UNWATCH token
//! ```

use std::time::{Duration, Instant};

use bytes::Bytes;
use protocol::command::parse_i64;
use protocol::error::text;
use protocol::{Command, Frame, Kind, Request};
use serve::session::{handle_local, Session};

use crate::state::ShardState;
use crate::txn::LockError;

/// How long a shard's own client's EXEC waits for a cross-group transaction's locks on its
/// keys before running anyway (the locks' lease is shorter; a lock this old is a bug).
const LOCK_WAIT: Duration = Duration::from_secs(30);

/// The reply that tells a router to try again: another transaction holds a key.
pub const TXNLOCKED: &str = "TXNLOCKED a key is locked by another transaction";
/// Phase two after the locks' lease passed and another transaction took one.
pub const TXNEXPIRED: &str = "TXNEXPIRED the transaction's locks expired before its commit";

/// Runs a `Txn`-route command for `session`.
pub fn execute(cmd: &Command, session: &mut Session, shard: &ShardState) -> Frame {
    match cmd.kind() {
        Kind::Exec => exec(session, shard),
        Kind::Discard => match session.take_multi() {
            Some(_) => {
                unwatch(session, shard);
                Frame::ok()
            }
            None => Frame::error(text::DISCARD_WITHOUT_MULTI),
        },
        Kind::Watch => {
            if session.in_multi() {
                return Frame::error(text::WATCH_IN_MULTI);
            }
            let id = session.id();
            let (token, fresh) = session.watch(|| own_token(id), &cmd.args()[1..]);
            if !fresh.is_empty() {
                shard.txn.watch(token, &fresh);
            }
            Frame::ok()
        }
        Kind::Unwatch => {
            unwatch(session, shard);
            Frame::ok()
        }
        Kind::Reset => {
            unwatch(session, shard);
            session.reset(&shard.server_config);
            Frame::simple("RESET")
        }
        Kind::TxnPhase => phase(cmd, shard),
        _ => crate::script::execute(cmd, session, shard),
    }
}

/// Drops what a connection's session registered in the WATCH table (also when it closes).
pub fn unwatch(session: &mut Session, shard: &ShardState) {
    if let Some(w) = session.take_watched() {
        shard.txn.unwatch(w.token);
    }
}

/// A shard client's WATCH token: its client id with the top bit set; a router's tokens are
/// random (a clash would only make an EXEC fail as if a key changed).
fn own_token(id: u64) -> u64 {
    id | 1 << 63
}

fn exec(session: &mut Session, shard: &ShardState) -> Frame {
    let Some(multi) = session.take_multi() else {
        return Frame::error(text::EXEC_WITHOUT_MULTI);
    };
    let watched = session.take_watched();
    if multi.failed {
        if let Some(w) = watched {
            shard.txn.unwatch(w.token);
        }
        return Frame::error(text::EXECABORT);
    }
    let keys: Vec<Bytes> = multi
        .queued
        .iter()
        .flat_map(|c| c.keys().cloned())
        .collect();
    let started = Instant::now();
    let _gate = loop {
        let Some(gate) = shard.txn.exclusive_unless(|| shard.scripts.busy()) else {
            return Frame::error(text::BUSY);
        };
        if !shard.txn.locked_by_other(0, &keys) || started.elapsed() > LOCK_WAIT {
            break gate;
        }
        drop(gate);
        crate::txn::blocking(|| std::thread::sleep(Duration::from_millis(1)));
    };
    if let Some(w) = watched {
        if !shard.txn.unwatch(w.token) {
            return Frame::NullArray;
        }
    }
    run_all(&multi.queued, session, shard)
}

/// Runs queued commands one after the other; the caller holds the gate exclusive.
fn run_all(cmds: &[Command], session: &mut Session, shard: &ShardState) -> Frame {
    Frame::Array(cmds.iter().map(|c| run_queued(c, session, shard)).collect())
}

/// Runs one queued command as `handler::execute` would, without the gate (held already).
pub(crate) fn run_queued(cmd: &Command, session: &mut Session, shard: &ShardState) -> Frame {
    if let Some(frame) = handle_local(cmd, session, &shard.server_config) {
        return frame;
    }
    match cmd.kind() {
        Kind::Jumpcache => crate::cluster::execute(cmd, session, shard),
        Kind::Unwatch => Frame::ok(),
        Kind::Eval | Kind::EvalSha | Kind::EvalRo | Kind::EvalShaRo | Kind::Script => {
            crate::script::execute_locked(cmd, session, shard)
        }
        Kind::Exec | Kind::Discard | Kind::Watch | Kind::Reset | Kind::TxnPhase => {
            Frame::error("ERR command not allowed inside a transaction")
        }
        _ => match shard.cluster.fence(session) {
            Some(stale) => stale,
            None => crate::exec::execute(cmd, shard, session.protocol()),
        },
    }
}

/// `TXN ...`: what routers send.
fn phase(cmd: &Command, shard: &ShardState) -> Frame {
    match run_phase(cmd, shard) {
        Ok(frame) => frame,
        Err(e) => Frame::error(e),
    }
}

fn run_phase(cmd: &Command, shard: &ShardState) -> Result<Frame, &'static str> {
    let args = cmd.args();
    let sub = args[1].to_ascii_uppercase();
    let num = |i: usize| -> Result<u64, &'static str> {
        let v = args.get(i).and_then(|a| parse_i64(a)).ok_or(text::SYNTAX)?;
        Ok(v as u64)
    };
    // Phase commands come from routers, with a fresh session each (in-process) or the
    // router's connection's: queued commands run with one that has no MULTI and no WATCH.
    let mut session = Session::new(0, &shard.server_config);
    session.authenticate();
    match &sub[..] {
        b"EXEC" => {
            let watch_token = num(2)?;
            let cmds = parse_commands(&args[3..])?;
            let keys: Vec<Bytes> = cmds.iter().flat_map(|c| c.keys().cloned()).collect();
            let Some(_gate) = shard.txn.exclusive_unless(|| shard.scripts.busy()) else {
                return Ok(Frame::error(text::BUSY));
            };
            if shard.txn.locked_by_other(0, &keys) {
                return Ok(Frame::error(TXNLOCKED));
            }
            if watch_token != 0 && !shard.txn.unwatch(watch_token) {
                return Ok(Frame::NullArray);
            }
            Ok(run_all(&cmds, &mut session, shard))
        }
        b"PREPARE" => {
            let (token, watch_token, lease_ms) = (num(2)?, num(3)?, num(4)?);
            let Some(_gate) = shard.txn.exclusive_unless(|| shard.scripts.busy()) else {
                return Ok(Frame::error(text::BUSY));
            };
            // A lease past a minute is a bug or an attack: cap it (and never overflow `Instant`).
            let lease = Duration::from_millis(lease_ms.min(60_000));
            Ok(
                match shard.txn.prepare(token, watch_token, lease, &args[5..]) {
                    Ok(()) => Frame::ok(),
                    Err(LockError::Locked) => Frame::error(TXNLOCKED),
                    Err(LockError::Dirty) => Frame::NullArray,
                },
            )
        }
        b"COMMIT" => {
            let token = num(2)?;
            let cmds = parse_commands(&args[3..])?;
            let Some(_gate) = shard.txn.exclusive_unless(|| shard.scripts.busy()) else {
                return Ok(Frame::error(text::BUSY));
            };
            if !shard.txn.holds(token) {
                shard.txn.unlock(token);
                return Ok(Frame::error(TXNEXPIRED));
            }
            let reply = run_all(&cmds, &mut session, shard);
            shard.txn.unlock(token);
            Ok(reply)
        }
        b"EVAL" => {
            let (group, groups) = (num(2)? as usize, num(3)? as usize);
            let request = Request {
                args: args[4..].to_vec(),
                raw: Bytes::new(),
                inline: true,
            };
            let inner = match Command::from_request(request) {
                Ok(c)
                    if matches!(
                        c.kind(),
                        Kind::Eval | Kind::EvalSha | Kind::EvalRo | Kind::EvalShaRo
                    ) =>
                {
                    c
                }
                Ok(_) => return Err(text::SYNTAX),
                Err(e) => return Ok(e.to_frame()),
            };
            let placement = crate::script::Placement { group, groups };
            Ok(crate::script::execute_placed(&inner, shard, placement))
        }
        b"ABORT" => {
            shard.txn.unlock(num(2)?);
            Ok(Frame::ok())
        }
        b"WATCH" => {
            shard.txn.watch(num(2)?, &args[3..]);
            Ok(Frame::ok())
        }
        b"UNWATCH" => {
            shard.txn.unwatch(num(2)?);
            Ok(Frame::ok())
        }
        _ => Err(text::SYNTAX),
    }
}

/// Parses `n argc arg... argc arg...` into commands.
fn parse_commands(args: &[Bytes]) -> Result<Vec<Command>, &'static str> {
    let count = |a: Option<&Bytes>| -> Result<usize, &'static str> {
        let n = a.and_then(|a| parse_i64(a)).ok_or(text::SYNTAX)?;
        usize::try_from(n).map_err(|_| text::SYNTAX)
    };
    let n = count(args.first())?;
    let mut at = 1;
    let mut cmds = Vec::with_capacity(n.min(args.len()));
    for _ in 0..n {
        let argc = count(args.get(at))?;
        let parts = args.get(at + 1..at + 1 + argc).ok_or(text::SYNTAX)?;
        at += 1 + argc;
        let request = Request {
            args: parts.to_vec(),
            raw: Bytes::new(),
            inline: true,
        };
        cmds.push(Command::from_request(request).map_err(|_| text::SYNTAX)?);
    }
    if at != args.len() {
        return Err(text::SYNTAX);
    }
    Ok(cmds)
}

/// Appends `n argc arg... ...` for `cmds` to `out`: the inverse of the parser, for routers.
pub fn encode_commands<'a>(out: &mut Vec<Bytes>, cmds: impl ExactSizeIterator<Item = &'a [Bytes]>) {
    out.push(Bytes::from(cmds.len().to_string()));
    for args in cmds {
        out.push(Bytes::from(args.len().to_string()));
        out.extend(args.iter().cloned());
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::exec::strings::tests::shard;

    fn line(session: &mut Session, shard: &ShardState, parts: &str) -> Frame {
        let args = parts
            .split(' ')
            .map(|a| Bytes::copy_from_slice(a.as_bytes()))
            .collect();
        let request = Request {
            args,
            raw: Bytes::new(),
            inline: false,
        };
        match Command::from_request(request) {
            Ok(cmd) => crate::handler::execute(&cmd, session, shard),
            Err(e) => {
                session.refuse_in_multi();
                e.to_frame()
            }
        }
    }

    #[test]
    fn exec_runs_the_queue_and_watch_fails_it_after_another_write() {
        let (s, _) = shard();
        let mut a = Session::new(1, &s.server_config);
        let mut b = Session::new(2, &s.server_config);
        assert_eq!(line(&mut a, &s, "MULTI"), Frame::ok());
        assert_eq!(line(&mut a, &s, "SET k 1"), Frame::simple("QUEUED"));
        assert_eq!(line(&mut a, &s, "INCR k"), Frame::simple("QUEUED"));
        assert_eq!(
            line(&mut a, &s, "EXEC"),
            Frame::Array(vec![Frame::ok(), Frame::Integer(2)])
        );
        assert_eq!(line(&mut a, &s, "WATCH k"), Frame::ok());
        assert_eq!(line(&mut b, &s, "SET k 5"), Frame::ok());
        assert_eq!(line(&mut a, &s, "MULTI"), Frame::ok());
        assert_eq!(line(&mut a, &s, "GET k"), Frame::simple("QUEUED"));
        assert_eq!(line(&mut a, &s, "EXEC"), Frame::NullArray);
        assert_eq!(s.txn.counts(), (0, 0));
    }

    #[test]
    fn router_phases_lock_run_and_unlock() {
        let (s, _) = shard();
        let run = |parts: &str| {
            let mut session = Session::new(0, &s.server_config);
            line(&mut session, &s, parts)
        };
        assert_eq!(run("TXN PREPARE 7 0 10000 a b"), Frame::ok());
        assert_eq!(run("TXN PREPARE 8 0 10000 b"), Frame::error(TXNLOCKED));
        assert_eq!(run("TXN EXEC 0 1 2 GET a"), Frame::error(TXNLOCKED));
        assert_eq!(
            run("TXN COMMIT 7 2 3 SET a 1 2 GET a"),
            Frame::Array(vec![Frame::ok(), Frame::bulk(b"1")])
        );
        assert_eq!(
            run("TXN EXEC 0 1 2 GET a"),
            Frame::Array(vec![Frame::bulk(b"1")])
        );
        assert_eq!(run("TXN COMMIT 7 0"), Frame::error(TXNEXPIRED));
        assert_eq!(run("TXN COMMIT 7 1 2 GET"), Frame::error(text::SYNTAX));
        assert_eq!(s.txn.counts(), (0, 0));
    }
}
