//! Group and cluster sums from members' figures.

use super::*;

fn figures(keys: u64, hits: u64, policy: &'static str) -> ShardFigures {
    ShardFigures {
        keyspace: Keyspace {
            keys,
            used_memory: keys * 100,
            max_memory: 1000,
            hits,
            ..Keyspace::default()
        },
        maxmemory_policy: Cow::Borrowed(policy),
        ops_per_sec: 1,
        ..ShardFigures::default()
    }
}

fn answered(state: MemberState, f: &ShardFigures) -> Member<'_> {
    Member {
        state,
        figures: Some(f),
        answered: true,
    }
}

#[test]
fn a_group_holds_what_its_first_up_member_holds_and_did_what_every_member_did() {
    let (a, b, c) = (
        figures(9, 1, "allkeys-lru"),
        figures(3, 2, "allkeys-lru"),
        figures(4, 4, "allkeys-lfu"),
    );
    let groups = [
        GroupMembers {
            members: vec![
                answered(MemberState::Down, &a),
                answered(MemberState::Up, &b),
            ],
            counted_before: None,
        },
        GroupMembers {
            members: vec![answered(MemberState::Up, &c)],
            counted_before: None,
        },
    ];
    let s = summarise(&groups);
    assert_eq!(s.groups[0].counted, Some(1));
    assert_eq!(
        (s.groups[0].keyspace.keys, s.groups[0].keyspace.hits),
        (3, 3)
    );
    assert_eq!(s.groups[0].ops_per_sec, 2);
    assert_eq!(
        (
            s.keyspace.keys,
            s.keyspace.used_memory,
            s.keyspace.max_memory
        ),
        (7, 700, 2000)
    );
    assert_eq!(s.keyspace.hits, 7);
    assert_eq!(s.maxmemory_policy.as_deref(), Some("allkeys-lru"));
    assert_eq!((s.groups_up(), s.members_up()), (2, 2));
}

#[test]
fn a_group_none_of_whose_members_answered_is_counted_by_the_member_it_was_counted_by_before() {
    let (a, b) = (figures(9, 1, "allkeys-lru"), figures(3, 2, "allkeys-lru"));
    let silent = |f| Member {
        state: MemberState::Up,
        figures: Some(f),
        answered: false,
    };
    let groups = [GroupMembers {
        members: vec![silent(&a), silent(&b)],
        counted_before: Some(1),
    }];
    let s = summarise(&groups);
    assert_eq!(s.groups[0].states, [MemberState::Down, MemberState::Down]);
    assert_eq!((s.keyspace.keys, s.keyspace.hits), (3, 3));
    assert_eq!(s.groups_up(), 0);
    let unknown = [GroupMembers {
        members: vec![Member {
            state: MemberState::Up,
            figures: None,
            answered: false,
        }],
        counted_before: None,
    }];
    let s = summarise(&unknown);
    assert_eq!((s.groups[0].counted, s.maxmemory_policy), (None, None));
}

#[test]
fn sums_saturate_instead_of_wrapping() {
    let big = figures(1, u64::MAX, "allkeys-lru");
    let groups = [GroupMembers {
        members: vec![
            answered(MemberState::Up, &big),
            answered(MemberState::Up, &big),
        ],
        counted_before: None,
    }];
    assert_eq!(summarise(&groups).keyspace.hits, u64::MAX);
}
