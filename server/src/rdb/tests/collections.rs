//! Collections: the writer's plain types back through the reader, every encoding Redis
//! writes (built here byte for byte as Redis lays them out), and corrupt or truncated
//! collection payloads refused without a panic or an unbounded allocation.

use super::{read_objects, Objects};
use crate::rdb::listpack::{self, Elem};
use crate::rdb::writer::{push_length, RdbWriter};
use crate::rdb::ziplist;
use crate::store::types::{Collection, Hash, List, Set, ZSet};
use crate::store::Object;

fn hash(pairs: &[(&str, &str)]) -> Object {
    let mut h = Hash::default();
    for (f, v) in pairs {
        h.set(f.as_bytes(), v.as_bytes());
    }
    Object::Coll(Collection::Hash(h))
}

fn set(members: &[&str]) -> Object {
    let mut s = Set::default();
    for m in members {
        s.insert(m.as_bytes());
    }
    Object::Coll(Collection::Set(s))
}

fn zset(members: &[(&str, f64)]) -> Object {
    let mut z = ZSet::default();
    for (m, score) in members {
        z.insert(m.as_bytes(), *score);
    }
    Object::Coll(Collection::ZSet(z))
}

fn list(items: &[&str]) -> Object {
    let mut l = List::default();
    for e in items {
        l.push_back(e.as_bytes());
    }
    Object::Coll(Collection::List(l))
}

/// Every type, small and large (a large hash and set leave the packed form at 128).
fn samples() -> Vec<(Vec<u8>, Object, u64)> {
    let many: Vec<String> = (0..500).map(|i| format!("m{i}")).collect();
    let many: Vec<&str> = many.iter().map(String::as_str).collect();
    let pairs: Vec<(&str, &str)> = many.iter().map(|m| (*m, "value")).collect();
    vec![
        (
            b"h".to_vec(),
            hash(&[("a", "1"), ("b", ""), ("", "empty field")]),
            0,
        ),
        (b"hbig".to_vec(), hash(&pairs), 4_000_000_000_000),
        (b"s".to_vec(), set(&["x", "1", "-7"]), 0),
        (b"sbig".to_vec(), set(&many), 0),
        (
            b"z".to_vec(),
            zset(&[
                ("a", 1.5),
                ("b", -2.0),
                ("c", f64::INFINITY),
                ("d", f64::NEG_INFINITY),
            ]),
            0,
        ),
        (
            b"l".to_vec(),
            list(&["a", "b", "a", "", &"x".repeat(10_000)]),
            0,
        ),
        (b"str".to_vec(), Object::Str("plain".into()), 0),
    ]
}

fn file_of(keys: &[(Vec<u8>, Object, u64)]) -> Vec<u8> {
    let mut w = RdbWriter::start(Vec::new(), 1_700_000_000_000, 1).unwrap();
    w.select_db(keys.len() as u64, 0).unwrap();
    for (k, v, d) in keys {
        w.object(k, v, *d).unwrap();
    }
    w.finish().unwrap()
}

fn sorted(mut keys: Objects) -> Objects {
    keys.sort_by(|a, b| a.0.cmp(&b.0));
    keys
}

#[test]
fn every_type_the_writer_writes_the_reader_reads_back_whole() {
    let keys = samples();
    let (summary, got) = read_objects(&file_of(&keys), 1_700_000_000_000, u64::MAX).unwrap();
    assert_eq!(summary.keys, keys.len() as u64);
    assert_eq!(sorted(got), sorted(keys));
}

#[test]
fn expired_collections_and_collections_over_the_cap_are_left_out() {
    let mut keys = samples();
    keys.push((b"old".to_vec(), set(&["gone"]), 1_000));
    let (summary, got) = read_objects(&file_of(&keys), 1_700_000_000_000, 2_000).unwrap();
    assert_eq!(summary.expired, 1);
    // hbig, sbig and the 10 kB list weigh more than 2000 bytes.
    assert_eq!(summary.too_big, 3);
    let names: Vec<Vec<u8>> = sorted(got).into_iter().map(|k| k.0).collect();
    assert_eq!(names, [&b"h"[..], b"s", b"str", b"z"]);
}

/// A file with one key of RDB type `t` whose value is `body`; checksum 0 (not checked).
fn one_key(t: u8, body: &[u8]) -> Vec<u8> {
    let mut f = b"REDIS0010\xfe\x00".to_vec();
    f.push(t);
    f.extend(b"\x01k");
    f.extend(body);
    f.push(0xff);
    f.extend([0; 8]);
    f
}

/// An RDB string holding `b` raw.
fn rdb_string(b: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    push_length(&mut out, b.len() as u64);
    out.extend(b);
    out
}

