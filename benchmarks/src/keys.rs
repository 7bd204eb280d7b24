//! Key distributions of the load generator: which key a request touches.
//!
//! Keys are numbered `0..n` and named `{prefix}{i}`. Under Zipf the key of rank `r` (1 is the
//! most requested) is key `r - 1`; the names are hashed by the router, so the popular keys
//! are spread over the groups like any others.

use rand::Rng;
use rand_distr::{Distribution, Zipf};

/// How requests pick keys.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum KeyDist {
    /// Every key equally likely.
    Uniform,
    /// Zipf with exponent `s`: key `i` (0-based) is requested in proportion to `1/(i+1)^s`.
    Zipf { s: f64 },
    /// The first `fraction` of the keys gets `probability` of the requests (uniform within the
    /// hot set and within the rest).
    HotSet { fraction: f64, probability: f64 },
}

impl std::fmt::Display for KeyDist {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            KeyDist::Uniform => write!(f, "uniform"),
            KeyDist::Zipf { s } => write!(f, "zipf(s={s})"),
            KeyDist::HotSet {
                fraction,
                probability,
            } => write!(
                f,
                "hotset({:.0}% of keys get {:.0}% of requests)",
                fraction * 100.0,
                probability * 100.0
            ),
        }
    }
}

/// Draws key numbers in `0..n` following a [`KeyDist`].
#[derive(Debug, Clone)]
pub struct KeySampler {
    n: u64,
    kind: Kind,
}

#[derive(Debug, Clone)]
enum Kind {
    Uniform,
    Zipf(Zipf<f64>),
    HotSet { hot: u64, probability: f64 },
}

impl KeySampler {
    /// Returns a sampler over `n` keys, or why the parameters are wrong.
    pub fn new(dist: KeyDist, n: u64) -> Result<KeySampler, String> {
        if n == 0 {
            return Err("the key space must hold at least one key".into());
        }
        let kind = match dist {
            KeyDist::Uniform => Kind::Uniform,
            KeyDist::Zipf { s } => {
                if !(s > 0.0 && s.is_finite()) {
                    return Err(format!("zipf exponent must be > 0, not {s}"));
                }
                Kind::Zipf(Zipf::new(n, s).map_err(|e| format!("zipf: {e:?}"))?)
            }
            KeyDist::HotSet {
                fraction,
                probability,
            } => {
                if !(0.0..=1.0).contains(&fraction) || !(0.0..=1.0).contains(&probability) {
                    return Err("hot-set fraction and probability must be within 0..1".into());
                }
                let hot = ((n as f64 * fraction).round() as u64).clamp(1, n);
                Kind::HotSet { hot, probability }
            }
        };
        Ok(KeySampler { n, kind })
    }

    /// Returns the number of keys.
    pub fn len(&self) -> u64 {
        self.n
    }

    /// Always false: a sampler has at least one key.
    pub fn is_empty(&self) -> bool {
        false
    }

    /// Draws one key number in `0..n`.
    pub fn sample<R: Rng + ?Sized>(&self, rng: &mut R) -> u64 {
        match &self.kind {
            Kind::Uniform => rng.gen_range(0..self.n),
            Kind::Zipf(z) => (z.sample(rng) as u64).clamp(1, self.n) - 1,
            Kind::HotSet { hot, probability } => {
                if *hot == self.n || rng.gen_bool(*probability) {
                    rng.gen_range(0..*hot)
                } else {
                    rng.gen_range(*hot..self.n)
                }
            }
        }
    }
}

/// Returns the name of key `i`.
pub fn key_name(prefix: &str, i: u64) -> String {
    format!("{prefix}{i}")
}

