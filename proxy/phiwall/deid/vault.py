"""The pseudonym vault: per conversation, which stand-in each value got and which original each stand-in hides.

Why it exists: API clients resend the whole history, with the real names, on every turn; the same person must get
the same stand-in every time (`known`), and the reply must be turned back into the originals (`originals`).

Rules it keeps (design §13, developers' guide rule 4):
- In memory, with a time-to-live, by default (`MemoryVault`); nothing is written to disk.
- Behind one small async interface (`Vault`), so a shared `StateStore` (Redis, for several gateway replicas) can
  back it: `StoreVault` keeps each conversation in one hash whose key is a keyed digest of the scope, whose field
  names are keyed digests of the values, and whose originals are encrypted (AES-GCM, key derived from the
  installation secret). First writer wins per value (`hsetnx`), so two replicas never give one person two
  stand-ins.
- No PHI in keys: scopes and value keys are keyed digests; stand-ins (`[PATIENT_1]`) carry no PHI.
"""

from __future__ import annotations

import asyncio
import os
import time
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass
from dataclasses import field
from typing import TYPE_CHECKING
from typing import Protocol

from phiwall import digest
from phiwall.deid.text import NO_RESTORE

if TYPE_CHECKING:
    from phiwall.state import StateStore

DEFAULT_TTL = 12 * 3600  # a working day: long enough for a consultation, short enough not to accumulate
MAX_SCOPES = 10_000  # memory vault: the least recently used conversations go first past this

Entry = tuple[str, str, str, str]  # (value key, stand-in, original, entity)


class Vault(Protocol):
    """Per-conversation map. Every method takes the PHI-free scope id (`conversation_scope`)."""

    async def known(self, scope: str) -> dict[str, str]:
        """value key → stand-in, for the worker (no originals)."""

    async def originals(self, scope: str) -> dict[str, str]:
        """stand-in → original, for restoring a reply."""

    async def values(self, scope: str) -> list[tuple[str, str]]:
        """(entity, original) of every value replaced in the conversation, for the worker's echo search."""

    async def add(self, scope: str, entries: Sequence[Entry]) -> dict[str, str]:
        """Store new entries (first writer wins per value key) and restart the TTL. Returns, for each entry's
        value key, the stand-in the vault now holds (differs from the entry's when another request won)."""


def conversation_scope(user: str | None, client: str, service: str) -> str:
    """Whose conversation this is: the authenticated user (else the client address) on one service.

    A keyed digest, so it can be a Redis key and a log field without naming anyone. Coarser than a chat thread on
    purpose: API clients have no thread id we could trust, and a stand-in reused across one person's threads on
    one service reveals nothing the person did not send there themselves.
    """
    who = f"user:{user}" if user else f"client:{client}"
    return digest.value_digest(f"deid/scope\0{who}\0{service}")


@dataclass
class _Conversation:
    expires: float
    by_key: dict[str, str] = field(default_factory=dict)
    originals: dict[str, str] = field(default_factory=dict)
    entities: dict[str, str] = field(default_factory=dict)  # stand-in → entity


class MemoryVault:
    """The default: a bounded, expiring map in this process's memory."""

    def __init__(self, ttl: float = DEFAULT_TTL, max_scopes: int = MAX_SCOPES) -> None:
        self.ttl = ttl
        self.max_scopes = max_scopes
        self._data: OrderedDict[str, _Conversation] = OrderedDict()

    def _get(self, scope: str) -> _Conversation | None:
        c = self._data.get(scope)
        if c is None:
            return None
        if c.expires < time.monotonic():
            del self._data[scope]
            return None
        self._data.move_to_end(scope)
        return c

    async def known(self, scope: str) -> dict[str, str]:
        c = self._get(scope)
        return dict(c.by_key) if c else {}

    async def originals(self, scope: str) -> dict[str, str]:
        c = self._get(scope)
        return {s: o for s, o in c.originals.items() if not c.entities.get(s, "").endswith(NO_RESTORE)} if c else {}

    async def values(self, scope: str) -> list[tuple[str, str]]:
        c = self._get(scope)
        return [(c.entities.get(s, "PERSON").removesuffix(NO_RESTORE), o) for s, o in c.originals.items()] if c else []

    async def add(self, scope: str, entries: Sequence[Entry]) -> dict[str, str]:
        c = self._get(scope)
        if c is None:
            c = self._data[scope] = _Conversation(0.0)
            while len(self._data) > self.max_scopes:
                self._data.popitem(last=False)
        c.expires = time.monotonic() + self.ttl
        held = {}
        for key, stand_in, original, entity in entries:
            got = c.by_key.setdefault(key, stand_in)
            if got == stand_in:
                c.originals.setdefault(stand_in, original)
                c.entities.setdefault(stand_in, entity)
            held[key] = got
        return held

    def __len__(self) -> int:
        return len(self._data)


