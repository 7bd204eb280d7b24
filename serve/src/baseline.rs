//! CONFIG RESETSTAT: INFO's counters start again from zero, while /metrics keeps its own,
//! which must never go back (Prometheus reads a drop as a restart). So nothing is reset: the
//! values at RESETSTAT are kept, and INFO shows each counter less its value then.

use std::collections::HashMap;
use std::sync::Mutex;

use crate::info::Section;
use crate::sync::lock;

/// The `# Stats` counters Redis's `resetServerStats` zeroes (that jumpcache reports).
const STATS: &[&str] = &[
    "total_connections_received",
    "total_commands_processed",
    "total_net_input_bytes",
    "total_net_output_bytes",
    "rejected_connections",
    "expired_keys",
    "evicted_keys",
    "keyspace_hits",
    "keyspace_misses",
];

/// Returns true for `CONFIG RESETSTAT` (the process that runs it records its INFO's zero:
/// [`Baseline::reset`]).
pub fn is_resetstat(cmd: &protocol::Command) -> bool {
    let args = cmd.args();
    cmd.kind() == protocol::Kind::Config
        && args.len() == 2
        && args[1].eq_ignore_ascii_case(b"RESETSTAT")
}

/// The counters as they were at the last CONFIG RESETSTAT.
#[derive(Debug, Default)]
pub struct Baseline {
    at_reset: Mutex<Option<HashMap<String, Vec<u64>>>>,
}

/// Returns the numbers of a `# Commandstats` line: calls, usec, rejected, failed.
fn cmdstat(value: &str) -> Option<Vec<u64>> {
    let mut out = Vec::with_capacity(4);
    for part in value.split(',') {
        let (name, n) = part.split_once('=')?;
        if name != "usec_per_call" {
            out.push(n.parse().ok()?);
        }
    }
    (out.len() == 4).then_some(out)
}

impl Baseline {
    /// Records the counters of `sections` (INFO as it would be without a baseline) as the
    /// new zero.
    pub fn reset(&self, sections: &[Section]) {
        let mut at = HashMap::new();
        for s in sections {
            for (field, value) in &s.fields {
                let numbers = match &*s.name {
                    "Stats" if STATS.contains(&field.as_str()) => {
                        value.parse().ok().map(|n| vec![n])
                    }
                    "Commandstats" => cmdstat(value),
                    _ => None,
                };
                if let Some(n) = numbers {
                    at.insert(field.clone(), n);
                }
            }
        }
        *lock(&self.at_reset) = Some(at);
    }

    /// Takes the recorded zero off the counters of `sections`; a command with no call,
    /// rejection or failure since disappears from `# Commandstats`, as after Redis's reset.
    pub fn apply(&self, sections: &mut [Section]) {
        let at_reset = lock(&self.at_reset);
        let Some(at) = at_reset.as_ref() else {
            return;
        };
        for s in sections {
            match &*s.name {
                "Stats" => {
                    for (field, value) in &mut s.fields {
                        if let (Some(base), Ok(now)) = (at.get(field), value.parse::<u64>()) {
                            *value = now.saturating_sub(base[0]).to_string();
                        }
                    }
                }
                "Commandstats" => {
                    s.fields.retain_mut(|(field, value)| {
                        let (Some(now), Some(base)) = (cmdstat(value), at.get(field)) else {
                            return true;
                        };
                        let d: Vec<u64> = now
                            .iter()
                            .zip(base)
                            .map(|(n, b)| n.saturating_sub(*b))
                            .collect();
                        let (calls, usec, rejected, failed) = (d[0], d[1], d[2], d[3]);
                        let per_call = if calls == 0 {
                            0.0
                        } else {
                            usec as f64 / calls as f64
                        };
                        *value = format!(
                            "calls={calls},usec={usec},usec_per_call={per_call:.2},\
                             rejected_calls={rejected},failed_calls={failed}"
                        );
                        calls != 0 || rejected != 0 || failed != 0
                    });
                }
                _ => {}
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sections(hits: u64, calls: u64) -> Vec<Section> {
        let mut stats = Section::new("Stats");
        stats.add("keyspace_hits", hits).add("uptime_in_seconds", 9);
        let mut cmds = Section::new("Commandstats");
        cmds.add(
            "cmdstat_get",
            format!(
                "calls={calls},usec={},usec_per_call=2.00,rejected_calls=0,failed_calls=0",
                2 * calls
            ),
        );
        vec![stats, cmds]
    }

    #[test]
    fn counters_start_again_from_the_reset() {
        let b = Baseline::default();
        let mut s = sections(5, 3);
        b.apply(&mut s);
        assert_eq!(s, sections(5, 3), "no reset yet: untouched");
        b.reset(&sections(5, 3));
        let mut s = sections(5, 3);
        b.apply(&mut s);
        assert_eq!(s[0].fields[0].1, "0");
        assert_eq!(s[0].fields[1].1, "9", "not a counter");
        assert!(s[1].fields.is_empty(), "no call since: gone");
        let mut s = sections(8, 5);
        b.apply(&mut s);
        assert_eq!(s[0].fields[0].1, "3");
        assert_eq!(
            s[1].fields[0].1,
            "calls=2,usec=4,usec_per_call=2.00,rejected_calls=0,failed_calls=0"
        );
    }
}
