#!/usr/bin/env python3
"""Collections used the way cache libraries use them, through redis-py, against jumpcache and
against redis-server, in RESP2 and RESP3: every reply must be the same (order-free replies
compared as sets).

    python3 tests/python/cache_patterns.py JUMPCACHE_PORT REDIS_UNIX_SOCKET

Exits 1 with the differences on stderr. Run by tests/binary/clients.rs.
"""
import sys

import redis


def workload(r):
    """Yields (label, value) for every step; `r` is a redis-py client."""
    r.flushall()
    # Object cache: a user as a hash, read whole and field by field, with a TTL.
    yield "hset", r.hset("user:1", mapping={"name": "ada", "visits": "1", "plan": "pro"})
    yield "hgetall", r.hgetall("user:1")
    yield "hmget", r.hmget("user:1", ["name", "nosuch", "plan"])
    yield "hincrby", r.hincrby("user:1", "visits", 5)
    yield "hincrbyfloat", r.hincrbyfloat("user:1", "score", 0.1)
    yield "expire", r.expire("user:1", 300)
    yield "ttl>0", r.ttl("user:1") > 0
    yield "hdel", r.hdel("user:1", "plan", "nosuch")
    yield "hlen", r.hlen("user:1")
    yield "hexists", r.hexists("user:1", "plan")
    yield "type", r.type("user:1")
    big = {f"f{i}": "x" * (i % 70) for i in range(300)}
    yield "hset big", r.hset("user:big", mapping=big)
    yield "hgetall big", r.hgetall("user:big")
    yield "hrandfield all", sorted(r.hrandfield("user:big", 1000))
    yield "hscan all", sorted(k for k, _ in r.hscan_iter("user:big", count=17))
    # Cache tags (Laravel, Symfony): sets of keys per tag, across groups.
    for tag, keys in [("tag:a", ["k1", "k2", "k3"]), ("tag:b", ["k2", "k3", "k4"]), ("tag:c", ["k3"])]:
        yield f"sadd {tag}", r.sadd(tag, *keys)
    yield "smembers", set(r.smembers("tag:a"))
    yield "sinter", set(r.sinter("tag:a", "tag:b", "tag:c"))
    yield "sunion", set(r.sunion("tag:a", "tag:b", "tag:c"))
    yield "sdiff", set(r.sdiff("tag:a", "tag:b"))
    yield "sintercard", r.sintercard(2, ["tag:a", "tag:b"])
    yield "sismember", r.sismember("tag:a", "k1")
    yield "smismember", r.smismember("tag:a", ["k1", "k9"])
    yield "srem", r.srem("tag:a", "k1", "k9")
    yield "scard", r.scard("tag:a")
    yield "sinterstore same group", r.sinterstore("{t}dst", ["{t}x", "{t}y"])
    yield "wrongtype", _error(lambda: r.sadd("user:1", "x"))
    # Sliding windows and leaderboards: scores in a sorted set.
    yield "zadd", r.zadd("board", {"ann": 10, "bob": 20.5, "cat": 15, "dan": 0.1})
    yield "zadd gt", r.zadd("board", {"ann": 5, "bob": 30}, gt=True, ch=True)
    yield "zincrby", r.zincrby("board", 2.5, "cat")
    yield "zscore", r.zscore("board", "dan")
    yield "zmscore", r.zmscore("board", ["ann", "nosuch"])
    yield "zrange withscores", r.zrange("board", 0, -1, withscores=True)
    yield "zrevrange", r.zrevrange("board", 0, 1, withscores=True)
    yield "zrangebyscore", r.zrangebyscore("board", 1, 20, withscores=True)
    yield "zrank", r.zrank("board", "cat")
    yield "zcount", r.zcount("board", "(10", "+inf")
    yield "zremrangebyscore", r.zremrangebyscore("board", "-inf", 1)
    yield "zpopmin", r.zpopmin("board")
    yield "zpopmax 2", r.zpopmax("board", 2)
    yield "zcard", r.zcard("board")
    # Recent items: a capped list.
    for i in range(30):
        r.lpush("recent", f"item:{i}")
        r.ltrim("recent", 0, 9)
    yield "lrange", r.lrange("recent", 0, -1)
    yield "llen", r.llen("recent")
    yield "lpop 3", r.lpop("recent", 3)
    yield "rpop", r.rpop("recent")
    yield "lindex", r.lindex("recent", -1)
    yield "lpos", r.lpos("recent", "item:25")
    yield "linsert", r.linsert("recent", "BEFORE", "item:25", "new")
    yield "lrem", r.lrem("recent", 0, "new")
    yield "lmove same group", r.lmove("{l}a", "{l}b")
    r.rpush("{l}a", "x", "y")
    yield "lmove", r.lmove("{l}a", "{l}b", "LEFT", "RIGHT")
    yield "lrange b", r.lrange("{l}b", 0, -1)
    # A pipeline of mixed types, as a cache warm-up does.
    p = r.pipeline(transaction=False)
    p.hset("p:h", "f", "v").sadd("p:s", "m").zadd("p:z", {"m": 1}).rpush("p:l", "e")
    p.hgetall("p:h").smembers("p:s").zrange("p:z", 0, -1, withscores=True).lrange("p:l", 0, -1)
    p.type("p:h").type("p:s").type("p:z").type("p:l").delete("p:h", "p:s", "p:z", "p:l")
    yield "pipeline", p.execute()
    yield "rename", (r.rename("{r}a", "{r}b") if r.exists("{r}a") else "none")
    r.hset("{r}a", "f", "v")
    yield "rename hash", r.rename("{r}a", "{r}b")
    yield "copy", r.copy("{r}b", "{r}c")
    yield "hgetall copy", r.hgetall("{r}c")


def _error(f):
    try:
        f()
    except redis.ResponseError as e:
        return f"error: {e}"
    return "no error"


def run(client):
    out = []
    for label, value in workload(client):
        out.append((label, value))
    return out


def main():
    port, sock = int(sys.argv[1]), sys.argv[2]
    failures = []
    for protocol in (2, 3):
        ours = run(redis.Redis(port=port, protocol=protocol, decode_responses=True))
        theirs = run(redis.Redis(unix_socket_path=sock, protocol=protocol, decode_responses=True))
        for (label, a), (_, b) in zip(ours, theirs):
            if a != b:
                failures.append(f"RESP{protocol} {label}:\n  jumpcache: {a!r}\n  redis:     {b!r}")
        print(f"RESP{protocol}: {len(ours)} steps compared")
    if failures:
        print("\n".join(failures), file=sys.stderr)
        sys.exit(1)


if __name__ == "__main__":
    main()
