//! Cluster INFO: sums, own sections, the `# Cluster` lines.

use super::*;
use bytes::Bytes;

/// INFO as the handler makes it: the sections, then the text.
fn render_all(groups: &[GroupInfo<'_>], selector: &Selector, own: Vec<Section>) -> Frame {
    render(&sections(groups, own), selector)
}

/// A member's figures, read from INFO text as from a shard over a socket.
#[allow(clippy::unnecessary_wraps)]
fn info(keys: u64, mem: u64, up: u64) -> Option<ShardFigures> {
    let text = format!(
        "# Server\r\nredis_version:7.0.15\r\ntcp_port:7001\r\nuptime_in_seconds:{up}\r\n\r\n\
         # Memory\r\nused_memory:{mem}\r\nused_memory_human:1K\r\n\r\n\
         # Stats\r\nkeyspace_hits:{keys}\r\n\r\n\
         # Keyspace\r\ndb0:keys={keys},expires=1,avg_ttl=0\r\n"
    );
    Some(ShardFigures::from_info(&text))
}

fn text(frame: Frame) -> String {
    match frame {
        Frame::Verbatim(t) => String::from_utf8(t.to_vec()).unwrap(),
        other => panic!("{other:?}"),
    }
}

fn own(port: u16) -> Vec<serve::info::Section> {
    let mut server = serve::info::Section::new("Server");
    server
        .add("redis_mode", "cluster-proxy")
        .add("tcp_port", port);
    let mut stats = serve::info::Section::new("Stats");
    stats.add("total_commands_processed", 42);
    vec![server, stats]
}

const ADDRS: [&str; 4] = [
    "127.0.0.1:7001",
    "127.0.0.1:7002",
    "127.0.0.1:7003",
    "127.0.0.1:7004",
];

/// Round trips the router measured to member `i`: (10, 20), (30, 40), ...
fn latency(i: usize) -> (u64, u64) {
    let i = i as u64;
    (10 + 20 * i, 20 + 20 * i)
}

/// One single-member group per reply, every member `up`.
fn singles(replies: Vec<Option<ShardFigures>>) -> Vec<GroupInfo<'static>> {
    replies
        .into_iter()
        .zip(ADDRS)
        .enumerate()
        .map(|(i, (reply, addr))| GroupInfo {
            members: vec![MemberInfo {
                addr,
                state: MemberState::Up,
                figures: reply,
                latency_us: latency(i),
            }],
            failovers: 0,
        })
        .collect()
}

#[test]
fn fields_are_summed_own_sections_replace_and_the_cluster_section_lists_every_shard() {
    let all = Selector::from_args(&[Bytes::from_static(b"everything")]);
    let got = text(render_all(
        &singles(vec![info(3, 100, 5), info(4, 5000, 9)]),
        &all,
        own(6379),
    ));
    // The router's own Server section replaces the shards' wholesale.
    assert!(
        got.starts_with("# Server\r\nredis_mode:cluster-proxy\r\ntcp_port:6379\r\n\r\n"),
        "{got}"
    );
    assert!(!got.contains("uptime_in_seconds"), "{got}");
    // Memory is summed, and its human form recomputed from the sum.
    assert!(got.contains("used_memory:5100\r\n"), "{got}");
    assert!(got.contains("used_memory_human:4.98K\r\n"), "{got}");
    // Stats: the router's own fields, then the keyspace counters summed.
    assert!(
        got.contains("# Stats\r\ntotal_commands_processed:42\r\n"),
        "{got}"
    );
    assert!(got.contains("\r\nkeyspace_hits:7\r\n"), "{got}");
    assert!(got.contains("db0:keys=7,expires=2,avg_ttl=0\r\n"), "{got}");
    assert!(
        got.contains(
            "# Cluster\r\nshards:2\r\nshards_up:2\r\nmembers:2\r\nmembers_up:2\r\nfailovers:0\r\n\
             shard0:addr=127.0.0.1:7001,state=up,keys=3,used_memory=100,hits=3,misses=0,\
             evicted=0,ops=0,latency_p50_us=10,latency_p99_us=20\r\n\
             shard1:addr=127.0.0.1:7002,state=up,keys=4,used_memory=5000,hits=4,misses=0,\
             evicted=0,ops=0,latency_p50_us=30,latency_p99_us=40\r\n\r\n# Keyspace"
        ),
        "{got}"
    );
}

#[test]
fn a_down_shard_is_listed_and_sections_filter() {
    // One did not answer; one answered something that is not INFO (see `shards::figures`).
    let (down, garbage) = (None, None);
    let only = Selector::from_args(&[Bytes::from_static(b"CLUSTER")]);
    let got = text(render_all(
        &singles(vec![info(3, 100, 5), down, garbage]),
        &only,
        own(0),
    ));
    assert_eq!(
        got,
        "# Cluster\r\nshards:3\r\nshards_up:1\r\nmembers:3\r\nmembers_up:1\r\nfailovers:0\r\n\
         shard0:addr=127.0.0.1:7001,state=up,keys=3,used_memory=100,hits=3,misses=0,\
         evicted=0,ops=0,latency_p50_us=10,latency_p99_us=20\r\n\
         shard1:addr=127.0.0.1:7002,state=down,keys=0,used_memory=0,hits=0,misses=0,\
         evicted=0,ops=0,latency_p50_us=30,latency_p99_us=40\r\n\
         shard2:addr=127.0.0.1:7003,state=down,keys=0,used_memory=0,hits=0,misses=0,\
         evicted=0,ops=0,latency_p50_us=50,latency_p99_us=60\r\n"
    );
    let keyspace = Selector::from_args(&[Bytes::from_static(b"keyspace")]);
    let got = text(render_all(
        &singles(vec![info(3, 100, 5)]),
        &keyspace,
        own(0),
    ));
    assert_eq!(got, "# Keyspace\r\ndb0:keys=3,expires=1,avg_ttl=0\r\n");
}

