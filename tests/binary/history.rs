//! The history checker of the live-resizing test (issue 14): pure, no sockets.
//!
//! A history is every operation a test's clients ran, with when it was sent, when its reply
//! came back and what the reply was. Each key has exactly one writer, so its mutations form
//! one sequence; reads come from anyone (the writer itself, readers, the final pass).
//!
//! The model of a key is, after each of its mutations, the *set* of states it may be in: a
//! mutation whose outcome is unknown (an error or a timeout) adds its result to the set
//! instead of replacing it, until the next acknowledged mutation settles the key again.
//!
//! A read sent at `s` and answered at `a` may see the state after any mutation from the last
//! one acknowledged before `s` to the last one sent before `a`; and never a state older than
//! one the same client already read (monotonic reads). Short TTLs are pseudo-mutations
//! ([`Op::Expiry`]) from the earliest to the latest moment the key may vanish.
//!
//! What breaks those rules is a violation, named by the property it breaks: a key reported
//! missing, an acknowledged write lost, an acknowledged DEL undone, a stale read, an expired
//! key revived, or a value that was never written.

#![allow(dead_code)] // The unit tests and the process test each use their own part.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::fmt;

/// A key's state, or a reply, as the checker sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Val {
    /// No such key (a nil reply).
    Absent,
    /// A string value holding this version (`name:v42`).
    Ver(u64),
    /// A counter's value, or an integer reply.
    Int(i64),
}

/// Who ran an operation: reads by one client are checked for monotonicity.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Client {
    /// The bulk load before the test proper.
    Loader,
    /// The one writer of a key (it also reads its keys).
    Writer(u32),
    /// A reader of any key.
    Reader(u32),
    /// The reads after everything settled: an older value then is a lost write.
    Final(u32),
}

/// An operation on one key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    /// `SET key name:v<ver>` (with or without a long `EX`); reply `OK`.
    Set { ver: u64 },
    /// `DEL key`; reply `Int(0|1)`.
    Del,
    /// `INCR key`; reply `Int(new value)`.
    Incr,
    /// `EXPIRE key <long>`: the key must not vanish in the test; reply `Int(0|1)`.
    Expire,
    /// `PEXPIRE key <short>`; reply `Int(0|1)`. An [`Op::Expiry`] follows unless it got 0.
    Pexpire,
    /// Not a command: the key vanishes at some moment in `[send, ack]` (a short TTL's
    /// deadline, widened by the slack allowed). Its outcome is the `PEXPIRE`'s: `Unknown`
    /// when that was unknown.
    Expiry,
    /// `GET key`; reply the value read.
    Get,
}

impl Op {
    /// Returns the name counted in the report.
    pub fn name(self) -> &'static str {
        match self {
            Op::Set { .. } => "SET",
            Op::Del => "DEL",
            Op::Incr => "INCR",
            Op::Expire => "EXPIRE",
            Op::Pexpire => "PEXPIRE",
            Op::Expiry => "(expiry)",
            Op::Get => "GET",
        }
    }
}

/// What came back.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// A reply (for SET, its value is not looked at).
    Ok(Val),
    /// An error or a timeout: the operation may or may not have taken effect.
    Unknown,
}

/// One operation of the history. Times are microseconds since the test started.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Event {
    pub key: u32,
    pub client: Client,
    pub op: Op,
    pub send: u64,
    pub ack: u64,
    pub outcome: Outcome,
}

/// The properties a history can break.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Violation {
    /// A key that must exist was reported missing (GET nil, DEL or EXPIRE 0, INCR from 0).
    Missing,
    /// An acknowledged write is gone: the final pass (or an INCR) saw an older state.
    LostWrite,
    /// A value deleted by an acknowledged DEL came back.
    UndoneDelete,
    /// A read returned a state older than one acknowledged before it or already read by
    /// the same client.
    StaleRead,
    /// A key came back after its TTL ran out.
    Revived,
    /// A value that was never written (or not yet sent), or a malformed reply.
    WrongValue,
}

