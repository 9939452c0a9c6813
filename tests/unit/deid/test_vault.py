"""The pseudonym vault: consistent per conversation, first writer wins, expires, no PHI in keys, originals encrypted
in a shared store."""

from __future__ import annotations

import asyncio

from phiwall.deid.vault import MemoryVault
from phiwall.deid.vault import ScopeLocks
from phiwall.deid.vault import StoreVault
from phiwall.deid.vault import conversation_scope

from tests.gateway.conftest import redis_server  # noqa: F401 - a real redis-server on 127.0.0.1

E1 = ("k1", "[PATIENT_1]", "Margaret Okafor", "PERSON")
E2 = ("k2", "[MRN_1]", "4455667", "MRN")


def test_scope_is_per_user_or_client_and_service_and_phi_free() -> None:
    a = conversation_scope("alice", "10.0.0.1", "openai_api")
    assert a == conversation_scope("alice", "10.0.0.2", "openai_api")  # the user, wherever she connects from
    assert a != conversation_scope("alice", "10.0.0.1", "anthropic_api")
    assert a != conversation_scope(None, "10.0.0.1", "openai_api")
    assert "alice" not in a and len(a) == 16


async def test_memory_vault_first_writer_wins_and_expires() -> None:
    v = MemoryVault(ttl=0.2)
    assert await v.add("s", [E1, E2]) == {"k1": "[PATIENT_1]", "k2": "[MRN_1]"}
    assert await v.add("s", [("k1", "[PATIENT_7]", "Margaret Okafor", "PERSON")]) == {"k1": "[PATIENT_1]"}
    assert await v.known("s") == {"k1": "[PATIENT_1]", "k2": "[MRN_1]"}
    assert await v.originals("s") == {"[PATIENT_1]": "Margaret Okafor", "[MRN_1]": "4455667"}
    assert sorted(await v.values("s")) == [("MRN", "4455667"), ("PERSON", "Margaret Okafor")]
    assert await v.known("other") == {}
    await asyncio.sleep(0.3)
    assert await v.known("s") == {} and len(v) == 0


async def test_memory_vault_is_bounded() -> None:
    v = MemoryVault(max_scopes=3)
    for i in range(5):
        await v.add(f"s{i}", [E1])
    assert len(v) == 3 and await v.known("s0") == {}


async def test_store_vault_encrypts_originals_and_digests_keys() -> None:
    from phiwall.state import MemoryStore

    store = MemoryStore()
    v = StoreVault(store)
    await v.add("scope1", [E1, E2])
    assert await v.originals("scope1") == {"[PATIENT_1]": "Margaret Okafor", "[MRN_1]": "4455667"}
    assert sorted(await v.values("scope1")) == [("MRN", "4455667"), ("PERSON", "Margaret Okafor")]
    raw = await store.hgetall("phiwall:vault:scope1")
    blob = b"".join(k.encode() + val for k, val in raw.items())
    assert b"Okafor" not in blob and b"4455667" not in blob  # originals encrypted, keys digested
    assert await v.add("scope1", [("k1", "[PATIENT_9]", "x", "PERSON")]) == {"k1": "[PATIENT_1]"}
    assert await v.originals("scope2") == {}


async def test_scope_locks_serialise_one_conversation_only() -> None:
    locks = ScopeLocks()
    order: list[str] = []

    async def job(scope: str, name: str, wait: float) -> None:
        async with locks.hold(scope):
            order.append(name + "+")
            await asyncio.sleep(wait)
            order.append(name + "-")

    await asyncio.gather(job("a", "a1", 0.05), job("a", "a2", 0), job("b", "b1", 0))
    assert order.index("a1-") < order.index("a2+")  # the same conversation waits
    assert order.index("b1+") < order.index("a1-")  # another one does not
    assert locks._locks == {}


async def test_two_replicas_share_one_vault_in_a_real_redis(redis_server) -> None:  # noqa: F811
    """Two gateway replicas (two StoreVaults on their own connections, same installation secret): the second sees
    the first's stand-ins, first writer wins per value, and Redis holds no original in a key or a value."""
    from phiwall.state import RedisStore

    a, b = RedisStore(redis_server.url), RedisStore(redis_server.url)
    try:
        await a._r.flushdb()
        va, vb = StoreVault(a), StoreVault(b)
        await va.add("conv", [E1])
        assert await vb.known("conv") == {"k1": "[PATIENT_1]"}
        assert await vb.add("conv", [("k1", "[PATIENT_2]", "Margaret Okafor", "PERSON"), E2]) == {
            "k1": "[PATIENT_1]",
            "k2": "[MRN_1]",
        }
        assert await va.originals("conv") == {"[PATIENT_1]": "Margaret Okafor", "[MRN_1]": "4455667"}
        dump = b""
        for key in await a._r.keys("*"):
            dump += key if isinstance(key, bytes) else key.encode()
            for f, v in (await a._r.hgetall(key)).items():
                dump += (f if isinstance(f, bytes) else f.encode()) + (v if isinstance(v, bytes) else v.encode())
            assert 0 < await a._r.ttl(key) <= 12 * 3600  # nothing kept forever
        assert b"Okafor" not in dump and b"4455667" not in dump and b"conv" in dump
    finally:
        await a.close()
        await b.close()
