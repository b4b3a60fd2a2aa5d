"""The Redis cache backend (REDIS_URL): Django's, with one client per connection pool."""

from __future__ import annotations

import threading
import uuid

import pytest

from dashboard.cache import RedisCache

REDIS = "redis://127.0.0.1:6379/14"


@pytest.fixture
def redis_cache():
    import redis

    try:
        redis.Redis.from_url(REDIS).ping()
    except redis.ConnectionError:
        pytest.fail(f"Redis is not answering at {REDIS} (the machines run it on localhost)")
    cache = RedisCache(REDIS, {"KEY_PREFIX": f"test-{uuid.uuid4().hex}"})
    yield cache
    cache.clear()


def test_one_client_serves_every_command(redis_cache) -> None:
    client = redis_cache._cache.get_client()
    assert redis_cache._cache.get_client(write=True) is client
    redis_cache.set("job", {"state": "running"}, 5)
    assert redis_cache.get("job") == {"state": "running"}
    assert redis_cache._cache.get_client() is client


def test_threads_share_the_client_without_mixing_answers(redis_cache) -> None:
    wrong: list[tuple[int, object]] = []

    def work(n: int) -> None:
        for i in range(50):
            redis_cache.set(f"k{n}", (n, i), 5)
            got = redis_cache.get(f"k{n}")
            if got != (n, i):
                wrong.append((n, got))

    threads = [threading.Thread(target=work, args=(n,)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert wrong == []
    assert redis_cache.get_many([f"k{n}" for n in range(8)]) == {f"k{n}": (n, 49) for n in range(8)}