class StoreVault:
    """The vault on a `phiwall.state.StateStore` (memory or Redis), originals encrypted at rest in the store.

    Hash fields: `k:<value key>` → stand-in; `s:<stand-in digest>` → nonce + AES-GCM(original), with the scope and
    the stand-in as associated data (an entry copied to another conversation does not decrypt).
    """

    def __init__(self, store: StateStore, ttl: float = DEFAULT_TTL) -> None:
        self.store = store
        self.ttl = ttl
        # 128 bits derived from the installation secret (two keyed digests of 64 bits each): AES-128-GCM.
        self._key = bytes.fromhex(digest.value_digest("deid/vault-key/1") + digest.value_digest("deid/vault-key/2"))

    def _hash(self, scope: str) -> str:
        return f"phiwall:vault:{scope}"

    def _aead(self) -> object:
        from cryptography.hazmat.primitives.ciphers.aead import AESGCM

        return AESGCM(self._key)

    async def known(self, scope: str) -> dict[str, str]:
        raw = await self.store.hgetall(self._hash(scope))
        return {k[2:]: v.decode("utf-8") for k, v in raw.items() if k.startswith("k:")}

    async def _entries(self, scope: str) -> list[tuple[str, str, str]]:
        """(stand-in, original, entity) of the conversation, decrypted."""
        raw = await self.store.hgetall(self._hash(scope))
        aead = self._aead()
        out = []
        for k, v in raw.items():
            if not k.startswith("k:"):
                continue
            stand_in = v.decode("utf-8")
            blob = raw.get("s:" + digest.value_digest("deid/stand-in\0" + stand_in))
            if blob is None or len(blob) < 13:
                continue
            try:
                plain = aead.decrypt(blob[:12], blob[12:], (scope + "\0" + stand_in).encode())  # type: ignore[attr-defined]
            except Exception:  # noqa: BLE001 - another secret's entry: not ours to restore
                continue
            entity, _, original = plain.decode("utf-8").partition("\0")
            out.append((stand_in, original, entity))
        return out

    async def originals(self, scope: str) -> dict[str, str]:
        return {s: o for s, o, e in await self._entries(scope) if not e.endswith(NO_RESTORE)}

    async def values(self, scope: str) -> list[tuple[str, str]]:
        return [(e.removesuffix(NO_RESTORE), o) for _, o, e in await self._entries(scope)]

    async def add(self, scope: str, entries: Sequence[Entry]) -> dict[str, str]:
        h = self._hash(scope)
        aead = self._aead()
        held = {}
        for key, stand_in, original, entity in entries:
            won = await self.store.hsetnx(h, "k:" + key, stand_in.encode("utf-8"), self.ttl)
            if won:
                nonce = os.urandom(12)
                plain = (entity + "\0" + original).encode("utf-8")
                blob = nonce + aead.encrypt(nonce, plain, (scope + "\0" + stand_in).encode())  # type: ignore[attr-defined]
                await self.store.hset(h, {"s:" + digest.value_digest("deid/stand-in\0" + stand_in): blob}, self.ttl)
                held[key] = stand_in
            else:
                got = await self.store.hget(h, "k:" + key)
                held[key] = got.decode("utf-8") if got is not None else stand_in
        if not entries:
            return held
        # (re)start the TTL of the whole conversation
        await self.store.hset(h, {"t": str(int(time.time())).encode()}, self.ttl)
        return held


class ScopeLocks:
    """One asyncio lock per conversation scope: requests of one conversation are de-identified one after another,
    so two concurrent requests cannot give one new person two numbers (locks are dropped when idle)."""

    def __init__(self) -> None:
        self._locks: dict[str, asyncio.Lock] = {}
        self._users: dict[str, int] = {}

    def hold(self, scope: str) -> _Held:
        return _Held(self, scope)


class _Held:
    def __init__(self, owner: ScopeLocks, scope: str) -> None:
        self.owner = owner
        self.scope = scope

    async def __aenter__(self) -> None:
        o = self.owner
        lock = o._locks.setdefault(self.scope, asyncio.Lock())
        o._users[self.scope] = o._users.get(self.scope, 0) + 1
        await lock.acquire()

    async def __aexit__(self, *exc: object) -> None:
        o = self.owner
        o._locks[self.scope].release()
        o._users[self.scope] -= 1
        if o._users[self.scope] == 0:
            del o._users[self.scope]
            del o._locks[self.scope]
