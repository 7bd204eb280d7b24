//! INFO text: Redis's section layout, and which sections a request asks for.

use std::borrow::Cow;

use bytes::Bytes;

/// One `# Name` section: its lines in order.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Section {
    /// The name as printed after `# ` (`Server`, `Keyspace`); owned when parsed from a shard.
    pub name: Cow<'static, str>,
    /// `field:value` lines, in order.
    pub fields: Vec<(String, String)>,
}

impl Section {
    /// Returns an empty section called `name`.
    pub fn new(name: &'static str) -> Section {
        Section {
            name: Cow::Borrowed(name),
            fields: Vec::new(),
        }
    }

    /// Appends a `field:value` line.
    pub fn add(&mut self, field: impl Into<String>, value: impl ToString) -> &mut Section {
        self.fields.push((field.into(), value.to_string()));
        self
    }
}

/// Returns the `# Stats` fields every jumpcache process reports about its own clients, with
/// `ops_per_sec` as the caller read it (a shard: from its figures); the keyspace counters
/// follow ([`crate::figures::add_keyspace_stats`]).
pub fn stats_section(stats: &crate::stats::Stats, ops_per_sec: u64) -> Section {
    use std::sync::atomic::Ordering::Relaxed;
    let mut st = Section::new("Stats");
    st.add(
        "total_connections_received",
        stats.connections_received.load(Relaxed),
    )
    .add(
        "total_commands_processed",
        stats.commands_processed.load(Relaxed),
    )
    .add("instantaneous_ops_per_sec", ops_per_sec)
    .add("total_net_input_bytes", stats.net_input_bytes.load(Relaxed))
    .add(
        "total_net_output_bytes",
        stats.net_output_bytes.load(Relaxed),
    )
    .add(
        "rejected_connections",
        stats.rejected_connections.load(Relaxed),
    );
    st
}

/// Returns the `# Server` section of this process.
///
/// `mode` is `redis_mode` (`standalone` for a shard, `cluster-proxy` for a router, which
/// parsers that know only `standalone|cluster|sentinel` treat as a plain server); `role` is
/// `jumpcache_role`.
pub fn server_section(mode: &str, role: &str, port: u16, started: std::time::Instant) -> Section {
    let uptime = started.elapsed().as_secs();
    let exe = std::env::current_exe()
        .map(|p| p.display().to_string())
        .unwrap_or_default();
    let now_usec = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_micros());
    let mut server = Section::new("Server");
    server
        .add("redis_version", crate::session::REDIS_VERSION)
        .add("redis_git_sha1", "00000000")
        .add("redis_git_dirty", 0)
        .add("redis_mode", mode)
        .add("jumpcache_version", env!("CARGO_PKG_VERSION"))
        .add("jumpcache_role", role)
        .add("os", std::env::consts::OS)
        .add("arch_bits", usize::BITS)
        .add("multiplexing_api", "tokio")
        .add("process_id", std::process::id())
        .add("tcp_port", port)
        .add("server_time_usec", now_usec)
        .add("uptime_in_seconds", uptime)
        .add("uptime_in_days", uptime / 86400)
        .add("executable", exe)
        .add("config_file", "");
    server
}

/// Returns `# Persistence`: nothing is persisted, nothing loads.
pub fn persistence_section() -> Section {
    let mut persistence = Section::new("Persistence");
    persistence
        .add("loading", 0)
        .add("async_loading", 0)
        .add("rdb_bgsave_in_progress", 0)
        .add("aof_enabled", 0);
    persistence
}

/// Returns `# Replication`: every jumpcache process is a master without Redis replicas (a
/// router's replicas are its own business, listed in `# Cluster`).
pub fn replication_section() -> Section {
    let mut replication = Section::new("Replication");
    replication.add("role", "master").add("connected_slaves", 0);
    replication
}

/// Returns the `# CPU` section of this process: user and system CPU seconds from /proc.
pub fn cpu_section() -> Section {
    let (user, sys) = cpu_seconds();
    let mut cpu = Section::new("CPU");
    cpu.add("used_cpu_sys", format!("{sys:.6}"))
        .add("used_cpu_user", format!("{user:.6}"));
    cpu
}

