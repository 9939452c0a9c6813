"""Findings of text already judged, keyed by a keyed digest of the exact text: a conversation's history once.

An API client resends the whole conversation on every turn; without a cache the n-th request re-analyses n
messages. `text_phi` asks this cache per text segment (a message, or a paragraph of one) and analyses only what
it has not seen.

What is stored (no PHI at rest, even in memory):
- the key is `value_digest(b"phiwall-text-findings" + detector fingerprint + exact text bytes)` (the fingerprint
  covers the options, the tagger version and `text_phi.code_fingerprint()`): HMAC-SHA256 with
  the installation secret (phiwall.digest), so it reveals nothing and cannot be recomputed without the secret;
- the value is a compact JSON list of `[start, end, entity, score, rule]` per finding: offsets into the segment,
  the entity type, the score and the PHI-free recognizer/rule name. Never the text, never a matched value.

`CacheBackend` is the whole storage contract (get/set bytes by key, with a TTL), so the gateway's shared state
store (Redis) can back it later. `MemoryBackend` is the per-process default: LRU, bounded in entries and bytes.
"""

from __future__ import annotations

import json
import threading
import time
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from phiwall.digest import value_digest

CachedFinding = tuple[int, int, str, float, str]
"""(start, end, entity, score, rule name): everything the cache keeps about one finding."""


class CacheBackend(Protocol):
    """Bytes by key with a time to live: what a shared store (Redis `GET`/`SET EX`) offers."""

    def get(self, key: str) -> bytes | None:
        """The stored value, or None when absent or expired."""
        ...

    def set(self, key: str, value: bytes, ttl_seconds: float) -> None:
        """Store `value` under `key` for `ttl_seconds` (the backend may evict earlier to stay in its bounds)."""
        ...


class MemoryBackend:
    """An in-process LRU with a TTL, bounded by entry count and by the bytes of keys plus values."""

    def __init__(self, max_entries: int = 20_000, max_bytes: int = 16 * 1024 * 1024) -> None:
        if max_entries < 1 or max_bytes < 1:
            raise ValueError("MemoryBackend bounds must be positive")
        self.max_entries = max_entries
        self.max_bytes = max_bytes
        self._items: OrderedDict[str, tuple[float, bytes]] = OrderedDict()
        self._bytes = 0
        self._lock = threading.Lock()

    def get(self, key: str) -> bytes | None:
        with self._lock:
            item = self._items.get(key)
            if item is None:
                return None
            expires, value = item
            if expires < time.monotonic():
                self._drop(key)
                return None
            self._items.move_to_end(key)
            return value

    def set(self, key: str, value: bytes, ttl_seconds: float) -> None:
        size = len(key) + len(value)
        with self._lock:
            if key in self._items:
                self._drop(key)
            if size > self.max_bytes:
                return
            self._items[key] = (time.monotonic() + ttl_seconds, value)
            self._bytes += size
            while len(self._items) > self.max_entries or self._bytes > self.max_bytes:
                self._drop(next(iter(self._items)))

    def _drop(self, key: str) -> None:
        _, value = self._items.pop(key)
        self._bytes -= len(key) + len(value)

    def __len__(self) -> int:
        return len(self._items)

    @property
    def size_bytes(self) -> int:
        """Bytes held (keys + values)."""
        return self._bytes

    def items(self) -> list[tuple[str, bytes]]:
        """A snapshot of (key, value) pairs: for tests and audits of what is held."""
        with self._lock:
            return [(k, v) for k, (_, v) in self._items.items()]


@dataclass
class CacheStats:
    hits: int = 0
    misses: int = 0


class FindingsCache:
    """Findings per exact text, under a keyed digest. `fingerprint` separates detectors with different options
    (entities, thresholds, allow/deny lists, model version): it is digested into the key, never stored."""

    def __init__(self, backend: CacheBackend, fingerprint: bytes, ttl_seconds: float = 3600.0) -> None:
        self.backend = backend
        self._prefix = b"phiwall-text-findings\x00" + fingerprint + b"\x00"
        self.ttl = ttl_seconds
        self.stats = CacheStats()

    def key(self, text: str) -> str:
        return "tf:" + value_digest(self._prefix + text.encode("utf-8", "surrogatepass"))

    def get(self, text: str) -> list[CachedFinding] | None:
        raw = self.backend.get(self.key(text))
        if raw is None:
            self.stats.misses += 1
            return None
        try:
            rows = json.loads(raw)
            out = [(int(s), int(e), str(t), float(sc), str(r)) for s, e, t, sc, r in rows]
        except (ValueError, TypeError):
            self.stats.misses += 1
            return None
        if any(not 0 <= s < e <= len(text) for s, e, *_ in out):
            self.stats.misses += 1  # a digest collision or a foreign value: never trust offsets out of bounds
            return None
        self.stats.hits += 1
        return out

    def put(self, text: str, findings: Sequence[CachedFinding]) -> None:
        value = json.dumps([list(f) for f in findings], separators=(",", ":")).encode()
        self.backend.set(self.key(text), value, self.ttl)
