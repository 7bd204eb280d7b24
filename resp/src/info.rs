//! INFO text: Redis's section layout, and which sections a request asks for.

use bytes::Bytes;

/// One `# Name` section: its lines in order.
#[derive(Debug, Clone, Default)]
pub struct Section {
    /// The name as printed after `# ` (`Server`, `Keyspace`).
    pub name: &'static str,
    /// `field:value` lines, in order.
    pub fields: Vec<(String, String)>,
}

impl Section {
    /// Returns an empty section called `name`.
    pub fn new(name: &'static str) -> Section {
        Section {
            name,
            fields: Vec::new(),
        }
    }

    /// Appends a `field:value` line.
    pub fn add(&mut self, field: impl Into<String>, value: impl ToString) -> &mut Section {
        self.fields.push((field.into(), value.to_string()));
        self
    }
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

/// Renders the wanted sections as Redis does: `# Name\r\nfield:value\r\n`, sections
/// separated by an empty line.
pub fn render(sections: &[Section], selector: &Selector) -> String {
    let mut out = String::new();
    for section in sections.iter().filter(|s| selector.wants(s.name)) {
        if !out.is_empty() {
            out.push_str("\r\n");
        }
        out.push_str("# ");
        out.push_str(section.name);
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
