//! Keys to buckets: hash tag, xxh3-64, jump consistent hash. This mapping is a wire contract:
//! routers route by it and shards find the keys a resize moves away by it.
//!
//! Every router given the same number of shard groups must send every key to the same group,
//! across versions: the golden test at the bottom pins it. Jump hash (Lamping & Veach, 2014)
//! needs no ring table and moves only `1/(n+1)` of the keys when a group is appended.

use xxhash_rust::xxh3::xxh3_64;

/// Returns the bytes that are hashed for `key`: its hash tag when it has a non-empty one.
///
/// The tag is what lies between the first `{` and the next `}` (Redis Cluster's rule), so
/// `user:{42}:a` and `user:{42}:b` land together; `{}` or an unclosed `{` hash the whole key.
#[inline]
pub fn hash_tag(key: &[u8]) -> &[u8] {
    if let Some(open) = memchr_byte(b'{', key) {
        let rest = &key[open + 1..];
        if let Some(close) = memchr_byte(b'}', rest) {
            if close > 0 {
                return &rest[..close];
            }
        }
    }
    key
}

#[inline]
fn memchr_byte(needle: u8, hay: &[u8]) -> Option<usize> {
    hay.iter().position(|&b| b == needle)
}

/// Returns the 64-bit hash of `key` (xxh3-64 of its hash tag).
#[inline]
pub fn hash(key: &[u8]) -> u64 {
    xxh3_64(hash_tag(key))
}

/// Returns the jump consistent hash of `hash` over `buckets` buckets, in `0..buckets`.
///
/// `buckets == 0` returns 0, so a caller never sees a panic; a topology is never empty.
#[inline]
pub fn jump(mut hash: u64, buckets: u32) -> u32 {
    let (mut b, mut j) = (-1i64, 0i64);
    while j < i64::from(buckets) {
        b = j;
        hash = hash.wrapping_mul(2_862_933_555_777_941_757).wrapping_add(1);
        j = ((b + 1) as f64 * ((1u64 << 31) as f64 / ((hash >> 33) + 1) as f64)) as i64;
    }
    b.max(0) as u32
}

/// Returns the bucket (shard group index) of `key` among `buckets` groups.
#[inline]
pub fn bucket(key: &[u8], buckets: usize) -> usize {
    let buckets = u32::try_from(buckets).unwrap_or(u32::MAX);
    jump(hash(key), buckets) as usize
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hash_tags_follow_redis_cluster() {
        assert_eq!(hash_tag(b"user:{42}:a"), b"42");
        assert_eq!(hash_tag(b"{42}"), b"42");
        assert_eq!(hash_tag(b"a{}b{c}"), b"a{}b{c}");
        assert_eq!(hash_tag(b"a{b"), b"a{b");
        assert_eq!(hash_tag(b"a}b{c}d"), b"c");
        assert_eq!(hash_tag(b"{a}{b}"), b"a");
        assert_eq!(hash_tag(b""), b"");
        assert_eq!(bucket(b"user:{42}:a", 16), bucket(b"user:{42}:b", 16));
    }

    /// Recorded once from this implementation; a change here re-routes every key in
    /// every deployed cluster, so it must never be "fixed" by updating the table.
    const GOLDEN: &[(&str, [u8; 16])] = &[
        ("foo", GOLDEN_FOO),
        ("bar", GOLDEN_BAR),
        ("user:1000", GOLDEN_USER),
        ("{user}:a", GOLDEN_TAG),
        ("", GOLDEN_EMPTY),
    ];
    const GOLDEN_HASH_FOO: u64 = 0xab6e5f64077e7d8a;
    const GOLDEN_FOO: [u8; 16] = [0, 1, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 15];
    const GOLDEN_BAR: [u8; 16] = [0, 1, 1, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3];
    const GOLDEN_USER: [u8; 16] = [0, 1, 2, 2, 2, 2, 2, 7, 7, 7, 7, 7, 7, 7, 7, 7];
    const GOLDEN_TAG: [u8; 16] = [0, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 12, 12, 12, 12];
    const GOLDEN_EMPTY: [u8; 16] = [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0];

    #[test]
    fn golden_key_to_bucket_values_never_drift() {
        assert_eq!(hash(b"foo"), GOLDEN_HASH_FOO);
        for (key, want) in GOLDEN {
            for n in 1..=16 {
                assert_eq!(
                    bucket(key.as_bytes(), n),
                    want[n - 1] as usize,
                    "{key:?} over {n}"
                );
            }
        }
        assert_eq!(bucket(b"{user}:b", 7), bucket(b"user", 7));
    }

    #[test]
    fn growing_by_one_bucket_moves_about_one_share_all_to_the_new_bucket() {
        let keys: Vec<String> = (0..100_000).map(|i| format!("key:{i}")).collect();
        for n in [1usize, 2, 3, 5, 8, 15] {
            let mut moved = 0;
            for key in &keys {
                let (before, after) = (bucket(key.as_bytes(), n), bucket(key.as_bytes(), n + 1));
                if before != after {
                    assert_eq!(after, n, "{key} moved to an old bucket");
                    moved += 1;
                }
            }
            let expected = keys.len() as f64 / (n + 1) as f64;
            let ratio = moved as f64 / expected;
            assert!(
                (0.95..1.05).contains(&ratio),
                "{n}->{}: moved {moved}",
                n + 1
            );
        }
    }

    #[test]
    fn spread_is_even() {
        let n = 7;
        let mut counts = vec![0usize; n];
        for i in 0..70_000 {
            counts[bucket(format!("k{i}").as_bytes(), n)] += 1;
        }
        assert!(
            counts.iter().all(|&c| (9_000..11_000).contains(&c)),
            "{counts:?}"
        );
        assert_eq!(jump(123, 0), 0);
    }
}
