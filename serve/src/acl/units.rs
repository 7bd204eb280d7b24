//! The permission units a user's rules turn on and off: every command and every subcommand
//! of a container, jumpcache's (the table's rows, in order) and then Redis 7.0.15's that
//! jumpcache lacks. Only jumpcache's are ever checked; Redis's others are kept so that a rule
//! naming one loads and `ACL LIST` counts categories over the same commands as Redis.

use std::collections::HashMap;
use std::sync::OnceLock;

use protocol::command::{CommandSpec, COMMANDS};

use super::categories::{categories, of_name, Categories};
use super::redis_commands::REDIS_COMMANDS;

/// One command or subcommand.
#[derive(Debug)]
pub(crate) struct Unit {
    /// Redis's full name, lower case: `get`, `config|get`.
    pub name: String,
    pub categories: Categories,
    /// A container's subcommands (which `+container` turns on with it).
    pub children: Vec<usize>,
    /// True for a subcommand.
    pub sub: bool,
}

#[derive(Debug)]
pub(crate) struct Units {
    pub all: Vec<Unit>,
    /// Where each table row's units start; a row takes one, plus one per subcommand.
    offsets: Vec<usize>,
    /// How many units are jumpcache's (they come first).
    pub ours: usize,
    by_name: HashMap<String, usize>,
}

/// Returns the units, made once.
pub(crate) fn units() -> &'static Units {
    static UNITS: OnceLock<Units> = OnceLock::new();
    UNITS.get_or_init(build)
}

fn build() -> Units {
    let mut all = Vec::new();
    let mut offsets = Vec::with_capacity(COMMANDS.len());
    for spec in COMMANDS {
        let first = all.len();
        offsets.push(first);
        all.push(Unit {
            name: spec.lower.to_string(),
            categories: categories(spec, None),
            children: (first + 1..=first + spec.subcommands.len()).collect(),
            sub: false,
        });
        for (sub, _) in spec.subcommands {
            all.push(Unit {
                name: spec.full_name(Some(sub)),
                categories: categories(spec, Some(sub)),
                children: Vec::new(),
                sub: true,
            });
        }
    }
    let ours = all.len();
    let mut by_name: HashMap<String, usize> = all
        .iter()
        .enumerate()
        .map(|(i, u)| (u.name.clone(), i))
        .collect();
    for (name, _) in REDIS_COMMANDS {
        if by_name.contains_key(*name) {
            continue;
        }
        let i = all.len();
        let parent = name
            .split_once('|')
            .and_then(|(c, _)| by_name.get(c).copied());
        all.push(Unit {
            name: name.to_string(),
            categories: of_name(name).unwrap_or_default(),
            children: Vec::new(),
            sub: parent.is_some(),
        });
        if let Some(p) = parent {
            all[p].children.push(i);
        }
        by_name.insert(name.to_string(), i);
    }
    Units {
        all,
        offsets,
        ours,
        by_name,
    }
}

impl Units {
    /// Returns the unit of `spec` (`sub: None`) or of its subcommand number `sub`.
    pub fn of(&self, spec: &CommandSpec, sub: Option<usize>) -> usize {
        self.offsets[spec.index()] + sub.map_or(0, |s| s + 1)
    }

    /// Returns the unit called `name` (`get`, `config|get`, lower case).
    pub fn named(&self, name: &str) -> Option<usize> {
        self.by_name.get(name).copied()
    }

    /// Returns how many units there are.
    pub fn len(&self) -> usize {
        self.all.len()
    }
}
