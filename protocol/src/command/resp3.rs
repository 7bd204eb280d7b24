//! What a RESP3 client gets where RESP2 says less: a shard behind a router answers the router
//! in RESP2, and Redis 7.0 answers some commands in RESP3 with a map, a set, doubles or
//! nested pairs. The router reshapes those replies for its RESP3 clients; every other reply
//! means the same in both (nulls aside, which the encoder handles).

use bytes::Bytes;

use super::table::Kind;
use super::Command;
use crate::Frame;

/// How a RESP2 reply becomes Redis's RESP3 reply.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Shape {
    /// The same value.
    Same,
    /// A flat array of fields and values becomes a map (HGETALL).
    Map,
    /// An array becomes a set (SMEMBERS, SINTER, SPOP with a count).
    Set,
    /// A bulk score becomes a double; nil stays nil (ZSCORE, ZINCRBY, ZADD ... INCR).
    Double,
    /// Each bulk score of an array becomes a double (ZMSCORE).
    Doubles,
    /// A flat array of pairs becomes an array of 2-element arrays (HRANDFIELD WITHVALUES).
    Pairs,
    /// As `Pairs`, the second of each a double (ZRANGE WITHSCORES, ZPOPMIN with a count).
    ScoredPairs,
    /// `[member, score]` keeps its shape, the score a double (ZPOPMIN without a count).
    ScoredOne,
}

fn has_arg(cmd: &Command, from: usize, word: &[u8]) -> bool {
    cmd.args()
        .iter()
        .skip(from)
        .any(|a| a.eq_ignore_ascii_case(word))
}

/// Returns how `cmd`'s RESP2 reply becomes Redis 7.0's RESP3 reply.
pub fn shape(cmd: &Command) -> Shape {
    use Kind::*;
    match cmd.kind() {
        HGetAll => Shape::Map,
        SMembers | SInter | SUnion | SDiff => Shape::Set,
        SPop if cmd.args().len() > 2 => Shape::Set,
        ZScore | ZIncrBy => Shape::Double,
        ZAdd if has_arg(cmd, 2, b"incr") => Shape::Double,
        ZMScore => Shape::Doubles,
        HRandField if cmd.args().len() > 3 => Shape::Pairs,
        ZRange | ZRangeByScore | ZRevRangeByScore | ZRevRange | ZRandMember
            if has_arg(cmd, 2, b"withscores") =>
        {
            Shape::ScoredPairs
        }
        ZPopMin | ZPopMax if cmd.args().len() > 2 => Shape::ScoredPairs,
        ZPopMin | ZPopMax => Shape::ScoredOne,
        _ => Shape::Same,
    }
}

fn double(f: Frame) -> Frame {
    match f {
        Frame::Bulk(b) => match parse_score(&b) {
            Some(d) => Frame::Double(d),
            None => Frame::Bulk(b),
        },
        other => other,
    }
}

fn parse_score(b: &Bytes) -> Option<f64> {
    let s = std::str::from_utf8(b).ok()?;
    match s {
        "inf" | "+inf" => Some(f64::INFINITY),
        "-inf" => Some(f64::NEG_INFINITY),
        _ => s.parse().ok(),
    }
}

fn pairs(items: Vec<Frame>, second: impl Fn(Frame) -> Frame) -> Frame {
    let mut out = Vec::with_capacity(items.len() / 2);
    let mut it = items.into_iter();
    while let (Some(a), Some(b)) = (it.next(), it.next()) {
        out.push(Frame::Array(vec![a, second(b)]));
    }
    Frame::Array(out)
}

impl Shape {
    /// Returns `reply` (a RESP2 reply, parsed) as Redis sends it to a RESP3 client; a
    /// reply of another type (an error, nil) is returned as it is.
    pub fn apply(self, reply: Frame) -> Frame {
        match (self, reply) {
            (Shape::Map, Frame::Array(items)) if items.len() % 2 == 0 => {
                let mut map = Vec::with_capacity(items.len() / 2);
                let mut it = items.into_iter();
                while let (Some(k), Some(v)) = (it.next(), it.next()) {
                    map.push((k, v));
                }
                Frame::Map(map)
            }
            (Shape::Set, Frame::Array(items)) => Frame::Set(items),
            (Shape::Double, reply) => double(reply),
            (Shape::Doubles, Frame::Array(items)) => {
                Frame::Array(items.into_iter().map(double).collect())
            }
            (Shape::Pairs, Frame::Array(items)) => pairs(items, |f| f),
            (Shape::ScoredPairs, Frame::Array(items)) => pairs(items, double),
            (Shape::ScoredOne, Frame::Array(mut items)) if items.len() == 2 => {
                let score = items.pop().map(double).unwrap_or(Frame::Null);
                items.push(score);
                Frame::Array(items)
            }
            (_, reply) => reply,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::codec::Request;

    fn cmd(line: &str) -> Command {
        let args = line
            .split(' ')
            .map(|a| Bytes::copy_from_slice(a.as_bytes()))
            .collect();
        Command::from_request(Request {
            args,
            raw: Bytes::new(),
            inline: true,
        })
        .unwrap()
    }

    fn bulk(s: &'static str) -> Frame {
        Frame::Bulk(Bytes::from_static(s.as_bytes()))
    }

    #[test]
    fn replies_take_redis_resp3_shapes() {
        let flat = || Frame::Array(vec![bulk("a"), bulk("1.5"), bulk("b"), bulk("inf")]);
        assert_eq!(
            shape(&cmd("HGETALL h")).apply(flat()),
            Frame::Map(vec![(bulk("a"), bulk("1.5")), (bulk("b"), bulk("inf"))])
        );
        assert_eq!(
            shape(&cmd("ZRANGE z 0 -1 WITHSCORES")).apply(flat()),
            Frame::Array(vec![
                Frame::Array(vec![bulk("a"), Frame::Double(1.5)]),
                Frame::Array(vec![bulk("b"), Frame::Double(f64::INFINITY)]),
            ])
        );
        assert_eq!(shape(&cmd("ZRANGE z 0 -1")), Shape::Same);
        assert_eq!(
            shape(&cmd("ZPOPMIN z")).apply(Frame::Array(vec![bulk("a"), bulk("2")])),
            Frame::Array(vec![bulk("a"), Frame::Double(2.0)])
        );
        assert_eq!(shape(&cmd("ZSCORE z a")).apply(Frame::Null), Frame::Null);
        assert_eq!(
            shape(&cmd("ZADD z INCR 1 a")).apply(bulk("3")),
            Frame::Double(3.0)
        );
        assert_eq!(shape(&cmd("SPOP s")), Shape::Same);
        assert_eq!(
            shape(&cmd("SPOP s 2")).apply(Frame::Array(vec![bulk("a")])),
            Frame::Set(vec![bulk("a")])
        );
        let wrong =
            Frame::error("WRONGTYPE Operation against a key holding the wrong kind of value");
        assert_eq!(shape(&cmd("HGETALL h")).apply(wrong.clone()), wrong);
    }
}
