"""State shared across requests and replicas, behind one small async interface.

`MemoryStore` (default: one process) and `RedisStore` (`redis://…`, through redis-py's asyncio client: every
replica of a gateway sees the same upload sessions and file verdicts) implement `StateStore`. Callers use explicit
operations — get/set bytes with a TTL, fields of a hash-like map, an expiring index — and never receive an object
they could mutate in place: every value is `bytes` (a copy), every map a fresh dict.

Keys: callers build them with `state_key(kind, *parts)`; the parts (file ids, signed upload URLs, session ids) are
reduced to a keyed digest of the installation secret, so no Redis key holds a value a user chose or a secret URL,
and every replica (same secret) computes the same key. Values are the callers' business: upload chunks (capped per
value and per session; Redis is run with `maxmemory` + `noeviction` so a write over the total fails and the upload
fails closed), PHI-free verdict records, and the encrypted vault entries of the de-identification helper.

The contract for other helpers is written in /work/notes/state-api.md.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable
from collections.abc import Mapping
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any
from typing import Protocol

from phiwall import digest
from phiwall.errors import LimitError

PREFIX = "phiwall:"
DEFAULT_MAX_VALUE_BYTES = 64 * 1024 * 1024  # one value (a chunk) in the store
DEFAULT_MAX_KEYS = 100_000  # memory store: least recently written keys go first past this


class StateError(LimitError):
    """The shared state could not be read or written (Redis down, a value over its cap, Redis out of memory).

    A LimitError: callers fail closed with the policy's on_error verdict."""


def state_key(kind: str, *parts: str) -> str:
    """`phiwall:<kind>:<digest of parts>`: the same on every replica, and no PHI, URL or user-chosen name in it."""
    if not kind.replace("-", "").replace("_", "").isalnum():
        raise ValueError(f"state key kind must be a short word, not {kind!r}")
    return f"{PREFIX}{kind}:{digest.key_digest('state/' + kind, chr(0).join(parts))}"


class StateStore(Protocol):
    """What every backend offers. TTLs are in seconds and always required: nothing is kept forever."""

    url: str

    async def get(self, key: str) -> bytes | None:
        """The value, or None when absent or expired."""

    async def mget(self, keys: Sequence[str]) -> list[bytes | None]:
        """Values of several keys in one round trip, in order."""

    async def set(self, key: str, value: bytes, ttl: float, *, only_if_absent: bool = False) -> bool:
        """Store `value`; with only_if_absent, only when the key does not exist. True when written."""

    async def delete(self, *keys: str) -> int:
        """Remove keys; the number that existed."""

    async def hset(self, key: str, fields: Mapping[str, bytes], ttl: float) -> None:
        """Set fields of the map at `key` and (re)start its TTL."""

    async def hsetnx(self, key: str, field: str, value: bytes, ttl: float) -> bool:
        """Set one field only when absent (first replica wins). True when written."""

    async def hget(self, key: str, field: str) -> bytes | None:
        """One field of a map."""

    async def hgetall(self, key: str) -> dict[str, bytes]:
        """A fresh copy of the whole map ({} when absent)."""

    async def hdel(self, key: str, *fields: str) -> int:
        """Remove fields; the number that existed."""

    async def hincrby(self, key: str, field: str, amount: int, ttl: float) -> int:
        """Add to an integer field (created at 0); the new value."""

    async def index_add(self, key: str, member: str, expires_at: float) -> None:
        """Add `member` to an expiring index (wall-clock expiry)."""

    async def index_remove(self, key: str, member: str) -> None:
        """Remove `member` from an index."""

    async def index_count(self, key: str) -> int:
        """Members of an index not yet expired."""

    async def index_pop_oldest(self, key: str) -> str | None:
        """Remove and return the member that expires first (None when empty)."""

    async def ping(self) -> bool:
        """True when the backend answers."""

    async def close(self) -> None:
        """Release connections."""


@dataclass
class _Entry:
    value: bytes | dict[str, bytes] | dict[str, float]
    expires: float


