// The ACL differential script: the same users on redis-server 7.0 and on jumpcache, the same
// requests, the replies compared byte for byte. Included (`include!`) by
// tests/tests/acl_differential.rs (shard, router, `cluster`) and tests/binary/tls.rs (real
// processes), so both run the one table.

/// `password`'s SHA-256, in Redis's `#<hex>` form.
const PASSWORD_HASH: &str = "5e884898da28047151d0e56f8dc6292773603d0d6aabbdd62a11ef721d1542d8";

/// The users, one `user` line each: every rule form of the issue.
fn acl_users() -> Vec<String> {
    vec![
        // `>plain` password, one category, one key pattern.
        "alice on >pass ~cache:* +@read".into(),
        // Off: the right password is refused.
        "bob off >x +@all ~*".into(),
        // `#sha256` password, `+@all` minus a category and a command.
        format!("carol on #{PASSWORD_HASH} +@all -flushall -@admin ~*"),
        // `allkeys`, `+@write -@dangerous`, one command by name.
        "dave on >d allkeys +@write -@dangerous +get".into(),
        // `nopass`, several patterns.
        "erin on nopass ~a:* ~b:* ~{t}* +@all -@dangerous".into(),
        // `resetpass`: no password logs in.
        "frank on >f resetpass +@all ~*".into(),
        // Subcommand rules.
        "gina on >g ~* -@all +config|get +client|id +acl|whoami".into(),
        // Two passwords, a pattern then `allkeys`, categories out and a command back in,
        // and a rule naming a command Redis has and jumpcache lacks.
        "hank on >h >h2 ~x* allkeys +@all -@write +set -@keyspace -migrate".into(),
    ]
}

/// How a reply is compared.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Check {
    /// Byte for byte.
    Same,
    /// Byte for byte once digits are masked (client ids).
    Ids,
    /// The same length (ACL GENPASS: random).
    Len,
    /// ACL LIST / GETUSER: byte for byte but for the single-command rules after the
    /// categories, whose order in Redis is its command dictionary's (different from one run
    /// to the next): those compared as sets.
    Rules,
    /// ACL CAT of a category: the commands jumpcache has, as a set.
    Cat,
    /// Nothing is sent: the server has closed the connection.
    Closed,
    /// The same bulk strings in any order (KEYS).
    Unordered,
    /// ACL LOG: byte for byte but for each entry's `age-seconds` and `client-info`.
    Log,
}

use Check::*;

