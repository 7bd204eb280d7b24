//! Collections whose TTL runs out between two commands: the next command finds no key (read
//! commands answer as for a missing key, writes start a new collection without the old TTL),
//! as in Redis, where a key past its deadline is gone for every command.

use protocol::Frame;

use crate::exec::strings::tests::{run, shard};

#[test]
fn a_collection_past_its_deadline_is_gone_for_every_command() {
    let (s, clock) = shard();
    let setup = [
        ("HSET h f v", "HGET h f", Frame::Null),
        ("SADD s m", "SMEMBERS s", Frame::Set(Vec::new())),
        ("ZADD z 1 m", "ZSCORE z m", Frame::Null),
        ("RPUSH l e", "LRANGE l 0 -1", Frame::Array(Vec::new())),
    ];
    for (write, _, _) in &setup {
        run(&s, write);
    }
    for key in ["h", "s", "z", "l"] {
        assert_eq!(run(&s, &format!("PEXPIRE {key} 100")), Frame::Integer(1));
    }
    clock.advance(50);
    assert_eq!(run(&s, "HGET h f"), Frame::bulk(b"v"), "not yet");
    clock.advance(51);
    for (_, read, missing) in setup {
        assert_eq!(run(&s, read), missing, "{read}");
    }
    for key in ["h", "s", "z", "l"] {
        assert_eq!(run(&s, &format!("TYPE {key}")), Frame::simple("none"));
        assert_eq!(run(&s, &format!("TTL {key}")), Frame::Integer(-2));
    }
    // A write makes a new collection, with no TTL; a string command no longer sees a
    // collection there.
    assert_eq!(run(&s, "HSET h f2 v2"), Frame::Integer(1));
    assert_eq!(run(&s, "HLEN h"), Frame::Integer(1));
    assert_eq!(run(&s, "TTL h"), Frame::Integer(-1));
    assert_eq!(run(&s, "GET s"), Frame::Null);
    assert_eq!(run(&s, "DBSIZE"), Frame::Integer(1));
}
