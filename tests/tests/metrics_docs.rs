//! docs/metrics.md lists every metric the code declares and every INFO field a router or a
//! shard prints, one line each, and nothing else; no metric name is declared twice.

use std::collections::BTreeSet;
use std::path::PathBuf;

use harness::{client_for, spawn_cluster, spawn_router, spawn_shard, within};
use redis::AsyncCommands;

fn metrics_md() -> String {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../docs/metrics.md");
    std::fs::read_to_string(path).expect("docs/metrics.md exists")
}

/// Every metric name the code declares, in declaration order.
fn declared() -> Vec<&'static str> {
    serve::stats::NAMES
        .iter()
        .chain(router::observe::stats::NAMES)
        .chain(server::stats::NAMES)
        .copied()
        .collect()
}

/// Returns the names documented as `` - `name` `` lines under the `## {heading}` heading.
fn documented(doc: &str, heading: &str) -> Vec<String> {
    let start = doc
        .find(&format!("\n## {heading}\n"))
        .unwrap_or_else(|| panic!("no ## {heading}"));
    let section = &doc[start + 1..];
    let end = section[3..].find("\n## ").map_or(section.len(), |i| i + 3);
    section[..end]
        .lines()
        .filter_map(|l| l.strip_prefix("- `")?.split('`').next())
        .map(str::to_string)
        .collect()
}

#[test]
fn no_metric_name_is_declared_twice() {
    let names = declared();
    let unique: BTreeSet<_> = names.iter().collect();
    assert_eq!(unique.len(), names.len(), "duplicate names in {names:?}");
}

#[test]
fn every_declared_metric_is_documented_once_and_nothing_else() {
    let doc = metrics_md();
    let listed = documented(&doc, "Prometheus metrics");
    let unique: BTreeSet<_> = listed.iter().map(String::as_str).collect();
    assert_eq!(unique.len(), listed.len(), "a metric is listed twice");
    let declared: BTreeSet<_> = declared().into_iter().collect();
    assert_eq!(
        unique, declared,
        "docs/metrics.md and the code's names differ"
    );
}

/// Returns INFO's field names, with per-command, per-shard and per-member names written as
/// the docs write them (`cmdstat_<command>`, `shard<N>`, `shard<N>_member<M>`).
fn info_fields(info: &str) -> BTreeSet<String> {
    let numbered = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    info.lines()
        .filter(|l| !l.starts_with('#'))
        .filter_map(|l| l.split_once(':').map(|(k, _)| k))
        .map(|k| {
            let shard = k.strip_prefix("shard").unwrap_or("");
            if k.starts_with("cmdstat_") {
                "cmdstat_<command>".to_string()
            } else if numbered(shard) {
                "shard<N>".to_string()
            } else if shard
                .split_once("_member")
                .is_some_and(|(n, m)| numbered(n) && numbered(m))
            {
                "shard<N>_member<M>".to_string()
            } else {
                k.to_string()
            }
        })
        .collect()
}

#[tokio::test]
async fn every_info_field_of_a_router_and_a_shard_is_documented_and_nothing_else() {
    let cluster = spawn_cluster(2).await;
    let shard = spawn_shard().await;
    // A router over a replicated group, for the member lines.
    let members = [spawn_shard().await, spawn_shard().await];
    let replicated = spawn_router(router::Config {
        shards: vec![format!("{}|{}", members[0].addr(), members[1].addr())],
        ..router::Config::default()
    })
    .await;
    let mut fields = BTreeSet::new();
    for mut con in [
        cluster.client().await,
        shard.client().await,
        client_for(replicated.addr()).await,
    ] {
        let _: () = within(con.set("k", "v")).await.unwrap();
        let info: String = within(redis::cmd("INFO").arg("everything").query_async(&mut con))
            .await
            .unwrap();
        fields.extend(info_fields(&info));
    }
    let doc = metrics_md();
    let listed = documented(&doc, "INFO fields");
    let unique: BTreeSet<String> = listed.iter().cloned().collect();
    assert_eq!(unique.len(), listed.len(), "an INFO field is listed twice");
    assert_eq!(
        unique, fields,
        "docs/metrics.md's INFO fields and the live INFO differ"
    );
}