/// (connection, request, check). Connection 0 is opened first; others when first used.
const ACL_STEPS: &[(usize, &str, Check)] = &[
    (0, "ACL LOG RESET", Same),
    (0, "ACL LOG", Same),
    (0, "ACL WHOAMI", Same),
    (0, "SET cache:a 1", Same),
    (0, "SET other 2", Same),
    (0, "SET a:1 x", Same),
    (0, "ACL USERS", Same),
    (0, "ACL LIST", Rules),
    (0, "ACL CAT", Same),
    (0, "ACL CAT keyspace", Cat),
    (0, "ACL CAT read", Cat),
    (0, "ACL CAT write", Cat),
    (0, "ACL CAT string", Cat),
    (0, "ACL CAT admin", Cat),
    (0, "ACL CAT fast", Cat),
    (0, "ACL CAT slow", Cat),
    (0, "ACL CAT dangerous", Cat),
    (0, "ACL CAT connection", Cat),
    (0, "ACL CAT transaction", Cat),
    (0, "ACL CAT scripting", Cat),
    (0, "ACL CAT hash", Cat),
    (0, "ACL CAT set", Cat),
    (0, "ACL CAT sortedset", Cat),
    (0, "ACL CAT list", Cat),
    (0, "ACL CAT nosuch", Same),
    (0, "ACL GETUSER alice", Rules),
    (0, "ACL GETUSER dave", Rules),
    (0, "ACL GETUSER erin", Rules),
    (0, "ACL GETUSER hank", Rules),
    (0, "ACL GETUSER default", Rules),
    (0, "ACL GETUSER nobody", Same),
    // alice: reads under cache:* only.
    (0, "AUTH alice nope", Same),
    (0, "AUTH alice pass", Same),
    (0, "ACL WHOAMI", Same),
    (0, "GET cache:a", Same),
    (0, "SET cache:a 2", Same),
    (0, "GET other", Same),
    (0, "MGET cache:a other", Same),
    (0, "EXISTS cache:a", Same),
    (0, "TTL cache:a", Same),
    (0, "FLUSHALL", Same),
    (0, "FLUSHDB", Same),
    (0, "CONFIG GET maxmemory", Same),
    (0, "CONFIG SET maxmemory 0", Same),
    (0, "ACL LIST", Same),
    (0, "ACL USERS", Same),
    (0, "ACL SETUSER x on", Same),
    (0, "ACL CAT", Same),
    (0, "INFO", Same),
    (0, "KEYS *", Unordered),
    (0, "CLIENT LIST", Same),
    (0, "CLIENT KILL ID 1", Same),
    (0, "DBSIZE", Same),
    (0, "PING", Same),
    // A refusal inside MULTI aborts the transaction.
    (0, "MULTI", Same),
    (0, "SET cache:b 1", Same),
    (0, "GET cache:a", Same),
    (0, "EXEC", Same),
    (0, "GET cache:a", Same),
    // bob is off; nobody does not exist; frank has no password left.
    (0, "AUTH bob x", Same),
    (0, "AUTH nobody x", Same),
    (0, "AUTH frank f", Same),
    (0, "AUTH frank", Same),
    (0, "ACL WHOAMI", Same),
    // carol: everything but FLUSHALL and @admin, her password given as its SHA-256.
    (0, "AUTH carol password", Same),
    (0, "SET other 3", Same),
    (0, "FLUSHALL", Same),
    (0, "CONFIG SET maxmemory 1", Same),
    (0, "CONFIG GET maxmemory", Same),
    (0, "ACL USERS", Same),
    (0, "ACL WHOAMI", Same),
    (0, "CLIENT ID", Ids),
    (0, "DEL cache:a other", Same),
    // dave: @write but not @dangerous, and GET by name.
    (0, "AUTH dave d", Same),
    (0, "SET x 1", Same),
    (0, "GET x", Same),
    (0, "STRLEN x", Same),
    (0, "FLUSHDB", Same),
    (0, "KEYS *", Unordered),
    (0, "DEL x", Same),
    (0, "EXPIRE x 10", Same),
    // erin: any password, three patterns, nothing @dangerous.
    (0, "AUTH erin anything", Same),
    (0, "GET a:1", Same),
    (0, "GET b:1", Same),
    (0, "GET {t}x", Same),
    (0, "GET c:1", Same),
    (0, "MSET a:1 1 c:1 2", Same),
    (0, "KEYS *", Unordered),
    (0, "FLUSHALL", Same),
    // gina: three subcommands.
    (0, "AUTH gina g", Same),
    (0, "CONFIG SET maxmemory 0", Same),
    (0, "CLIENT ID", Ids),
    (0, "CLIENT LIST", Same),
    (0, "ACL WHOAMI", Same),
    (0, "ACL USERS", Same),
    (0, "GET x", Same),
    // hank: either password; reads, SET, nothing @keyspace.
    (0, "AUTH hank h2", Same),
    (0, "AUTH hank h", Same),
    (0, "SET x 1", Same),
    (0, "GET x", Same),
    (0, "INCR x", Same),
    (0, "DEL x", Same),
    (0, "EXPIRE x 10", Same),
    (0, "STRLEN x", Same),
    // Back to default (nopass: any password).
    (0, "AUTH default whatever", Same),
    (0, "ACL WHOAMI", Same),
    (0, "AUTH x", Same),
    (0, "AUTH a b c", Same),
    (0, "ACL", Same),
    (0, "ACL WHOAMI x", Same),
    (0, "ACL nosuch", Same),
    // HELLO with AUTH.
    (1, "HELLO 3 AUTH alice bad", Same),
    (1, "HELLO 3 AUTH bob x", Same),
    (1, "HELLO 3 AUTH alice pass", Ids),
    (1, "ACL WHOAMI", Same),
    (1, "GET cache:a", Same),
    (1, "SET cache:a 1", Same),
    (1, "HELLO 2 AUTH default x", Ids),
    (1, "ACL WHOAMI", Same),
    // ACL DRYRUN, GENPASS.
    (0, "ACL DRYRUN alice get cache:x", Same),
    (0, "ACL DRYRUN alice get x", Same),
    (0, "ACL DRYRUN alice set cache:x 1", Same),
    (0, "ACL DRYRUN alice mget cache:a b", Same),
    (0, "ACL DRYRUN alice config get x", Same),
    (0, "ACL DRYRUN gina config get x", Same),
    (0, "ACL DRYRUN gina config set x y", Same),
    (0, "ACL DRYRUN nobody get x", Same),
    (0, "ACL DRYRUN alice nosuch x", Same),
    (0, "ACL DRYRUN alice get", Same),
    (0, "ACL DRYRUN alice", Same),
    (0, "ACL GENPASS", Len),
    (0, "ACL GENPASS 5", Len),
    (0, "ACL GENPASS 129", Len),
    (0, "ACL GENPASS 0", Same),
    (0, "ACL GENPASS 4097", Same),
    (0, "ACL GENPASS x", Same),
    (0, "ACL GENPASS 8 8", Same),
    (0, "ACL SAVE", Same),
    (0, "ACL LOAD", Same),
    // ACL SETUSER: a user made and changed while a connection is logged in as it.
    (0, "ACL SETUSER", Same),
    (0, "ACL SETUSER zed", Same),
    (0, "ACL GETUSER zed", Rules),
    (0, "AUTH zed z", Same),
    (0, "ACL SETUSER zed on >z ~z:* +@read +@write -del", Same),
    (2, "AUTH zed z", Same),
    (2, "SET z:1 v", Same),
    (2, "DEL z:1", Same),
    (2, "GET y", Same),
    (0, "ACL SETUSER zed -@write ~y", Same),
    (2, "SET z:1 v", Same),
    (2, "GET y", Same),
    (2, "GET z:1", Same),
    (0, "ACL SETUSER zed +@all -@dangerous &chan resetchannels &c:* ~q:*", Same),
    (0, "ACL GETUSER zed", Rules),
    (0, "ACL LIST", Rules),
    (0, "ACL SETUSER zed ~*", Same),
    (0, "ACL SETUSER zed ~y", Same),
    (0, "ACL SETUSER zed +nosuch", Same),
    (0, "ACL SETUSER zed +@nosuch", Same),
    (0, "ACL SETUSER zed #abc", Same),
    (0, "ACL SETUSER zed bogus", Same),
    (0, "ACL SETUSER zed allchannels &c", Same),
    (0, "ACL SETUSER a\0b on", Same),
    (0, "ACL SETUSER zed reset", Same),
    (0, "ACL GETUSER zed", Rules),
    (2, "GET z:1", Same),
    (0, "ACL SETUSER zed on nopass allcommands allkeys -@admin", Same),
    (2, "GET z:1", Same),
    (2, "CONFIG GET timeout", Same),
    // ACL DELUSER closes the clients logged in as the user.
    (0, "ACL DELUSER default", Same),
    (0, "ACL DELUSER nobody", Same),
    (0, "ACL DELUSER zed nobody", Same),
    (2, "", Closed),
    (0, "ACL USERS", Same),
    (0, "ACL DELUSER zed", Same),
    // The default user given a password: new connections must authenticate.
    (0, "ACL SETUSER default resetpass >dpw", Same),
    (0, "ACL WHOAMI", Same),
    (3, "GET cache:a", Same),
    (3, "ACL WHOAMI", Same),
    // (PING before AUTH is jumpcache's one difference: +PONG, for health checks.)
    (3, "ECHO x", Same),
    (3, "EXEC", Same),
    (3, "MULTI", Same),
    (3, "AUTH wrong", Same),
    (3, "AUTH dpw", Same),
    (3, "ACL WHOAMI", Same),
    (3, "AUTH default dpw", Same),
    (3, "ACL GETUSER default", Rules),
    // CONFIG SET requirepass is the default user's one password.
    (0, "CONFIG SET requirepass secret", Same),
    (3, "AUTH dpw", Same),
    (3, "AUTH secret", Same),
    (3, "ACL GETUSER default", Rules),
    (3, "ACL DRYRUN default flushall", Same),
    // Off: nobody logs in as default any more.
    (0, "ACL SETUSER default off", Same),
    (4, "AUTH dpw", Same),
    (4, "AUTH default dpw", Same),
    (4, "HELLO 3 AUTH default dpw", Same),
    (4, "AUTH carol password", Same),
    (4, "ACL WHOAMI", Same),
    // Every refusal above, newest first, alike ones counted together.
    (0, "ACL LOG", Log),
    (0, "ACL LOG 200", Log),
    (0, "ACL LOG 2", Log),
    (0, "ACL LOG 0", Same),
    (0, "ACL LOG -1", Same),
    (0, "ACL LOG x", Same),
    (0, "ACL LOG 1 2", Same),
    (0, "ACL LOG RESET", Same),
    (0, "ACL LOG", Same),
];

