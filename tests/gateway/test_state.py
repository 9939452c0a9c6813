"""phiwall.state: one async interface, memory and a real redis-server (started by the test on 127.0.0.1), the
upload store shared by two 'replicas', no PHI in keys, fail closed when Redis is gone."""

from __future__ import annotations

import subprocess
from collections.abc import AsyncIterator

import pytest
from phiwall import digest
from phiwall.errors import LimitError
from phiwall.model import Verdict
from phiwall.state import MemoryStore
from phiwall.state import RedisStore
from phiwall.state import StateError
from phiwall.state import StateStore
from phiwall.state import open_store
from phiwall.state import state_key
from phiwall.uploads import UploadStore

from tests.gateway.conftest import Redis
from tests.support.proxy import free_port


@pytest.fixture(params=["memory", "redis"])
async def store(request: pytest.FixtureRequest) -> AsyncIterator[StateStore]:
    if request.param == "memory":
        yield MemoryStore()
        return
    redis: Redis = request.getfixturevalue("redis_server")
    s = RedisStore(redis.url)
    await s._r.flushdb()
    yield s
    await s.close()


async def test_bytes_with_ttl_and_only_if_absent(store: StateStore) -> None:
    k = state_key("test", "a")
    assert await store.get(k) is None
    assert await store.set(k, b"v1", 30)
    assert not await store.set(k, b"v2", 30, only_if_absent=True)
    assert await store.get(k) == b"v1"
    assert await store.mget([k, state_key("test", "missing")]) == [b"v1", None]
    assert await store.delete(k) == 1 and await store.get(k) is None
    await store.set(k, b"short", 0.05)
    import asyncio

    await asyncio.sleep(0.15)
    assert await store.get(k) is None


async def test_maps_are_copies_and_first_writer_wins(store: StateStore) -> None:
    k = state_key("test", "map")
    await store.hset(k, {"a": b"1", "b": b"2"}, 30)
    m = await store.hgetall(k)
    m["a"] = b"changed"  # mutating what was returned changes nothing stored
    assert await store.hget(k, "a") == b"1"
    assert await store.hsetnx(k, "c", b"3", 30) and not await store.hsetnx(k, "c", b"4", 30)
    assert await store.hincrby(k, "n", 5, 30) == 5 and await store.hincrby(k, "n", -2, 30) == 3
    assert await store.hdel(k, "a", "zz") == 1
    assert sorted(await store.hgetall(k)) == ["b", "c", "n"]


async def test_expiring_index(store: StateStore) -> None:
    import time

    k = "phiwall:test-index"
    await store.delete(k)
    now = time.time()
    await store.index_add(k, "old", now + 10)
    await store.index_add(k, "new", now + 20)
    await store.index_add(k, "gone", now - 1)
    assert await store.index_count(k) == 2
    assert await store.index_pop_oldest(k) in ("gone", "old")


async def test_value_cap(store: StateStore) -> None:
    store.max_value_bytes = 10  # type: ignore[attr-defined]
    with pytest.raises(StateError):
        await store.set(state_key("test", "big"), b"x" * 11, 30)
    assert isinstance(StateError("x"), LimitError)  # callers fail closed through on_error


async def test_two_replicas_share_one_upload_and_verdicts(redis_server: Redis) -> None:
    """An upload opened on replica A, chunked on B, completed on A; a verdict remembered on B found on A."""
    digest.set_key(b"k" * 32)  # every replica derives keys from the same installation secret
    a = UploadStore(store=RedisStore(redis_server.url))
    b = UploadStore(store=RedisStore(redis_server.url))
    await a.store._r.flushdb()  # type: ignore[attr-defined]
    s = await a.open("google", "UPLOAD-ID-1", declared_size=8)
    sb = await b.get("google", "UPLOAD-ID-1")
    assert sb is not None and sb.declared_size == 8
    await b.add_chunk(sb, 4, b"5678")
    await a.add_chunk(s, 0, b"1234")
    assert await a.assemble(s) == b"12345678"
    assert await b.claim_early_check(sb) and not await a.claim_early_check(s)
    await b.mark_blocked(sb, "DICOM file", ("dicom-file",))
    again = await a.get("google", "UPLOAD-ID-1")
    assert again is not None and again.blocked == "DICOM file" and again.blocked_rules == ("dicom-file",)
    assert await a.sessions_open() == 1
    await a.close(s)
    assert await b.get("google", "UPLOAD-ID-1") is None and await b.sessions_open() == 0
    await b.remember_verdict(["file-Patient0001"], Verdict.BLOCK, "blocked", ("r1",))
    hits = await a.referenced(b'{"attachments": [{"file_id": "file-Patient0001"}]}')
    assert [h[0] for h in hits] == ["file-Patient0001"]
    keys = [k.decode() for k in await a.store._r.keys("*")]  # type: ignore[attr-defined]
    assert keys and all(k.startswith("phiwall:") for k in keys)
    assert not any("Patient" in k or "UPLOAD" in k or "file-" in k for k in keys)
    await a.store.close()
    await b.store.close()


async def test_a_different_secret_does_not_see_the_state(redis_server: Redis) -> None:
    digest.set_key(b"k" * 32)
    a = UploadStore(store=RedisStore(redis_server.url))
    await a.remember_verdict(["file-Other000001"], Verdict.BLOCK, "blocked", ())
    digest.set_key(b"z" * 32)
    assert await a.verdict("file-Other000001") is None
    digest.set_key(b"k" * 32)
    assert await a.verdict("file-Other000001") is not None
    await a.store.close()


async def test_redis_gone_fails_closed_with_a_limit_error() -> None:
    s = RedisStore(f"redis://127.0.0.1:{free_port()}/0", timeout=1)
    assert not await s.ping()
    with pytest.raises(StateError, match="unreachable"):
        await s.get(state_key("test", "x"))
    up = UploadStore(store=s)
    with pytest.raises(LimitError):
        await up.open("google", "u")
    await s.close()


async def test_redis_out_of_memory_is_a_clear_limit(tmp_path) -> None:
    from tests.gateway.conftest import need
    from tests.support.proxy import wait_listening

    exe = need("redis-server")
    port = free_port()
    log = tmp_path / "r.log"
    proc = subprocess.Popen(
        [exe, "--bind", "127.0.0.1", "--port", str(port), "--save", "", "--maxmemory", "2mb",
         "--maxmemory-policy", "noeviction"], stdout=log.open("wb"), stderr=subprocess.STDOUT,
    )  # fmt: skip
    try:
        wait_listening(proc, port, log, 20)
        s = RedisStore(f"redis://127.0.0.1:{port}/0")
        with pytest.raises(StateError, match="full"):
            for i in range(20):
                await s.set(state_key("test", str(i)), b"x" * 500_000, 60)
        await s.close()
    finally:
        proc.terminate()
        proc.wait(10)


def test_open_store_urls() -> None:
    assert isinstance(open_store("memory"), MemoryStore)
    assert isinstance(open_store(""), MemoryStore)
    with pytest.raises(ValueError, match="redis://"):
        open_store("postgres://x")
