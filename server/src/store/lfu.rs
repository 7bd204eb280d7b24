//! Redis's approximated LFU counter (`evict.c`: `LFULogIncr`, `LFUDecrAndReturn`), packed
//! into an entry's 32-bit stamp as Redis packs it into its 24-bit `lru` field:
//! `minutes of the last access (16 bits) << 8 | logarithmic access counter (8 bits)`.
//!
//! The counter grows with probability `1 / ((counter - 5) * lfu_log_factor + 1)`, so with
//! Redis's `lfu-log-factor` 10 it reaches 255 after about a million accesses, and loses one
//! for every `lfu-decay-time` minute (1) without an access. New keys start at 5, so they are
//! not the first evicted before they had a chance to be read.

/// Redis's `LFU_INIT_VAL`.
const INIT: u8 = 5;
/// Redis's `lfu-log-factor` default.
const LOG_FACTOR: f64 = 10.0;
/// Redis's `lfu-decay-time` default, in minutes.
const DECAY_MINUTES: u32 = 1;

/// Returns Redis's LFU minute clock for `now_ms`: minutes, modulo 2^16.
pub(super) fn minutes(now_ms: u64) -> u32 {
    ((now_ms / 60_000) & 0xFFFF) as u32
}

/// Returns the stamp of a key created at `now_min`.
pub(super) fn fresh(now_min: u32) -> u32 {
    now_min << 8 | u32::from(INIT)
}

/// Returns the counter of `stamp` after its decay up to `now_min` (`LFUDecrAndReturn`).
pub(super) fn decayed(stamp: u32, now_min: u32) -> u8 {
    let last = stamp >> 8;
    let counter = (stamp & 0xFF) as u8;
    // `LFUTimeElapsed`: the 16-bit minute clock may have wrapped once.
    let elapsed = if now_min >= last {
        now_min - last
    } else {
        0xFFFF - last + now_min
    };
    let periods = elapsed / DECAY_MINUTES;
    counter.saturating_sub(u8::try_from(periods).unwrap_or(u8::MAX))
}

/// Returns `counter` after one access (`LFULogIncr`), `r` a uniform random number in [0, 1).
pub(super) fn log_incr(counter: u8, r: f64) -> u8 {
    if counter == u8::MAX {
        return counter;
    }
    let base = f64::from(counter.saturating_sub(INIT));
    let p = 1.0 / (base * LOG_FACTOR + 1.0);
    if r < p {
        counter + 1
    } else {
        counter
    }
}

/// Returns the stamp after an access at `now_min` (`updateLFU`).
pub(super) fn touch(stamp: u32, now_min: u32, r: f64) -> u32 {
    now_min << 8 | u32::from(log_incr(decayed(stamp, now_min), r))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counter_decays_one_per_minute_and_survives_the_clock_wrapping() {
        let s = 100 << 8 | 20;
        assert_eq!(decayed(s, 100), 20);
        assert_eq!(decayed(s, 103), 17);
        assert_eq!(decayed(s, 200), 0);
        assert_eq!(
            decayed(0xFFF0 << 8 | 30, 5),
            30 - (0xFFFF - 0xFFF0 + 5) as u8
        );
    }

    #[test]
    fn counter_grows_logarithmically_to_255() {
        assert_eq!(
            log_incr(INIT, 0.99),
            INIT + 1,
            "always below the initial value + 1"
        );
        assert_eq!(log_incr(15, 0.5), 15, "p = 1/101 at 15");
        assert_eq!(log_incr(15, 0.001), 16);
        assert_eq!(log_incr(255, 0.0), 255);
        // A million accesses with a fixed pseudo-random sequence end near the top, as in
        // Redis's table for lfu-log-factor 10 (1M hits: 255).
        let (mut c, mut x) = (INIT, 1u64);
        for _ in 0..1_000_000 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            c = log_incr(c, (x >> 11) as f64 / (1u64 << 53) as f64);
        }
        assert!(c >= 240, "{c}");
    }

    #[test]
    fn touch_moves_the_minute_and_keeps_the_decayed_counter() {
        assert_eq!(touch(fresh(10), 12, 0.99), 12 << 8 | 4);
        assert_eq!(minutes(60_000 * 65_537), 1);
    }
}