/// Drops the values of `age-seconds` and `client-info` from an ACL LOG reply.
fn log_normalised(reply: &[u8]) -> Vec<String> {
    let text = String::from_utf8_lossy(reply);
    let mut out = Vec::new();
    let mut lines = text.split("\r\n");
    while let Some(line) = lines.next() {
        out.push(line.to_string());
        if line == "age-seconds" || line == "client-info" {
            lines.next();
            lines.next();
        }
    }
    out
}

/// Masks digits, so that two replies differing only in client ids compare equal, and HELLO's
/// server version (jumpcache reports 7.4.0, for clients that turn client-side caching on by
/// it; the redis-server compared with is 7.0).
fn masked(reply: &[u8]) -> Vec<u8> {
    let text = String::from_utf8_lossy(reply);
    let mut lines: Vec<&str> = text.split("\r\n").collect();
    for i in 0..lines.len().saturating_sub(2) {
        if lines[i] == "version" {
            lines[i + 1] = "$";
            lines[i + 2] = "VERSION";
        }
    }
    lines
        .join("\r\n")
        .bytes()
        .map(|b| if b.is_ascii_digit() { b'0' } else { b })
        .collect()
}

/// Returns the bulk strings of a RESP reply, at any depth.
fn acl_bulks(reply: &[u8]) -> Vec<String> {
    let text = String::from_utf8_lossy(reply);
    let lines: Vec<&str> = text.split("\r\n").collect();
    let mut out = Vec::new();
    let mut i = 0;
    while i + 1 < lines.len() {
        if lines[i].starts_with('$') && lines[i] != "$-1" {
            out.push(lines[i + 1].to_string());
            i += 2;
        } else {
            i += 1;
        }
    }
    out
}