/// An RDB string holding `b` LZF-compressed (literal runs only: valid LZF, as any
/// decompressor reads it).
fn rdb_lzf(b: &[u8]) -> Vec<u8> {
    let mut packed = Vec::new();
    for run in b.chunks(32) {
        packed.push(run.len() as u8 - 1);
        packed.extend(run);
    }
    let mut out = vec![0xc3];
    push_length(&mut out, packed.len() as u64);
    push_length(&mut out, b.len() as u64);
    out.extend(packed);
    out
}

fn load_one(t: u8, body: &[u8]) -> Object {
    let (summary, mut got) =
        read_objects(&one_key(t, body), 0, u64::MAX).unwrap_or_else(|e| panic!("type {t}: {e}"));
    assert_eq!(summary.keys, 1, "type {t}");
    got.pop().unwrap().1
}

fn elems<'a>(items: &[&'a str]) -> Vec<Elem<'a>> {
    items
        .iter()
        .map(|s| match s.parse::<i64>() {
            Ok(n) => Elem::Int(n),
            Err(_) => Elem::Str(s.as_bytes()),
        })
        .collect()
}

#[test]
fn every_redis_encoding_of_every_type_is_read() {
    let items = ["a", "-5", "300", "long member", "0"];
    let want_list = list(&items);
    let want_set = set(&items);
    let hash_items = ["f", "1", "g", "hello", "12", "-70000"];
    let want_hash = hash(&[("f", "1"), ("g", "hello"), ("12", "-70000")]);
    let zset_items = ["a", "1", "b", "2.5", "c", "-3", "d", "inf"];
    let want_zset = zset(&[("a", 1.0), ("b", 2.5), ("c", -3.0), ("d", f64::INFINITY)]);

    // LIST_ZIPLIST 10, LIST_QUICKLIST 14 (two nodes, one compressed),
    // LIST_QUICKLIST_2 18 (a packed node, a compressed packed node, a plain node).
    let zl = |s: &[&str]| ziplist::build(&elems(s));
    let lp = |s: &[&str]| listpack::build(&elems(s));
    assert_eq!(load_one(10, &rdb_string(&zl(&items))), want_list);
    let mut b = vec![2];
    b.extend(rdb_string(&zl(&items[..2])));
    b.extend(rdb_lzf(&zl(&items[2..])));
    assert_eq!(load_one(14, &b), want_list);
    let mut b = vec![3, 2];
    b.extend(rdb_string(&lp(&items[..2])));
    b.push(2);
    b.extend(rdb_lzf(&lp(&items[2..4])));
    b.push(1);
    b.extend(rdb_string(b"0"));
    assert_eq!(load_one(18, &b), want_list);

    // SET_INTSET 11, SET_LISTPACK 20.
    let mut is = vec![2, 0, 0, 0, 3, 0, 0, 0];
    for n in [-5i16, 0, 300] {
        is.extend(n.to_le_bytes());
    }
    assert_eq!(load_one(11, &rdb_string(&is)), set(&["-5", "0", "300"]));
    assert_eq!(load_one(20, &rdb_string(&lp(&items))), want_set);

    // HASH_ZIPMAP 9, HASH_ZIPLIST 13, HASH_LISTPACK 16.
    let zm = b"\x03\x01f\x01\x001\x01g\x05\x02helloXY\x0212\x06\x00-70000\xff";
    assert_eq!(load_one(9, &rdb_string(zm)), want_hash);
    assert_eq!(load_one(13, &rdb_string(&zl(&hash_items))), want_hash);
    assert_eq!(load_one(16, &rdb_lzf(&lp(&hash_items))), want_hash);

    // ZSET 3 (scores as text), ZSET_ZIPLIST 12, ZSET_LISTPACK 17.
    let mut b = vec![4];
    for (m, score) in [("a", "1"), ("b", "2.5"), ("c", "-3")] {
        b.extend(rdb_string(m.as_bytes()));
        b.push(score.len() as u8);
        b.extend(score.as_bytes());
    }
    b.extend(rdb_string(b"d"));
    b.push(254); // +inf
    assert_eq!(load_one(3, &b), want_zset);
    assert_eq!(load_one(12, &rdb_string(&zl(&zset_items))), want_zset);
    assert_eq!(load_one(17, &rdb_string(&lp(&zset_items))), want_zset);
}