#[test]
fn replicated_groups_count_one_member_and_list_every_member() {
    let member = |i: usize, state, figures| MemberInfo {
        addr: ADDRS[i],
        state,
        figures,
        latency_us: latency(i),
    };
    let groups = vec![
        GroupInfo {
            members: vec![
                member(0, MemberState::Down, info(9, 900, 1)),
                member(1, MemberState::Up, info(3, 100, 5)),
            ],
            failovers: 2,
        },
        GroupInfo {
            members: vec![
                member(2, MemberState::Up, info(4, 50, 9)),
                member(3, MemberState::Syncing, info(1, 10, 1)),
            ],
            failovers: 0,
        },
    ];
    let got = text(render_all(&groups, &Selector::from_args(&[]), own(0)));
    // What a group holds counts once (its first `up` member's); what every member that
    // answered did is summed: hits 9 + 3 + 4 + 1.
    assert!(got.contains("db0:keys=7,expires=2,avg_ttl=0\r\n"), "{got}");
    assert!(got.contains("used_memory:150\r\n"), "{got}");
    assert!(got.contains("keyspace_hits:17\r\n"), "{got}");
    assert!(
        got.contains(
            "# Cluster\r\nshards:2\r\nshards_up:2\r\nmembers:4\r\nmembers_up:2\r\nfailovers:2\r\n\
             shard0:addr=127.0.0.1:7001,state=up,keys=3,used_memory=100,hits=12,misses=0,\
             evicted=0,ops=0,latency_p50_us=30,latency_p99_us=40,members=2,members_up=1,failovers=2\r\n\
             shard0_member0:addr=127.0.0.1:7001,state=down,role=primary,keys=9,used_memory=900,\
             hits=9,misses=0,evicted=0,ops=0,latency_p50_us=10,latency_p99_us=20\r\n\
             shard0_member1:addr=127.0.0.1:7002,state=up,role=replica,keys=3,used_memory=100,\
             hits=3,misses=0,evicted=0,ops=0,latency_p50_us=30,latency_p99_us=40\r\n\
             shard1:addr=127.0.0.1:7003,state=up,keys=4,used_memory=50,hits=5,misses=0,\
             evicted=0,ops=0,latency_p50_us=50,latency_p99_us=60,members=2,members_up=1,failovers=0\r\n\
             shard1_member0:addr=127.0.0.1:7003,state=up,role=primary,keys=4,used_memory=50,\
             hits=4,misses=0,evicted=0,ops=0,latency_p50_us=50,latency_p99_us=60\r\n\
             shard1_member1:addr=127.0.0.1:7004,state=syncing,role=replica,keys=1,used_memory=10,\
             hits=1,misses=0,evicted=0,ops=0,latency_p50_us=70,latency_p99_us=80\r\n"
        ),
        "{got}"
    );
}

#[test]
fn a_member_that_does_not_answer_is_down_and_a_group_with_none_up_is_down() {
    let groups = vec![GroupInfo {
        members: vec![
            MemberInfo {
                addr: ADDRS[0],
                state: MemberState::Up,
                figures: None,
                latency_us: latency(0),
            },
            MemberInfo {
                addr: ADDRS[1],
                state: MemberState::Stale,
                figures: info(2, 20, 1),
                latency_us: latency(1),
            },
        ],
        failovers: 1,
    }];
    let only = Selector::from_args(&[Bytes::from_static(b"cluster")]);
    let got = text(render_all(&groups, &only, own(0)));
    assert!(
        got.contains("shards_up:0\r\nmembers:2\r\nmembers_up:0\r\n"),
        "{got}"
    );
    assert!(
        got.contains("\r\nshard0:addr=127.0.0.1:7001,state=down,keys=2,"),
        "{got}"
    );
    assert!(
        got.contains(",members=2,members_up=0,failovers=1\r\n"),
        "{got}"
    );
    assert!(
        got.contains("shard0_member0:addr=127.0.0.1:7001,state=down,"),
        "{got}"
    );
    assert!(
        got.contains("shard0_member1:addr=127.0.0.1:7002,state=stale,"),
        "{got}"
    );
}

#[test]
fn with_every_shard_down_the_router_still_answers_its_own_sections() {
    let all = Selector::from_args(&[Bytes::from_static(b"all")]);
    let got = text(render_all(&singles(vec![None, None]), &all, own(1)));
    assert!(got.starts_with("# Server\r\n"), "{got}");
    assert!(
        got.contains("# Stats\r\ntotal_commands_processed:42\r\n"),
        "{got}"
    );
    assert!(got.contains("shards_up:0\r\n"), "{got}");
    assert!(got.ends_with("\r\n# Keyspace\r\n"), "{got}");
}