impl Violation {
    pub const ALL: [Violation; 6] = [
        Violation::Missing,
        Violation::LostWrite,
        Violation::UndoneDelete,
        Violation::StaleRead,
        Violation::Revived,
        Violation::WrongValue,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Violation::Missing => "missing",
            Violation::LostWrite => "lost_write",
            Violation::UndoneDelete => "undone_delete",
            Violation::StaleRead => "stale_read",
            Violation::Revived => "revived",
            Violation::WrongValue => "wrong_value",
        }
    }
}

/// What the checker found.
#[derive(Debug, Default)]
pub struct Report {
    /// Operations by command (the expiry pseudo-operations included).
    pub ops: BTreeMap<&'static str, u64>,
    /// Commands with an unknown outcome (an error or a timeout), by command.
    pub errors: BTreeMap<&'static str, u64>,
    pub violations: BTreeMap<Violation, u64>,
    /// The first few violations, described.
    pub examples: Vec<String>,
}

impl Report {
    pub fn count(&self, v: Violation) -> u64 {
        self.violations.get(&v).copied().unwrap_or(0)
    }

    pub fn total_violations(&self) -> u64 {
        self.violations.values().sum()
    }

    pub fn total_errors(&self) -> u64 {
        self.errors.values().sum()
    }

    fn flag(&mut self, v: Violation, what: impl FnOnce() -> String) {
        *self.violations.entry(v).or_default() += 1;
        if self.examples.len() < 20 {
            self.examples.push(format!("{}: {}", v.name(), what()));
        }
    }
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let list = |m: &BTreeMap<&'static str, u64>| {
            m.iter()
                .map(|(k, v)| format!("{k} {v}"))
                .collect::<Vec<_>>()
                .join(", ")
        };
        writeln!(f, "ops: {}", list(&self.ops))?;
        writeln!(
            f,
            "errors (unknown outcome): {} [{}]",
            self.total_errors(),
            list(&self.errors)
        )?;
        let violations: Vec<String> = Violation::ALL
            .iter()
            .map(|v| format!("{} {}", v.name(), self.count(*v)))
            .collect();
        write!(
            f,
            "violations: {} [{}]",
            self.total_violations(),
            violations.join(", ")
        )?;
        for e in &self.examples {
            write!(f, "\n  {e}")?;
        }
        Ok(())
    }
}

type States = BTreeSet<Val>;

fn one(v: Val) -> States {
    BTreeSet::from([v])
}

fn incremented(v: Val) -> Val {
    match v {
        Val::Absent => Val::Int(1),
        Val::Int(n) => Val::Int(n.wrapping_add(1)),
        other => other,
    }
}

/// Checks a whole history; the order of `events` does not matter.
pub fn check(events: &[Event]) -> Report {
    let mut report = Report::default();
    let mut by_key: HashMap<u32, (Vec<&Event>, Vec<&Event>)> = HashMap::new();
    for e in events {
        *report.ops.entry(e.op.name()).or_default() += 1;
        // An expiry is unknown when its PEXPIRE was: counted there.
        if e.outcome == Outcome::Unknown && e.op != Op::Expiry {
            *report.errors.entry(e.op.name()).or_default() += 1;
        }
        let (mutations, reads) = by_key.entry(e.key).or_default();
        if e.op == Op::Get {
            reads.push(e);
        } else {
            mutations.push(e);
        }
    }
    let mut keys: Vec<u32> = by_key.keys().copied().collect();
    keys.sort_unstable();
    for key in keys {
        let (mut mutations, mut reads) = by_key.remove(&key).expect("listed");
        mutations.sort_by_key(|e| (e.send, e.ack));
        reads.sort_by_key(|e| (e.client, e.send, e.ack));
        Key::new(key, mutations, &mut report).check_reads(&reads, &mut report);
    }
    report
}