/// Splits each bulk string into the words up to the categories' end (kept in order) and the
/// single-command rules after (sorted).
fn rules_normalised(reply: &[u8]) -> Vec<(Vec<String>, Vec<String>)> {
    acl_bulks(reply)
        .iter()
        .map(|line| {
            let words: Vec<String> = line.split(' ').map(String::from).collect();
            let cut = words
                .iter()
                .rposition(|w| w.starts_with("+@") || w.starts_with("-@"))
                .map_or(words.len(), |p| p + 1);
            let mut singles = words[cut..].to_vec();
            singles.sort();
            (words[..cut].to_vec(), singles)
        })
        .collect()
}

/// The full names jumpcache knows (commands, `container|sub`), but for those only it has.
fn jumpcache_names() -> std::collections::BTreeSet<String> {
    let mut known = std::collections::BTreeSet::new();
    for spec in protocol::command::COMMANDS {
        known.insert(spec.lower.to_string());
        for (sub, _) in spec.subcommands {
            known.insert(format!("{}|{}", spec.lower, sub.to_ascii_lowercase()));
        }
    }
    known
}

/// Compares one step's replies; `Err` says how they differ.
fn acl_compare(check: Check, redis: &[u8], ours: &[u8]) -> Result<(), String> {
    let same = match check {
        Same | Closed => redis == ours,
        Ids => masked(redis) == masked(ours),
        Log => log_normalised(redis) == log_normalised(ours),
        Len => redis.len() == ours.len() && redis[..1] == ours[..1],
        Rules => rules_normalised(redis) == rules_normalised(ours) && redis[..1] == ours[..1],
        Unordered => {
            let mut a = acl_bulks(redis);
            let mut b = acl_bulks(ours);
            a.sort();
            b.sort();
            a == b && redis[..1] == ours[..1]
        }
        Cat => {
            let known = jumpcache_names();
            let ours_only = |n: &String| n.starts_with("jumpcache") || n == "txn" || n == "client|setinfo";
            let theirs: std::collections::BTreeSet<String> =
                acl_bulks(redis).into_iter().filter(|n| known.contains(n)).collect();
            let mine: std::collections::BTreeSet<String> =
                acl_bulks(ours).into_iter().filter(|n| !ours_only(n)).collect();
            theirs == mine
        }
    };
    if same {
        Ok(())
    } else {
        Err(format!(
            "redis-server: {:?}\njumpcache:    {:?}",
            String::from_utf8_lossy(redis),
            String::from_utf8_lossy(ours)
        ))
    }
}