#[test]
fn what_redis_refuses_is_refused() {
    let lp = |s: &[&str]| listpack::build(&elems(s));
    let refused = |t: u8, body: &[u8]| read_objects(&one_key(t, body), 0, u64::MAX).is_err();
    // Duplicates, an odd packed hash, a NaN score, an unknown quicklist container.
    assert!(refused(20, &rdb_string(&lp(&["a", "a"]))));
    assert!(refused(16, &rdb_string(&lp(&["f", "1", "f", "2"]))));
    assert!(refused(16, &rdb_string(&lp(&["f", "1", "g"]))));
    assert!(refused(17, &rdb_string(&lp(&["m", "nan"]))));
    assert!(refused(3, b"\x01\x01m\xfd"));
    assert!(refused(18, &[&[1u8, 3][..], &rdb_string(b"x")].concat()));
    // An intset out of order.
    assert!(refused(11, &rdb_string(&[2, 0, 0, 0, 2, 0, 9, 0, 1, 0])));
    // An empty quicklist node adds nothing, as in Redis.
    let mut b = vec![2, 2];
    b.extend(rdb_string(&lp(&[])));
    b.push(2);
    b.extend(rdb_string(&lp(&["only"])));
    assert_eq!(load_one(18, &b), list(&["only"]));
    // An empty collection is skipped, as Redis skips it.
    let (summary, got) = read_objects(&one_key(2, b"\x00"), 0, u64::MAX).unwrap();
    assert_eq!((summary.keys, got.len()), (0, 0));
}

#[test]
fn truncated_and_garbled_collections_never_panic_nor_allocate_what_they_claim() {
    let lp = listpack::build(&elems(&["a", "1", "b", "hello", "c", "-4000"]));
    let zl = ziplist::build(&elems(&["x", "99999", "y", "long enough member"]));
    let mut files = vec![file_of(&samples())];
    for (t, body) in [
        (16, rdb_string(&lp)),
        (17, rdb_string(&lp)),
        (13, rdb_lzf(&zl)),
        (14, [&[1u8][..], &rdb_string(&zl)].concat()),
        (18, [&[1u8, 2][..], &rdb_lzf(&lp)].concat()),
        (
            11,
            rdb_string(&[4, 0, 0, 0, 2, 0, 0, 0, 1, 0, 0, 0, 2, 0, 0, 0]),
        ),
    ] {
        files.push(one_key(t, &body));
    }
    for file in &files {
        for cut in 0..file.len().min(2000) {
            assert!(
                read_objects(&file[..cut], 0, u64::MAX).is_err(),
                "cut at {cut}"
            );
        }
        let mut x: u32 = 7;
        for _ in 0..3000 {
            x = x.wrapping_mul(1_103_515_245).wrapping_add(12345);
            let mut bad = file.clone();
            let at = 9 + (x as usize >> 8) % (file.len() - 9);
            bad[at] ^= (x >> 3) as u8 | 1;
            let _ = read_objects(&bad, 0, u64::MAX);
        }
    }
    // Counts and blob lengths far past the file's end: refused before allocating.
    for body in [
        &b"\x81\xff\xff\xff\xff\xff\xff\xff\xff"[..],
        b"\x80\xff\xff\xff\xff\x01a",
        b"\x01\x80\xff\xff\xff\xf0",
    ] {
        for t in [1, 2, 4, 5, 14, 18, 16, 20] {
            assert!(read_objects(&one_key(t, body), 0, u64::MAX).is_err());
        }
    }
    // A listpack whose string entry claims 4 GiB inside a small blob.
    let mut lie = b"\x10\x00\x00\x00\x01\x00\xf0\xff\xff\xff\xff".to_vec();
    lie.extend(b"abcd\xff");
    assert!(read_objects(&one_key(20, &rdb_string(&lie)), 0, u64::MAX).is_err());
}

#[test]
fn a_large_sorted_set_loads_in_one_pass_in_order() {
    // As Redis writes a skiplist: from the highest score down, scores as binary doubles.
    let n = 100_000u32;
    let mut body = Vec::new();
    push_length(&mut body, u64::from(n));
    for i in (0..n).rev() {
        body.extend(rdb_string(format!("member:{i:06}").as_bytes()));
        body.extend(f64::from(i / 2).to_le_bytes());
    }
    let Object::Coll(Collection::ZSet(z)) = load_one(5, &body) else {
        panic!("not a sorted set");
    };
    assert_eq!(z.len(), n as usize);
    let got: Vec<(Vec<u8>, f64)> = z.iter().take(3).map(|(m, s)| (m.to_vec(), s)).collect();
    assert_eq!(
        got,
        [
            (b"member:000000".to_vec(), 0.0),
            (b"member:000001".to_vec(), 0.0),
            (b"member:000002".to_vec(), 1.0)
        ]
    );
    // A member twice is refused, wherever it is.
    let mut dup = Vec::new();
    push_length(&mut dup, 3);
    for m in ["a", "b", "a"] {
        dup.extend(rdb_string(m.as_bytes()));
        dup.extend(1.0f64.to_le_bytes());
    }
    assert!(read_objects(&one_key(5, &dup), 0, u64::MAX).is_err());
}