/// One key's mutations and the states after each.
struct Key<'a> {
    key: u32,
    mutations: Vec<&'a Event>,
    /// `states[j]`: what the key may be after its first `j` mutations.
    states: Vec<States>,
}

impl<'a> Key<'a> {
    /// Runs the key's mutations in order, checking each reply against the states before it.
    fn new(key: u32, mutations: Vec<&'a Event>, report: &mut Report) -> Key<'a> {
        let mut k = Key {
            key,
            mutations,
            states: vec![one(Val::Absent)],
        };
        for m in 0..k.mutations.len() {
            let next = k.apply(m, report);
            k.states.push(next);
        }
        k
    }

    fn apply(&self, m: usize, report: &mut Report) -> States {
        let e = self.mutations[m];
        let cur = &self.states[m];
        let with = |v: Val| {
            let mut s = cur.clone();
            s.insert(v);
            s
        };
        match (e.op, e.outcome) {
            (Op::Set { ver }, Outcome::Ok(_)) => one(Val::Ver(ver)),
            (Op::Set { ver }, Outcome::Unknown) => with(Val::Ver(ver)),
            (Op::Del, Outcome::Ok(Val::Int(n))) => {
                self.check_exists(m, n, report);
                one(Val::Absent)
            }
            (Op::Del | Op::Expiry, Outcome::Unknown) => with(Val::Absent),
            (Op::Expiry, Outcome::Ok(_)) => one(Val::Absent),
            (Op::Expire | Op::Pexpire, Outcome::Ok(Val::Int(n))) => {
                self.check_exists(m, n, report);
                if n == 0 {
                    return one(Val::Absent);
                }
                let present: States = cur.iter().copied().filter(|v| *v != Val::Absent).collect();
                if present.is_empty() {
                    cur.clone()
                } else {
                    present
                }
            }
            (Op::Expire | Op::Pexpire, Outcome::Unknown) => cur.clone(),
            (Op::Incr, Outcome::Ok(Val::Int(x))) => {
                let before = if x == 1 {
                    vec![Val::Absent, Val::Int(0)]
                } else {
                    vec![Val::Int(x.wrapping_sub(1))]
                };
                if !before.iter().any(|v| cur.contains(v)) {
                    let v = self.classify(before[0], m, true);
                    report.flag(v, || {
                        format!(
                            "key #{} INCR -> {x} by {:?} at {}us, while it may be {:?}",
                            self.key, e.client, e.send, cur
                        )
                    });
                }
                one(Val::Int(x))
            }
            (Op::Incr, Outcome::Unknown) => {
                let mut s = cur.clone();
                s.extend(cur.iter().copied().map(incremented));
                s
            }
            (op, outcome) => {
                report.flag(Violation::WrongValue, || {
                    format!(
                        "key #{} {} got {outcome:?} at {}us",
                        self.key,
                        op.name(),
                        e.send
                    )
                });
                cur.clone()
            }
        }
    }

    /// Checks a DEL's or EXPIRE's reply (1: it existed, 0: it did not) against the states
    /// before mutation `m`.
    fn check_exists(&self, m: usize, n: i64, report: &mut Report) {
        let e = self.mutations[m];
        let cur = &self.states[m];
        let violation = match n {
            0 if !cur.contains(&Val::Absent) => Violation::Missing,
            1 if cur.iter().all(|v| *v == Val::Absent) => {
                // It was gone for sure: by what?
                match self.mutations[..m]
                    .iter()
                    .rev()
                    .find(|p| matches!(p.outcome, Outcome::Ok(_)) && p.op != Op::Get)
                    .map(|p| p.op)
                {
                    Some(Op::Del) => Violation::UndoneDelete,
                    Some(Op::Expiry) => Violation::Revived,
                    _ => Violation::WrongValue,
                }
            }
            0 | 1 => return,
            _ => Violation::WrongValue,
        };
        report.flag(violation, || {
            format!(
                "key #{} {} -> {n} by {:?} at {}us, while it may be {:?}",
                self.key,
                e.op.name(),
                e.client,
                e.send,
                cur
            )
        });
    }

    /// Names what a state `r` that no admissible state matches breaks, given that the
    /// oldest admissible state is `states[lo]`. `lost`: an older state is a lost write
    /// (the final pass, or an INCR's reply) rather than a stale read.
    fn classify(&self, r: Val, lo: usize, lost: bool) -> Violation {
        if r == Val::Absent {
            return Violation::Missing;
        }
        let Some(j) = (0..lo).rev().find(|&j| self.states[j].contains(&r)) else {
            return Violation::WrongValue;
        };
        for m in j..lo {
            let e = self.mutations[m];
            if matches!(e.outcome, Outcome::Ok(_)) && !self.states[m + 1].contains(&r) {
                return match e.op {
                    Op::Del => Violation::UndoneDelete,
                    Op::Expiry => Violation::Revived,
                    Op::Set { .. } | Op::Incr if lost => Violation::LostWrite,
                    _ => Violation::StaleRead,
                };
            }
        }
        Violation::StaleRead
    }

    /// Checks every read of the key (sorted by client, then time).
    fn check_reads(&self, reads: &[&Event], report: &mut Report) {
        let mut floor: HashMap<Client, usize> = HashMap::new();
        for e in reads {
            let Outcome::Ok(r) = e.outcome else { continue };
            // Acknowledged before the read was sent: settled for it.
            let settled = self.mutations.partition_point(|m| m.ack < e.send);
            // Sent before the read was answered: maybe visible to it.
            let sent = self.mutations.partition_point(|m| m.send < e.ack);
            let floor = floor.entry(e.client).or_insert(0);
            let lo = settled.max(*floor).min(sent);
            match (lo..=sent).find(|&j| self.states[j].contains(&r)) {
                Some(j) => *floor = j,
                None => {
                    let lost = matches!(e.client, Client::Final(_));
                    let v = self.classify(r, lo, lost);
                    report.flag(v, || {
                        format!(
                            "key #{} GET -> {r:?} by {:?} in [{}, {}]us, while it may be {:?}",
                            self.key,
                            e.client,
                            e.send,
                            e.ack,
                            self.states[lo..=sent]
                                .iter()
                                .flatten()
                                .collect::<BTreeSet<_>>()
                        )
                    });
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const W: Client = Client::Writer(0);
    const R: Client = Client::Reader(0);
    const F: Client = Client::Final(0);

    fn ev(client: Client, op: Op, send: u64, ack: u64, outcome: Outcome) -> Event {
        Event {
            key: 7,
            client,
            op,
            send,
            ack,
            outcome,
        }
    }

    fn set(ver: u64, send: u64, ack: u64) -> Event {
        ev(W, Op::Set { ver }, send, ack, Outcome::Ok(Val::Absent))
    }

    fn get(client: Client, send: u64, ack: u64, r: Val) -> Event {
        ev(client, Op::Get, send, ack, Outcome::Ok(r))
    }

    fn int(op: Op, send: u64, ack: u64, n: i64) -> Event {
        ev(W, op, send, ack, Outcome::Ok(Val::Int(n)))
    }

    fn only(history: &[Event], v: Violation, n: u64) {
        let report = check(history);
        assert_eq!(report.count(v), n, "{report}");
        assert_eq!(report.total_violations(), n, "{report}");
    }

    fn clean(history: &[Event]) {
        let report = check(history);
        assert_eq!(report.total_violations(), 0, "{report}");
    }

    #[test]
    fn a_linearizable_history_has_no_violation() {
        clean(&[
            set(1, 0, 10),
            get(W, 11, 12, Val::Ver(1)),
            get(R, 5, 6, Val::Absent), // before the SET was acknowledged
            get(R, 8, 20, Val::Ver(1)),
            set(2, 20, 30),
            get(Client::Reader(1), 25, 26, Val::Ver(2)), // concurrent with the SET
            get(R, 27, 28, Val::Ver(2)),
            int(Op::Expire, 31, 32, 1),
            int(Op::Del, 40, 50, 1),
            get(R, 45, 46, Val::Ver(2)), // concurrent with the DEL
            get(W, 51, 52, Val::Absent),
            int(Op::Del, 53, 54, 0),
            int(Op::Expire, 55, 56, 0),
            set(3, 60, 61),
            get(F, 100, 101, Val::Ver(3)),
        ]);
    }

    #[test]
    fn an_older_value_after_an_acknowledged_set_is_a_stale_read() {
        let history = [set(1, 0, 10), set(2, 20, 30), get(R, 31, 32, Val::Ver(1))];
        only(&history, Violation::StaleRead, 1);
        // The same read while the second SET is in flight may see either.
        clean(&[set(1, 0, 10), set(2, 20, 30), get(R, 25, 26, Val::Ver(1))]);
    }

    #[test]
    fn an_older_value_than_one_the_reader_saw_is_a_stale_read() {
        // The second SET is slow: a reader may see it or not, but not undo what it saw.
        let history = [
            set(1, 0, 10),
            set(2, 20, 100),
            get(R, 30, 40, Val::Ver(2)),
            get(R, 50, 60, Val::Ver(1)),
        ];
        only(&history, Violation::StaleRead, 1);
        // Another reader has not seen version 2.
        clean(&[
            set(1, 0, 10),
            set(2, 20, 100),
            get(R, 30, 40, Val::Ver(2)),
            get(Client::Reader(1), 50, 60, Val::Ver(1)),
        ]);
    }

    #[test]
    fn an_older_value_in_the_final_pass_is_a_lost_write() {
        let history = [set(1, 0, 10), set(2, 20, 30), get(F, 100, 101, Val::Ver(1))];
        only(&history, Violation::LostWrite, 1);
    }

    #[test]
    fn a_deleted_value_read_again_is_an_undone_delete() {
        let history = [
            set(1, 0, 10),
            int(Op::Del, 20, 30, 1),
            get(R, 40, 41, Val::Ver(1)),
        ];
        only(&history, Violation::UndoneDelete, 1);
        // A second DEL that finds it again.
        let history = [
            set(1, 0, 10),
            int(Op::Del, 20, 30, 1),
            int(Op::Del, 40, 41, 1),
        ];
        only(&history, Violation::UndoneDelete, 1);
    }

    #[test]
    fn a_key_read_after_its_deadline_is_revived() {
        let pexpire = int(Op::Pexpire, 20, 30, 1);
        let expiry = ev(W, Op::Expiry, 1000, 1300, Outcome::Ok(Val::Absent));
        let base = [set(1, 0, 10), pexpire, expiry];
        let with = |extra: Event| {
            let mut h = base.to_vec();
            h.push(extra);
            h
        };
        clean(&with(get(R, 900, 901, Val::Ver(1))));
        clean(&with(get(R, 1100, 1101, Val::Ver(1))));
        clean(&with(get(R, 1100, 1101, Val::Absent)));
        clean(&with(get(R, 1400, 1401, Val::Absent)));
        only(
            &with(get(R, 1400, 1401, Val::Ver(1))),
            Violation::Revived,
            1,
        );
        only(&with(int(Op::Del, 1400, 1401, 1)), Violation::Revived, 1);
        // Gone before the earliest deadline: reported missing.
        only(&with(get(R, 900, 901, Val::Absent)), Violation::Missing, 1);
    }

    #[test]
    fn a_key_reported_missing_while_it_exists_is_flagged() {
        only(
            &[set(1, 0, 10), get(R, 20, 21, Val::Absent)],
            Violation::Missing,
            1,
        );
        only(
            &[set(1, 0, 10), int(Op::Expire, 20, 21, 0)],
            Violation::Missing,
            1,
        );
        only(
            &[set(1, 0, 10), int(Op::Del, 20, 21, 0)],
            Violation::Missing,
            1,
        );
        // A counter that starts again from 1.
        only(
            &[
                int(Op::Incr, 0, 1, 1),
                int(Op::Incr, 2, 3, 2),
                int(Op::Incr, 4, 5, 1),
            ],
            Violation::Missing,
            1,
        );
    }

    #[test]
    fn an_unknown_outcome_allows_both_states_until_the_next_acknowledged_write() {
        let unknown = ev(W, Op::Set { ver: 2 }, 20, 30, Outcome::Unknown);
        clean(&[set(1, 0, 10), unknown, get(R, 40, 41, Val::Ver(1))]);
        clean(&[set(1, 0, 10), unknown, get(R, 40, 41, Val::Ver(2))]);
        let history = [
            set(1, 0, 10),
            unknown,
            set(3, 50, 60),
            get(R, 70, 71, Val::Ver(2)),
        ];
        only(&history, Violation::StaleRead, 1);
        let del = ev(W, Op::Del, 20, 30, Outcome::Unknown);
        clean(&[set(1, 0, 10), del, get(R, 40, 41, Val::Absent)]);
        clean(&[set(1, 0, 10), del, int(Op::Del, 40, 41, 1)]);
        clean(&[set(1, 0, 10), del, int(Op::Del, 40, 41, 0)]);
    }

    #[test]
    fn counters_are_exact() {
        let incr = |n: i64, t: u64| int(Op::Incr, t, t + 1, n);
        clean(&[incr(1, 0), incr(2, 10), get(R, 20, 21, Val::Int(2))]);
        // An acknowledged INCR that a later INCR does not count is lost.
        only(
            &[incr(1, 0), incr(2, 10), incr(2, 20)],
            Violation::LostWrite,
            1,
        );
        only(
            &[incr(1, 0), incr(2, 10), get(R, 20, 21, Val::Int(1))],
            Violation::StaleRead,
            1,
        );
        only(
            &[incr(1, 0), incr(2, 10), get(F, 20, 21, Val::Int(1))],
            Violation::LostWrite,
            1,
        );
        only(&[incr(1, 0), incr(3, 10)], Violation::WrongValue, 1);
        // An INCR with an unknown outcome: the next one may find either.
        let unknown = ev(W, Op::Incr, 10, 11, Outcome::Unknown);
        clean(&[incr(1, 0), unknown, incr(2, 20)]);
        clean(&[incr(1, 0), unknown, incr(3, 20)]);
        only(
            &[incr(1, 0), unknown, incr(4, 20)],
            Violation::WrongValue,
            1,
        );
        // DEL resets it; reading the old count after that is an undone DEL.
        let history = [
            incr(1, 0),
            int(Op::Del, 10, 11, 1),
            get(R, 20, 21, Val::Int(1)),
        ];
        only(&history, Violation::UndoneDelete, 1);
        clean(&[incr(1, 0), int(Op::Del, 10, 11, 1), incr(1, 20)]);
    }

    #[test]
    fn a_value_never_written_or_not_yet_sent_is_wrong() {
        only(
            &[set(1, 0, 10), get(R, 20, 21, Val::Ver(9))],
            Violation::WrongValue,
            1,
        );
        only(
            &[set(1, 0, 10), get(R, 20, 21, Val::Ver(2)), set(2, 30, 40)],
            Violation::WrongValue,
            1,
        );
    }

    #[test]
    fn the_report_counts_ops_and_errors() {
        let report = check(&[
            set(1, 0, 10),
            ev(W, Op::Set { ver: 2 }, 20, 30, Outcome::Unknown),
            ev(R, Op::Get, 40, 41, Outcome::Unknown),
            get(R, 50, 51, Val::Ver(2)),
        ]);
        assert_eq!(report.ops.get("SET"), Some(&2));
        assert_eq!(report.ops.get("GET"), Some(&2));
        assert_eq!(report.total_errors(), 2);
        assert_eq!(report.total_violations(), 0, "{report}");
        assert!(report.to_string().contains("violations: 0"), "{report}");
    }
}
