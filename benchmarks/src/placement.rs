//! Which server a key goes to, computed: jump hash as the router does it, and twemproxy's
//! `ketama` and `modula` distributions with its default key hash (`fnv1a_64`).
//!
//! The twemproxy functions follow its source (`nc_ketama.c`, `nc_modula.c`, `nc_hash.c`,
//! version 0.5): 160 points per server of weight 1, four per md5 digest of
//! `"{name}-{i}"`, a sorted continuum searched for the first point `>=` the key's hash
//! (wrapping to the first); modula is `hash % servers`. The key hash is `fnv1a_64` truncated
//! to 32 bits as twemproxy computes it. The experiments check these against a real nutcracker
//! when one is installed.

use md5::{Digest, Md5};

/// The three ways of placing keys compared in the experiments.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scheme {
    /// xxh3-64 of the hash tag, jump consistent hash (jumpcache's router).
    Jump,
    /// twemproxy `distribution: ketama` (its default), `hash: fnv1a_64`.
    Ketama,
    /// twemproxy `distribution: modula`, `hash: fnv1a_64`.
    Modula,
}

impl Scheme {
    pub const ALL: [Scheme; 3] = [Scheme::Jump, Scheme::Ketama, Scheme::Modula];

    pub fn name(self) -> &'static str {
        match self {
            Scheme::Jump => "jump",
            Scheme::Ketama => "ketama",
            Scheme::Modula => "modulo",
        }
    }
}

/// twemproxy's `hash_fnv1a_64`: 64-bit FNV-1a constants, computed in 32 bits.
pub fn fnv1a_64_twemproxy(key: &[u8]) -> u32 {
    let mut hash: u32 = 0xcbf2_9ce4_8422_2325_u64 as u32;
    for &b in key {
        // twemproxy casts a (signed) char: bytes >= 0x80 sign-extend.
        hash ^= b as i8 as i32 as u32;
        hash = hash.wrapping_mul(0x0000_0100_0000_01b3_u64 as u32);
    }
    hash
}

/// A ketama continuum as twemproxy builds it for servers of weight 1.
#[derive(Debug, Clone)]
pub struct Ketama {
    points: Vec<(u32, u32)>,
}

const POINTS_PER_SERVER: u32 = 160;
const POINTS_PER_HASH: u32 = 4;

impl Ketama {
    /// Builds the continuum for servers named `names` (twemproxy's server name, which is
    /// `host:port` unless the config names it).
    pub fn new<S: AsRef<str>>(names: &[S]) -> Ketama {
        let mut points = Vec::with_capacity(names.len() * POINTS_PER_SERVER as usize);
        let live = names.len() as f32;
        for (index, name) in names.iter().enumerate() {
            let percent = 1.0f32 / live;
            let per_server = ((percent * POINTS_PER_SERVER as f32 / 4.0 * live + 0.000_000_000_1)
                .floor() as u32)
                * 4;
            for p in 1..=per_server / POINTS_PER_HASH {
                let host = format!("{}-{}", name.as_ref(), p - 1);
                let digest = Md5::digest(host.as_bytes());
                for x in 0..POINTS_PER_HASH as usize {
                    let d = &digest[x * 4..x * 4 + 4];
                    let value = u32::from_le_bytes([d[0], d[1], d[2], d[3]]);
                    points.push((value, index as u32));
                }
            }
        }
        points.sort_by_key(|&(value, _)| value);
        Ketama { points }
    }

    /// The server index for a key hash (`ketama_dispatch`).
    pub fn dispatch(&self, hash: u32) -> usize {
        let i = self.points.partition_point(|&(value, _)| value < hash);
        let i = if i == self.points.len() { 0 } else { i };
        self.points[i].1 as usize
    }
}

/// Places keys on `n` servers named `names` (for ketama; ignored otherwise).
pub struct Placer {
    scheme: Scheme,
    n: usize,
    ketama: Option<Ketama>,
}

impl Placer {
    pub fn new<S: AsRef<str>>(scheme: Scheme, names: &[S]) -> Placer {
        Placer {
            scheme,
            n: names.len(),
            ketama: (scheme == Scheme::Ketama).then(|| Ketama::new(names)),
        }
    }

    /// The server (group) index of `key`.
    pub fn place(&self, key: &[u8]) -> usize {
        match self.scheme {
            Scheme::Jump => router::path::ring::bucket(key, self.n),
            Scheme::Ketama => self
                .ketama
                .as_ref()
                .expect("ketama continuum")
                .dispatch(fnv1a_64_twemproxy(key)),
            Scheme::Modula => (fnv1a_64_twemproxy(key) % self.n as u32) as usize,
        }
    }
}

/// The server names the experiments give twemproxy's servers: `s0`, `s1`, ...
pub fn server_names(n: usize) -> Vec<String> {
    (0..n).map(|i| format!("s{i}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fnv1a_matches_the_published_32_bit_vectors_in_twemproxys_arithmetic() {
        // FNV-1a 32-bit offset basis is 0x811c9dc5; twemproxy's "64" variant uses the low 32
        // bits of the 64-bit basis and prime instead: the empty key hashes to the basis.
        assert_eq!(fnv1a_64_twemproxy(b""), 0x8422_2325);
        let mut h: u32 = 0x8422_2325;
        h ^= u32::from(b'a');
        h = h.wrapping_mul(0x1b3);
        assert_eq!(fnv1a_64_twemproxy(b"a"), h);
    }

    #[test]
    fn ketama_has_160_points_per_server_and_wraps() {
        let k = Ketama::new(&server_names(3));
        assert_eq!(k.points.len(), 480);
        assert!(k.points.windows(2).all(|w| w[0].0 <= w[1].0));
        assert_eq!(k.dispatch(u32::MAX), k.points[0].1 as usize);
        assert_eq!(k.dispatch(0), k.points[0].1 as usize);
        // The first point of "s0-0" is its md5's first four bytes, little-endian.
        let d = Md5::digest(b"s0-0");
        let v = u32::from_le_bytes([d[0], d[1], d[2], d[3]]);
        assert_eq!(k.dispatch(v), 0);
    }

    #[test]
    fn growing_moves_keys_as_each_scheme_should() {
        let keys: Vec<String> = (0..20_000).map(|i| format!("key:{i}")).collect();
        let moved = |scheme| {
            let a = Placer::new(scheme, &server_names(4));
            let b = Placer::new(scheme, &server_names(5));
            keys.iter()
                .filter(|k| a.place(k.as_bytes()) != b.place(k.as_bytes()))
                .count() as f64
                / keys.len() as f64
        };
        assert!((moved(Scheme::Jump) - 0.2).abs() < 0.02);
        assert!((moved(Scheme::Ketama) - 0.2).abs() < 0.06);
        assert!(moved(Scheme::Modula) > 0.7);
    }
}
