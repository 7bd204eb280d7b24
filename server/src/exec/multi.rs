//! Transactions on a shard: EXEC DISCARD WATCH UNWATCH RESET for its own clients, and TXN,
//! what routers send (docs/architecture.md, "Transactions and scripts").
//!
//! ```text
//! EXEC                                     (a client of this shard, after MULTI ... )
//! TXN EXEC watch-token group groups n argc arg... ...   (a router: one group's transaction)
//! TXN PREPARE token watch-token lease-ms coordinator group groups n argc arg... ... watched-key...
//!                                          (phase one: check WATCH, lock, keep the part)
//! TXN COMMIT token                         (phase two: run the part, unlock; coordinator first)
//! TXN RESOLVE token                        (on the coordinator: committed, or aborted now)
//! TXN FORGET token                         (on the coordinator: every group committed)
//! TXN ABORT token | TXN WATCH token key... | TXN UNWATCH token
//! ```

use std::time::{Duration, Instant};

use bytes::Bytes;
use protocol::command::parse_i64;
use protocol::error::text;
use protocol::{Command, Frame, Kind, Request};
use serve::session::{handle_local, Session};

use crate::script::Placement;
use crate::state::ShardState;
use crate::txn::{Commit, LockError, Part};

/// How long a shard's own client's EXEC or EVAL waits for a cross-group transaction's locks
/// on its keys before answering `-TXNLOCKED` (twice a router's lease: only a router can
/// resolve a transaction whose router died, when one of its clients needs the keys).
pub(crate) const LOCK_WAIT: Duration = Duration::from_secs(10);

/// COMMIT or PREPARE of a transaction already resolved as aborted (its router was too slow).
pub const TXNABORTED: &str = "TXNABORTED the transaction was aborted before its commit";
/// COMMIT of a transaction this shard knows nothing of: it restarted since PREPARE.
pub const TXNGONE: &str = "TXNGONE the shard lost the transaction's prepared part (it restarted)";
/// ABORT of a transaction that committed here (never sent by a correct router).
pub const TXNCOMMITTED: &str = "TXNCOMMITTED the transaction committed here";

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
        match shard.txn.holder(0, &keys) {
            None => break gate,
            Some(holder) if started.elapsed() > LOCK_WAIT => {
                if let Some(w) = watched {
                    shard.txn.unwatch(w.token);
                }
                return holder.reply();
            }
            Some(_) => drop(gate),
        }
        crate::txn::blocking(|| std::thread::sleep(Duration::from_millis(1)));
    };
    if let Some(w) = watched {
        if !shard.txn.unwatch(w.token) {
            return Frame::NullArray;
        }
    }
    run_all(&multi.queued, session, shard, None)
}

/// Runs queued commands one after the other; the caller holds the gate exclusive. With a
/// `placement` (a router's transaction on one group), a script among them may touch only
/// that group's keys, as outside a transaction.
fn run_all(
    cmds: &[Command],
    session: &mut Session,
    shard: &ShardState,
    placement: Option<Placement>,
) -> Frame {
    Frame::Array(
        cmds.iter()
            .map(|c| run_placed(c, session, shard, placement))
            .collect(),
    )
}

/// Runs one queued command as `handler::execute` would, without the gate (held already).
pub(crate) fn run_queued(cmd: &Command, session: &mut Session, shard: &ShardState) -> Frame {
    run_placed(cmd, session, shard, None)
}

/// [`run_command`], counted in Commandstats as Redis counts a command EXEC or a script runs.
fn run_placed(
    cmd: &Command,
    session: &mut Session,
    shard: &ShardState,
    placement: Option<Placement>,
) -> Frame {
    let started = Instant::now();
    let frame = run_command(cmd, session, shard, placement);
    let failed = crate::handler::failed(cmd, &frame);
    shard
        .stats
        .commands
        .record(cmd.spec(), started.elapsed(), failed);
    frame
}