/// Parses `uniform`, `zipf` / `zipf:S` or `hotset` / `hotset:FRACTION:PROBABILITY`.
pub fn parse_dist(text: &str) -> Result<KeyDist, String> {
    let mut parts = text.split(':');
    let name = parts.next().unwrap_or_default();
    let nums: Result<Vec<f64>, _> = parts.map(str::parse::<f64>).collect();
    let nums = nums.map_err(|_| format!("{text:?}: parameters must be numbers"))?;
    match (name, nums.as_slice()) {
        ("uniform", []) => Ok(KeyDist::Uniform),
        ("zipf", []) => Ok(KeyDist::Zipf { s: 0.99 }),
        ("zipf", [s]) => Ok(KeyDist::Zipf { s: *s }),
        ("hotset", []) => Ok(KeyDist::HotSet {
            fraction: 0.2,
            probability: 0.8,
        }),
        ("hotset", [f, p]) => Ok(KeyDist::HotSet {
            fraction: *f,
            probability: *p,
        }),
        _ => Err(format!(
            "{text:?}: expected uniform, zipf[:S] or hotset[:FRACTION:PROBABILITY]"
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::rngs::StdRng;
    use rand::SeedableRng;

    const DRAWS: usize = 200_000;

    fn counts(dist: KeyDist, n: u64) -> Vec<usize> {
        let sampler = KeySampler::new(dist, n).unwrap();
        let mut rng = StdRng::seed_from_u64(7);
        let mut counts = vec![0usize; n as usize];
        for _ in 0..DRAWS {
            let k = sampler.sample(&mut rng);
            assert!(k < n, "{k} out of 0..{n}");
            counts[k as usize] += 1;
        }
        counts
    }

    #[test]
    fn uniform_hits_every_key_about_equally() {
        let n = 100;
        let c = counts(KeyDist::Uniform, n);
        let mean = DRAWS as f64 / n as f64;
        // Chi-square with 99 degrees of freedom: 99 +- 14 (sd); 160 is far past p=0.001.
        let chi2: f64 = c.iter().map(|&x| (x as f64 - mean).powi(2) / mean).sum();
        assert!(chi2 < 160.0, "chi2 {chi2}: {c:?}");
        assert!(c.iter().all(|&x| x > 0));
    }

    #[test]
    fn zipf_follows_the_power_law() {
        let (n, s) = (1000u64, 1.0);
        let c = counts(KeyDist::Zipf { s }, n);
        let h: f64 = (1..=n).map(|r| 1.0 / (r as f64).powf(s)).sum();
        // The top key's share is 1/H(n,s) (13.4% here); rank 2 gets half of rank 1.
        let top = c[0] as f64 / DRAWS as f64;
        assert!(
            (top - 1.0 / h).abs() < 0.005,
            "top share {top}, want {}",
            1.0 / h
        );
        let ratio = c[0] as f64 / c[1] as f64;
        assert!((1.9..2.1).contains(&ratio), "rank1/rank2 {ratio}");
        let ratio10 = c[0] as f64 / c[9] as f64;
        assert!((8.5..11.5).contains(&ratio10), "rank1/rank10 {ratio10}");
        // Decreasing on the whole: the first 10 keys take more than the last 900.
        let head: usize = c[..10].iter().sum();
        let tail: usize = c[100..].iter().sum();
        assert!(head > tail, "head {head} tail {tail}");
    }

    #[test]
    fn hot_set_sends_its_share_to_the_hot_keys() {
        let n = 1000;
        let c = counts(
            KeyDist::HotSet {
                fraction: 0.1,
                probability: 0.9,
            },
            n,
        );
        let hot: usize = c[..100].iter().sum();
        let share = hot as f64 / DRAWS as f64;
        assert!((share - 0.9).abs() < 0.01, "hot share {share}");
        assert!(c[100..].iter().all(|&x| x > 0), "cold keys are still drawn");
        // Uniform within the hot set.
        let mean = hot as f64 / 100.0;
        assert!(c[..100]
            .iter()
            .all(|&x| (x as f64 - mean).abs() < mean * 0.25));
    }

    #[test]
    fn parses_the_command_line_forms() {
        assert_eq!(parse_dist("uniform").unwrap(), KeyDist::Uniform);
        assert_eq!(parse_dist("zipf:1.2").unwrap(), KeyDist::Zipf { s: 1.2 });
        assert_eq!(
            parse_dist("hotset:0.01:0.5").unwrap(),
            KeyDist::HotSet {
                fraction: 0.01,
                probability: 0.5
            }
        );
        assert!(parse_dist("zipf:x").is_err());
        assert!(parse_dist("gauss").is_err());
        assert!(KeySampler::new(KeyDist::Zipf { s: 0.0 }, 10).is_err());
        assert!(KeySampler::new(KeyDist::Uniform, 0).is_err());
    }
}