class MemoryStore:
    """The single-process backend: an LRU of expiring entries, bounded in number of keys and value size."""

    url = "memory"

    def __init__(
        self,
        *,
        max_keys: int = DEFAULT_MAX_KEYS,
        max_value_bytes: int = DEFAULT_MAX_VALUE_BYTES,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.max_keys = max_keys
        self.max_value_bytes = max_value_bytes
        self.clock = clock
        self._d: OrderedDict[str, _Entry] = OrderedDict()

    def _live(self, key: str) -> _Entry | None:
        e = self._d.get(key)
        if e is None:
            return None
        if e.expires <= self.clock():
            del self._d[key]
            return None
        return e

    def _put(self, key: str, entry: _Entry) -> None:
        self._d[key] = entry
        self._d.move_to_end(key)
        while len(self._d) > self.max_keys:
            self._d.popitem(last=False)

    def _check(self, value: bytes) -> None:
        if len(value) > self.max_value_bytes:
            raise StateError(f"a {len(value)}-byte value is over the state store's {self.max_value_bytes}-byte cap")

    def _map(self, key: str) -> dict[str, bytes] | None:
        e = self._live(key)
        if e is None or not isinstance(e.value, dict):
            return None
        return e.value  # type: ignore[return-value]

    async def get(self, key: str) -> bytes | None:
        e = self._live(key)
        return bytes(e.value) if e is not None and isinstance(e.value, bytes) else None

    async def mget(self, keys: Sequence[str]) -> list[bytes | None]:
        return [await self.get(k) for k in keys]

    async def set(self, key: str, value: bytes, ttl: float, *, only_if_absent: bool = False) -> bool:
        self._check(value)
        if only_if_absent and self._live(key) is not None:
            return False
        self._put(key, _Entry(bytes(value), self.clock() + ttl))
        return True

    async def delete(self, *keys: str) -> int:
        n = 0
        for k in keys:
            if self._live(k) is not None:
                n += 1
            self._d.pop(k, None)
        return n

    async def hset(self, key: str, fields: Mapping[str, bytes], ttl: float) -> None:
        for v in fields.values():
            self._check(v)
        m = self._map(key)
        m = dict(m) if m is not None else {}
        m.update({k: bytes(v) for k, v in fields.items()})
        self._put(key, _Entry(m, self.clock() + ttl))

    async def hsetnx(self, key: str, field: str, value: bytes, ttl: float) -> bool:
        m = self._map(key)
        if m is not None and field in m:
            return False
        await self.hset(key, {field: value}, ttl)
        return True

    async def hget(self, key: str, field: str) -> bytes | None:
        m = self._map(key)
        v = m.get(field) if m is not None else None
        return bytes(v) if v is not None else None

    async def hgetall(self, key: str) -> dict[str, bytes]:
        m = self._map(key)
        return {k: bytes(v) for k, v in m.items()} if m is not None else {}

    async def hdel(self, key: str, *fields: str) -> int:
        e = self._live(key)
        if e is None or not isinstance(e.value, dict):
            return 0
        n = 0
        for f in fields:
            if e.value.pop(f, None) is not None:
                n += 1
        return n

    async def hincrby(self, key: str, field: str, amount: int, ttl: float) -> int:
        cur = await self.hget(key, field)
        new = (int(cur) if cur else 0) + amount
        await self.hset(key, {field: str(new).encode()}, ttl)
        return new

    async def index_add(self, key: str, member: str, expires_at: float) -> None:
        e = self._live(key)
        idx: dict[str, float] = dict(e.value) if e is not None and isinstance(e.value, dict) else {}  # type: ignore[arg-type]
        idx[member] = expires_at
        self._put(key, _Entry(idx, max(idx.values())))

    async def index_remove(self, key: str, member: str) -> None:
        e = self._live(key)
        if e is not None and isinstance(e.value, dict):
            e.value.pop(member, None)

    async def index_count(self, key: str) -> int:
        e = self._live(key)
        if e is None or not isinstance(e.value, dict):
            return 0
        now = self.clock()
        return sum(1 for t in e.value.values() if isinstance(t, float) and t > now)

    async def index_pop_oldest(self, key: str) -> str | None:
        e = self._live(key)
        if e is None or not isinstance(e.value, dict) or not e.value:
            return None
        member = min(e.value, key=lambda m: e.value[m])
        e.value.pop(member)
        return member

    async def ping(self) -> bool:
        return True

    async def close(self) -> None:
        self._d.clear()


class RedisStore:
    """The shared backend (redis-py asyncio). Every error becomes a StateError, so callers fail closed."""

    def __init__(self, url: str, *, max_value_bytes: int = DEFAULT_MAX_VALUE_BYTES, timeout: float = 5.0) -> None:
        import redis.asyncio as aioredis

        self.url = url
        self.max_value_bytes = max_value_bytes
        self._r: Any = aioredis.Redis.from_url(
            url, socket_timeout=timeout, socket_connect_timeout=timeout, health_check_interval=30
        )

    def _check(self, value: bytes) -> None:
        if len(value) > self.max_value_bytes:
            raise StateError(f"a {len(value)}-byte value is over the shared state's {self.max_value_bytes}-byte cap")

    async def _do(self, what: str, coro: Any) -> Any:
        import redis.exceptions

        try:
            return await coro
        except redis.exceptions.ResponseError as e:
            if isinstance(e, redis.exceptions.OutOfMemoryError) or "OOM" in str(e) or "maxmemory" in str(e):
                raise StateError("the shared state (Redis) is full; try again shortly") from None
            raise StateError(f"the shared state (Redis) refused {what}") from None
        except (TimeoutError, redis.exceptions.RedisError, OSError):
            raise StateError(f"the shared state (Redis) is unreachable ({what})") from None

    @staticmethod
    def _ms(ttl: float) -> int:
        return max(1, int(ttl * 1000))

    async def get(self, key: str) -> bytes | None:
        v = await self._do("get", self._r.get(key))
        return bytes(v) if v is not None else None

    async def mget(self, keys: Sequence[str]) -> list[bytes | None]:
        if not keys:
            return []
        vals = await self._do("mget", self._r.mget(list(keys)))
        return [bytes(v) if v is not None else None for v in vals]

    async def set(self, key: str, value: bytes, ttl: float, *, only_if_absent: bool = False) -> bool:
        self._check(value)
        ok = await self._do("set", self._r.set(key, value, px=self._ms(ttl), nx=only_if_absent))
        return bool(ok)

    async def delete(self, *keys: str) -> int:
        return int(await self._do("delete", self._r.delete(*keys))) if keys else 0

    async def hset(self, key: str, fields: Mapping[str, bytes], ttl: float) -> None:
        for v in fields.values():
            self._check(v)
        async with self._r.pipeline(transaction=True) as p:
            p.hset(key, mapping=dict(fields))
            p.pexpire(key, self._ms(ttl))
            await self._do("hset", p.execute())

    async def hsetnx(self, key: str, field: str, value: bytes, ttl: float) -> bool:
        async with self._r.pipeline(transaction=True) as p:
            p.hsetnx(key, field, value)
            p.pexpire(key, self._ms(ttl))
            res = await self._do("hsetnx", p.execute())
        return bool(res[0])

    async def hget(self, key: str, field: str) -> bytes | None:
        v = await self._do("hget", self._r.hget(key, field))
        return bytes(v) if v is not None else None

    async def hgetall(self, key: str) -> dict[str, bytes]:
        m = await self._do("hgetall", self._r.hgetall(key))
        return {(k.decode() if isinstance(k, bytes) else str(k)): bytes(v) for k, v in m.items()}

    async def hdel(self, key: str, *fields: str) -> int:
        return int(await self._do("hdel", self._r.hdel(key, *fields))) if fields else 0

    async def hincrby(self, key: str, field: str, amount: int, ttl: float) -> int:
        async with self._r.pipeline(transaction=True) as p:
            p.hincrby(key, field, amount)
            p.pexpire(key, self._ms(ttl))
            res = await self._do("hincrby", p.execute())
        return int(res[0])

    async def index_add(self, key: str, member: str, expires_at: float) -> None:
        async with self._r.pipeline(transaction=True) as p:
            p.zadd(key, {member: expires_at})
            p.zremrangebyscore(key, "-inf", time.time())
            p.expire(key, max(1, int(expires_at - time.time()) + 60))
            await self._do("index_add", p.execute())

    async def index_remove(self, key: str, member: str) -> None:
        await self._do("index_remove", self._r.zrem(key, member))

    async def index_count(self, key: str) -> int:
        return int(await self._do("index_count", self._r.zcount(key, time.time(), "+inf")))

    async def index_pop_oldest(self, key: str) -> str | None:
        res = await self._do("index_pop_oldest", self._r.zpopmin(key, 1))
        if not res:
            return None
        m = res[0][0]
        return m.decode() if isinstance(m, bytes) else str(m)

    async def ping(self) -> bool:
        try:
            return bool(await self._do("ping", self._r.ping()))
        except StateError:
            return False

    async def close(self) -> None:
        await self._r.aclose()


def open_store(url: str, *, max_value_bytes: int = DEFAULT_MAX_VALUE_BYTES) -> MemoryStore | RedisStore:
    """`memory` (or empty) → MemoryStore; `redis://…`, `rediss://…`, `unix://…` → RedisStore."""
    u = url.strip()
    if u in ("", "memory"):
        return MemoryStore(max_value_bytes=max_value_bytes)
    if u.startswith(("redis://", "rediss://", "unix://")):
        return RedisStore(u, max_value_bytes=max_value_bytes)
    raise ValueError(f"phiwall_state must be 'memory' or a redis:// URL, not {url!r}")