fn run_command(
    cmd: &Command,
    session: &mut Session,
    shard: &ShardState,
    placement: Option<Placement>,
) -> Frame {
    if let Some(frame) = handle_local(cmd, session, &shard.server_config) {
        return frame;
    }
    match cmd.kind() {
        Kind::Jumpcache => crate::cluster::execute(cmd, session, shard),
        Kind::Unwatch => Frame::ok(),
        Kind::Eval | Kind::EvalSha | Kind::EvalRo | Kind::EvalShaRo | Kind::Script => {
            crate::script::execute_locked(cmd, session, shard, placement)
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
            let placement = placement(num(3)?, num(4)?);
            let cmds = parse_commands(&args[5..])?;
            let keys: Vec<Bytes> = cmds.iter().flat_map(|c| c.keys().cloned()).collect();
            let Some(_gate) = shard.txn.exclusive_unless(|| shard.scripts.busy()) else {
                return Ok(Frame::error(text::BUSY));
            };
            if let Some(holder) = shard.txn.holder(0, &keys) {
                return Ok(holder.reply());
            }
            if watch_token != 0 && !shard.txn.unwatch(watch_token) {
                return Ok(Frame::NullArray);
            }
            Ok(run_all(&cmds, &mut session, shard, placement))
        }
        b"PREPARE" => {
            let (token, watch_token, lease_ms, coordinator) = (num(2)?, num(3)?, num(4)?, num(5)?);
            let group = num(6)?;
            let placement = placement(group, num(7)?);
            let (cmds, watched) = parse_commands_then(&args[8..])?;
            let Some(_gate) = shard.txn.exclusive_unless(|| shard.scripts.busy()) else {
                return Ok(Frame::error(text::BUSY));
            };
            // A lease past a minute is a bug or an attack: cap it (and never overflow `Instant`).
            let lease = Duration::from_millis(lease_ms.min(60_000));
            let part = Part {
                cmds,
                placement,
                coordinator,
                coordinates: coordinator == group,
                until: Instant::now() + lease,
                keys: Vec::new(),
            };
            Ok(match shard.txn.prepare(token, watch_token, part, watched) {
                Ok(()) => Frame::ok(),
                Err(LockError::Locked(holder)) => holder.reply(),
                Err(LockError::Dirty) => Frame::NullArray,
                Err(LockError::Decided) => Frame::error(TXNABORTED),
            })
        }
        b"COMMIT" => {
            let token = num(2)?;
            let Some(_gate) = shard.txn.exclusive_unless(|| shard.scripts.busy()) else {
                return Ok(Frame::error(text::BUSY));
            };
            Ok(match shard.txn.commit(token) {
                Commit::Run(cmds, placement) => {
                    let reply = run_all(&cmds, &mut session, shard, placement);
                    shard.txn.committed(token, reply.clone());
                    reply
                }
                Commit::Again(Some(reply)) => reply,
                Commit::Again(None) => Frame::error(TXNCOMMITTED),
                Commit::Aborted => Frame::error(TXNABORTED),
                Commit::Gone => Frame::error(TXNGONE),
            })
        }
        b"RESOLVE" => {
            let token = num(2)?;
            let Some(_gate) = shard.txn.exclusive_unless(|| shard.scripts.busy()) else {
                return Ok(Frame::error(text::BUSY));
            };
            Ok(Frame::simple(if shard.txn.resolve(token) {
                "COMMITTED"
            } else {
                "ABORTED"
            }))
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
            let placement = Placement { group, groups };
            Ok(crate::script::execute_placed(&inner, shard, placement))
        }
        b"FORGET" => {
            shard.txn.forget(num(2)?);
            Ok(Frame::ok())
        }
        b"ABORT" => {
            let token = num(2)?;
            let Some(_gate) = shard.txn.exclusive_unless(|| shard.scripts.busy()) else {
                return Ok(Frame::error(text::BUSY));
            };
            Ok(if shard.txn.abort(token) {
                Frame::ok()
            } else {
                Frame::error(TXNCOMMITTED)
            })
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

/// `group groups` as a router sends them: the group this is, of how many.
fn placement(group: u64, groups: u64) -> Option<Placement> {
    Some(Placement {
        group: usize::try_from(group).ok()?,
        groups: usize::try_from(groups).ok().filter(|&n| n > 0)?,
    })
}

/// Parses `n argc arg... argc arg...` into commands.
fn parse_commands(args: &[Bytes]) -> Result<Vec<Command>, &'static str> {
    match parse_commands_then(args)? {
        (cmds, []) => Ok(cmds),
        _ => Err(text::SYNTAX),
    }
}

/// Parses `n argc arg... argc arg...` into commands, and returns the arguments after them.
fn parse_commands_then(args: &[Bytes]) -> Result<(Vec<Command>, &[Bytes]), &'static str> {
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
    Ok((cmds, &args[at..]))
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
        let locked = Frame::error("TXNLOCKED 7 3 0 a key is locked by another transaction");
        assert_eq!(
            run("TXN PREPARE 7 0 10000 3 0 1 2 3 SET a 1 2 GET a b"),
            Frame::ok()
        );
        assert_eq!(run("TXN PREPARE 8 0 10000 3 0 1 1 2 GET b"), locked);
        assert_eq!(run("TXN EXEC 0 0 1 1 2 GET a"), locked);
        let ran = Frame::Array(vec![Frame::ok(), Frame::bulk(b"1")]);
        assert_eq!(run("TXN COMMIT 7"), ran);
        assert_eq!(
            run("TXN COMMIT 7"),
            ran,
            "a second COMMIT gets the same replies"
        );
        assert_eq!(run("TXN RESOLVE 7"), Frame::simple("COMMITTED"));
        assert_eq!(run("TXN ABORT 7"), Frame::error(TXNCOMMITTED));
        assert_eq!(
            run("TXN EXEC 0 0 1 1 2 GET a"),
            Frame::Array(vec![Frame::bulk(b"1")])
        );
        // A part whose lease ended stays locked until resolved: aborted, it never runs.
        assert_eq!(run("TXN PREPARE 9 0 0 3 0 1 1 3 SET a 2"), Frame::ok());
        assert_eq!(
            run("TXN EXEC 0 0 1 1 2 GET a"),
            Frame::error("TXNLOCKED 9 3 1 a key is locked by another transaction")
        );
        assert_eq!(run("TXN RESOLVE 9"), Frame::simple("ABORTED"));
        assert_eq!(run("TXN COMMIT 9"), Frame::error(TXNABORTED));
        assert_eq!(
            run("TXN PREPARE 9 0 0 3 0 1 1 3 SET a 2"),
            Frame::error(TXNABORTED)
        );
        assert_eq!(run("TXN COMMIT 10"), Frame::error(TXNGONE));
        assert_eq!(
            run("TXN PREPARE 7 0 10 3 0 1 1 2 GET"),
            Frame::error(text::SYNTAX)
        );
        assert_eq!(run("GET a"), Frame::bulk(b"1"));
        assert_eq!(s.txn.counts(), (0, 0));
    }
}
