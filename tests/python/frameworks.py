"""redis-py and Django's cache against a jumpcache router: run by tests/tests/frameworks.rs.

Usage: python3 frameworks.py HOST:PORT. Prints "ok" and exits 0 when every check passes.
"""
import sys
import threading

import redis


def check_redis_py(url):
    r = redis.Redis.from_url(url)
    r.flushall()
    # pipeline() is MULTI/EXEC by default; keys on several groups.
    with r.pipeline() as p:
        p.set("pa", 1).set("pb", 2).incr("pa").mget("pa", "pb")
        assert p.execute() == [True, True, 2, [b"2", b"2"]]
    # transaction(): WATCH, then retried on WatchError, under contention from threads.
    r.set("counter", 0)

    def bump(pipe):
        now = int(pipe.get("counter"))
        pipe.multi()
        pipe.set("counter", now + 1)

    def worker():
        c = redis.Redis.from_url(url)
        for _ in range(40):
            c.transaction(bump, "counter")

    threads = [threading.Thread(target=worker) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert int(r.get("counter")) == 160, r.get("counter")
    # Lock: SET NX PX to take, Lua (EVALSHA, EVAL on NOSCRIPT) to release and extend.
    lock = r.lock("resource", timeout=5, blocking_timeout=1)
    assert lock.acquire()
    assert not r.lock("resource", timeout=5, blocking_timeout=0.1).acquire()
    assert lock.extend(5)
    assert lock.locked()
    lock.release()
    assert not lock.locked()
    r.script_flush()
    with r.lock("resource2", timeout=5):
        pass
    # register_script: EVALSHA, loaded on NOSCRIPT.
    add = r.register_script("return redis.call('incrby', KEYS[1], ARGV[1])")
    assert add(keys=["scripted"], args=[5]) == 5
    assert add(keys=["scripted"], args=[5]) == 10


def check_django(url):
    import django
    from django.conf import settings

    settings.configure(
        CACHES={
            "default": {
                "BACKEND": "django.core.cache.backends.redis.RedisCache",
                "LOCATION": url,
            }
        }
    )
    django.setup()
    from django.core.cache import cache

    data = {f"dj{i}": i for i in range(20)}
    assert cache.set_many(data, timeout=30) == []
    assert cache.get_many(list(data)) == data
    cache.set("n", 1)
    assert cache.incr("n", 5) == 6
    cache.delete_many(list(data)[:10])
    assert cache.get_many(list(data)) == {k: v for k, v in data.items() if v >= 10}
    assert cache.add("added", 1) and not cache.add("added", 2)


def main():
    url = f"redis://{sys.argv[1]}/0"
    check_redis_py(url)
    check_django(url)
    print("ok")


if __name__ == "__main__":
    main()
