"""redis-py's client-side cache (protocol=3, cache_config) against jumpcache: a key read
through one address, written by another client through a second address, and the next read
returns the new value, every round. Prints "ok" or fails.

usage: client_cache.py READER_HOST:PORT WRITER_HOST:PORT ROUNDS
"""
import sys

import redis
from redis.cache import CacheConfig


def connect(addr, **kw):
    host, port = addr.rsplit(":", 1)
    return redis.Redis(host=host, port=int(port), **kw)


def main():
    reader = connect(sys.argv[1], protocol=3, cache_config=CacheConfig())
    writer = connect(sys.argv[2])
    rounds = int(sys.argv[3])
    cache = reader.get_cache()
    writer.set("csc:k", "start")
    assert reader.get("csc:k") == b"start"
    assert reader.get("csc:k") == b"start"
    assert cache.size >= 1, "the second read was not cached"
    for i in range(rounds):
        key = f"csc:k{i % 3}"
        writer.set(key, f"v{i}")
        got = reader.get(key)
        assert got == f"v{i}".encode(), (i, key, got)
        # Served from the client's own cache until the next write.
        assert reader.get(key) == f"v{i}".encode()
    writer.delete("csc:k0")
    assert reader.get("csc:k0") is None
    writer.flushall()
    assert reader.get("csc:k1") is None
    print("ok")


main()