/// A connection to redis-server (its unix socket) or to jumpcache (TCP).
enum AclConn {
    Tcp(harness::RawClient),
    Unix(harness::RawUnixClient),
}

impl AclConn {
    async fn call(&mut self, line: &str) -> Vec<u8> {
        let args: Vec<&[u8]> = line.split(' ').map(str::as_bytes).collect();
        let bytes = harness::request(&args);
        match self {
            AclConn::Tcp(c) => c.send(&bytes).await,
            AclConn::Unix(c) => c.send(&bytes).await,
        }
        self.reply().await.unwrap_or_default()
    }

    async fn reply(&mut self) -> Option<Vec<u8>> {
        match self {
            AclConn::Tcp(c) => c.reply().await,
            AclConn::Unix(c) => c.reply().await,
        }
    }
}

/// Runs [`ACL_STEPS`] against redis-server and jumpcache at `ours` in lockstep; panics
/// listing every step whose replies differ.
async fn run_acl_differential(redis: &harness::RedisServer, ours: std::net::SocketAddr, what: &str) {
    let mut theirs_conns: Vec<Option<AclConn>> = (0..5).map(|_| None).collect();
    let mut ours_conns: Vec<Option<AclConn>> = (0..5).map(|_| None).collect();
    let mut failures = Vec::new();
    for (conn, line, check) in ACL_STEPS {
        if theirs_conns[*conn].is_none() {
            theirs_conns[*conn] = Some(AclConn::Unix(redis.raw().await));
            ours_conns[*conn] = Some(AclConn::Tcp(harness::RawClient::connect(ours).await));
        }
        let theirs = theirs_conns[*conn].as_mut().expect("opened above");
        let mine = ours_conns[*conn].as_mut().expect("opened above");
        let (a, b) = if *check == Closed {
            let a = theirs.reply().await.unwrap_or_default();
            let b = mine.reply().await.unwrap_or_default();
            (a, b)
        } else {
            (theirs.call(line).await, mine.call(line).await)
        };
        if let Err(e) = acl_compare(*check, &a, &b) {
            failures.push(format!("{what}: [{conn}] {line}:\n{e}"));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}

/// redis-server's arguments for [`acl_users`].
fn redis_acl_args() -> Vec<String> {
    let mut out = Vec::new();
    for line in acl_users() {
        out.push("--user".to_string());
        out.extend(line.split_whitespace().map(String::from));
    }
    out
}
