//! The sorted set against a model: a map of member → score, sorted on every question.

use std::collections::BTreeMap;

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use super::range::ScoreRange;
use super::{cmp_element, ZSet, PACKED_ENTRIES, PACKED_VALUE};

/// The model's members in (score, member) order.
fn sorted(model: &BTreeMap<Vec<u8>, f64>) -> Vec<(Vec<u8>, f64)> {
    let mut v: Vec<(Vec<u8>, f64)> = model.iter().map(|(m, s)| (m.clone(), *s)).collect();
    v.sort_by(|a, b| cmp_element((a.1, &a.0), (b.1, &b.0)));
    v
}

fn owned<'a>(it: impl Iterator<Item = (&'a [u8], f64)>) -> Vec<(Vec<u8>, f64)> {
    it.map(|(m, s)| (m.to_vec(), s)).collect()
}

fn member(rng: &mut StdRng, universe: usize, long: bool) -> Vec<u8> {
    let i = rng.gen_range(0..universe);
    if long && i % 17 == 0 {
        format!("{i:0>70}").into_bytes()
    } else {
        format!("m{i}").into_bytes()
    }
}

/// Runs random operations over `universe` members; `long` mixes in 70-byte members.
fn run(seed: u64, universe: usize, steps: usize, long: bool) -> ZSet {
    let mut rng = StdRng::seed_from_u64(seed);
    let mut z = ZSet::default();
    let mut model: BTreeMap<Vec<u8>, f64> = BTreeMap::new();
    for step in 0..steps {
        let m = member(&mut rng, universe, long);
        // Few distinct scores, so ties are ordered by member.
        let score = f64::from(rng.gen_range(-20i32..20)) / 4.0;
        match rng.gen_range(0..10) {
            0..=3 => {
                let new = !model.contains_key(&m);
                model.insert(m.clone(), if score == 0.0 { 0.0 } else { score });
                assert_eq!(z.insert(&m, score), new, "step {step}");
            }
            4 => assert_eq!(z.remove(&m), model.remove(&m).is_some()),
            5 => {
                let now = model.get(&m).copied().unwrap_or(0.0) + score;
                model.insert(m.clone(), now);
                z.insert(&m, now);
            }
            6 => {
                let want = sorted(&model).iter().position(|(x, _)| *x == m);
                assert_eq!(z.rank(&m), want);
                assert_eq!(z.score(&m), model.get(&m).copied());
            }
            7 => {
                let all = sorted(&model);
                let start = rng.gen_range(0..=all.len());
                let want: Vec<_> = all[start..].iter().take(5).cloned().collect();
                assert_eq!(owned(z.iter_from(start).take(5)), want);
                if start < all.len() {
                    let mut back: Vec<_> = all[..=start].to_vec();
                    back.reverse();
                    assert_eq!(owned(z.iter_back_from(start)), back);
                }
            }
            8 => {
                let all = sorted(&model);
                let r = ScoreRange::parse(b"(-1", b"2").expect("a range");
                let lo = z.partition_point(|s, _| r.below_min(s));
                let hi = z.partition_point(|s, _| r.within_max(s));
                let want = all.iter().filter(|(_, s)| *s > -1.0 && *s <= 2.0).count();
                assert_eq!(hi.saturating_sub(lo), want);
            }
            _ => {
                // ZPOPMIN / ZPOPMAX / ZREMRANGEBYRANK.
                let all = sorted(&model);
                let start = rng.gen_range(0..=all.len());
                let count = if rng.gen_bool(0.02) {
                    rng.gen_range(0..300)
                } else {
                    rng.gen_range(0..4)
                };
                let gone: Vec<_> = all[start..].iter().take(count).collect();
                for (g, _) in &gone {
                    model.remove(g);
                }
                assert_eq!(z.remove_ranks(start, count), gone.len());
            }
        }
        assert_eq!(z.len(), model.len(), "step {step}");
        if step % 97 == 0 {
            z.check();
            assert_eq!(owned(z.iter()), sorted(&model));
        }
    }
    z.check();
    assert_eq!(owned(z.iter()), sorted(&model));
    z
}

#[test]
fn a_small_set_stays_packed_and_matches_the_model() {
    for seed in 0..20 {
        let z = run(seed, 60, 400, false);
        assert_eq!(z.encoding(), "listpack");
    }
}

#[test]
fn a_large_set_matches_the_model_through_chunk_splits_and_merges() {
    for seed in 0..3 {
        let z = run(seed, 1000, 6000, false);
        assert_eq!(z.encoding(), "skiplist");
    }
    run(99, 400, 3000, true);
}

#[test]
fn the_129th_member_or_a_65_byte_member_unpacks() {
    let mut z = ZSet::default();
    for i in 0..PACKED_ENTRIES {
        z.insert(format!("m{i}").as_bytes(), i as f64);
    }
    assert_eq!(z.encoding(), "listpack");
    assert!(!z.insert(b"m3", 0.5));
    assert_eq!(z.encoding(), "listpack");
    assert!(z.insert(b"one more", 1.0));
    assert_eq!((z.encoding(), z.len()), ("skiplist", PACKED_ENTRIES + 1));
    assert_eq!(z.rank(b"m3"), Some(1));
    z.check();
    let mut big = ZSet::default();
    big.insert(&[b'x'; PACKED_VALUE], 1.0);
    assert_eq!(big.encoding(), "listpack");
    big.insert(&[b'x'; PACKED_VALUE + 1], 1.0);
    assert_eq!(big.encoding(), "skiplist");
    assert!(big.remove(&[b'x'; PACKED_VALUE]) && big.remove(&[b'x'; PACKED_VALUE + 1]));
    assert!(big.is_empty() && big.bytes() == 0);
}

#[test]
fn negative_zero_is_zero_when_packed_and_kept_when_large() {
    let mut z = ZSet::default();
    z.insert(b"a", -0.0);
    assert!(z.score(b"a").unwrap().is_sign_positive());
    let mut big = ZSet::default();
    big.insert(&[b'x'; 70], -0.0);
    assert!(big.score(&[b'x'; 70]).unwrap().is_sign_negative());
}

#[test]
fn a_large_set_pages_every_member_once_while_others_come_and_go() {
    let mut z = ZSet::default();
    for i in 0..2000 {
        z.insert(format!("m{i}").as_bytes(), f64::from(i % 7));
    }
    let (mut cursor, mut seen) = (0, std::collections::HashSet::new());
    let mut round = 0;
    loop {
        let (next, page) = z.page(cursor, 10);
        for (m, s) in page {
            assert_eq!(z.score(m), Some(s));
            assert!(seen.insert(m.to_vec()), "seen twice");
        }
        // Members other than m0..m1999 come and go between pages.
        z.insert(format!("new{round}").as_bytes(), 1.0);
        z.remove(format!("new{}", round / 2).as_bytes());
        round += 1;
        if next == 0 {
            break;
        }
        cursor = next;
    }
    for i in 0..2000 {
        assert!(seen.contains(format!("m{i}").as_bytes()));
    }
    assert!(z.random(12345).is_some() && z.random(u64::MAX).is_some());
    z.check();
}