/// Returns this process's (user, system) CPU seconds from /proc, zeros where unknown.
fn cpu_seconds() -> (f64, f64) {
    let Ok(stat) = std::fs::read_to_string("/proc/self/stat") else {
        return (0.0, 0.0);
    };
    // Fields after the parenthesised command name; utime and stime are the 12th and 13th.
    let Some(rest) = stat.rsplit_once(')').map(|(_, r)| r) else {
        return (0.0, 0.0);
    };
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let ticks = |i: usize| {
        fields
            .get(i)
            .and_then(|v| v.parse::<f64>().ok())
            .unwrap_or(0.0)
            / 100.0
    };
    (ticks(11), ticks(12))
}

/// Sections printed by plain `INFO` (Redis's "default" set), lower-case.
const DEFAULT: &[&str] = &[
    "server",
    "clients",
    "memory",
    "persistence",
    "stats",
    "replication",
    "cpu",
    "cluster",
    // A router's: its epoch and a resize's progress.
    "topology",
    "keyspace",
];

/// Which sections an `INFO [section ...]` request asks for.
#[derive(Debug, Clone)]
pub struct Selector {
    all: bool,
    names: Vec<String>,
}

impl Selector {
    /// Reads the arguments after `INFO`: none or `default` is the default set, `all` and
    /// `everything` every section, anything else names sections (case-insensitive).
    pub fn from_args(args: &[Bytes]) -> Selector {
        let mut names = Vec::new();
        let mut all = false;
        if args.is_empty() {
            names.extend(DEFAULT.iter().map(|s| s.to_string()));
        }
        for arg in args {
            let name = String::from_utf8_lossy(arg).to_ascii_lowercase();
            match name.as_str() {
                "all" | "everything" => all = true,
                "default" => names.extend(DEFAULT.iter().map(|s| s.to_string())),
                _ => names.push(name),
            }
        }
        Selector { all, names }
    }

    /// Returns true when the section called `name` is wanted.
    pub fn wants(&self, name: &str) -> bool {
        self.all || self.names.iter().any(|n| n.eq_ignore_ascii_case(name))
    }
}

/// Parses INFO text into sections; lines outside a section or without `:` are dropped.
pub fn parse(text: &str) -> Vec<Section> {
    let mut sections: Vec<Section> = Vec::new();
    for line in text.lines().map(str::trim_end) {
        if let Some(name) = line.strip_prefix("# ") {
            sections.push(Section {
                name: Cow::Owned(name.to_string()),
                fields: Vec::new(),
            });
        } else if let (Some((k, v)), Some(section)) = (line.split_once(':'), sections.last_mut()) {
            section.fields.push((k.to_string(), v.to_string()));
        }
    }
    sections
}

/// Renders the wanted sections as Redis does: `# Name\r\nfield:value\r\n`, sections
/// separated by an empty line.
pub fn render(sections: &[Section], selector: &Selector) -> String {
    let mut out = String::new();
    for section in sections.iter().filter(|s| selector.wants(&s.name)) {
        if !out.is_empty() {
            out.push_str("\r\n");
        }
        out.push_str("# ");
        out.push_str(&section.name);
        out.push_str("\r\n");
        for (k, v) in &section.fields {
            out.push_str(k);
            out.push(':');
            out.push_str(v);
            out.push_str("\r\n");
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sections() -> Vec<Section> {
        let mut server = Section::new("Server");
        server.add("redis_version", "7.0.15");
        let mut commandstats = Section::new("Commandstats");
        commandstats.add("cmdstat_get", "calls=1");
        vec![server, commandstats, Section::new("Keyspace")]
    }

    #[test]
    fn default_info_skips_non_default_sections() {
        let text = render(&sections(), &Selector::from_args(&[]));
        assert_eq!(
            text,
            "# Server\r\nredis_version:7.0.15\r\n\r\n# Keyspace\r\n"
        );
    }

    #[test]
    fn named_and_all_sections_are_selected_case_insensitively() {
        let only = render(
            &sections(),
            &Selector::from_args(&[Bytes::from_static(b"COMMANDSTATS")]),
        );
        assert_eq!(only, "# Commandstats\r\ncmdstat_get:calls=1\r\n");
        let all = render(
            &sections(),
            &Selector::from_args(&[Bytes::from_static(b"all")]),
        );
        assert!(all.contains("# Server") && all.contains("# Commandstats"));
        assert_eq!(
            render(
                &sections(),
                &Selector::from_args(&[Bytes::from_static(b"nosuch")])
            ),
            ""
        );
    }
}
