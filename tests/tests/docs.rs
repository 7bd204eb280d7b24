//! docs/ says what the code does: the compatibility table is checked against the command table.
//!
//! Regenerate the table with `JUMPCACHE_BLESS=1 cargo test -p jumpcache-tests --test docs`.

use std::path::PathBuf;

use protocol::command::{CommandSpec, KeySpec, Merge, Route, COMMANDS, SUBCOMMAND_ROUTES};

const BEGIN: &str = "<!-- BEGIN GENERATED: command table -->";
const END: &str = "<!-- END GENERATED: command table -->";

fn docs_path(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("..")
        .join("docs")
        .join(name)
}

fn keys(spec: KeySpec) -> &'static str {
    match spec {
        KeySpec::None => "none",
        KeySpec::First => "one",
        KeySpec::Second => "one, after the subcommand",
        KeySpec::AllFrom(_) => "every argument",
        KeySpec::Pairs(_) => "every other argument",
        KeySpec::Range(..) => "two",
        KeySpec::Counted(_) => "a count, then the keys",
    }
}

fn route(route: Route) -> String {
    let merged = |merge: Merge| match merge {
        Merge::Reorder { .. } => "values in key order",
        Merge::Sum => "integers added",
        Merge::AllOk => "OK when every one is",
        Merge::Concat => "lists joined",
        Merge::AnyKey => "one key picked",
        Merge::Info => "figures summed",
        Merge::MemoryStats => "figures added",
        Merge::Sets(_) => "members combined by the router",
        Merge::Same => "the reply every group gave",
        Merge::Min => "the smallest",
    };
    match route {
        Route::Local => "router or shard itself".into(),
        Route::Key => "the key's group".into(),
        Route::Keys(merge) => format!("each key's group; {}", merged(merge)),
        Route::SameGroup => "the keys' group; CROSSSLOT across groups".into(),
        Route::All(merge) => format!("every group; {}", merged(merge)),
        Route::Scan => "one group at a time".into(),
        Route::Txn => "transactions and scripts: the keys' groups (docs/architecture.md)".into(),
        Route::Cluster => "answered where received, never forwarded".into(),
    }
}

/// The row's route, then any subcommand's that routes otherwise.
fn routes(spec: &CommandSpec) -> String {
    let mut out = route(spec.route);
    for (kind, sub, r) in SUBCOMMAND_ROUTES {
        if *kind == spec.kind {
            out.push_str(&format!("; {sub}: {}", route(*r)));
        }
    }
    out
}

fn render() -> String {
    let mut out = String::new();
    out.push_str(
        "| Command | Arity | Flags | Keys | Where it runs | Subcommands | What it does |\n",
    );
    out.push_str("|---|---|---|---|---|---|---|\n");
    for spec in COMMANDS {
        let flags: Vec<&str> = spec.flags.names().collect();
        let subs: Vec<&str> = spec.subcommands.iter().map(|(n, _)| *n).collect();
        out.push_str(&format!(
            "| {} | {} | {} | {} | {} | {} | {} |\n",
            spec.name,
            spec.arity,
            flags.join(", "),
            keys(spec.keys),
            routes(spec),
            subs.join(", "),
            spec.summary
        ));
    }
    out
}

#[test]
fn the_compatibility_table_matches_the_command_table() {
    let path = docs_path("commands.md");
    let text = std::fs::read_to_string(&path).expect("docs/commands.md exists");
    let (head, rest) = text.split_once(BEGIN).expect("begin marker");
    let (_, tail) = rest.split_once(END).expect("end marker");
    let expected = format!("{head}{BEGIN}\n{}{END}{tail}", render());
    if std::env::var_os("JUMPCACHE_BLESS").is_some() {
        std::fs::write(&path, &expected).expect("write docs");
        return;
    }
    assert!(
        text == expected,
        "docs/commands.md is out of date; run JUMPCACHE_BLESS=1 cargo test -p jumpcache-tests --test docs"
    );
}
