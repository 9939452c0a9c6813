"""State that lives across requests in the proxy process: multi-request upload sessions and file-id verdicts.

Consumer web apps and the upload APIs never put a whole file in one request: the bytes arrive in chunks (Gemini
resumable, OpenAI Uploads parts, Azure Put Block) or go to a host learned from an earlier response (ChatGPT's
signed blob URL), and the chat message later carries only an id. Judging each request alone lets a DICOM through
whose magic is in chunk 1 and whose patient name is in chunk 7. This module keeps just enough state to judge the
assembled file before the request that completes it is forwarded, and to block a later reference to a file whose
upload was blocked (or carry the warning of a warned one).

No mitmproxy import, no inspection here: the addon feeds requests and responses in and runs the pipeline. Memory
is bounded three ways (bytes per session, bytes over all sessions, number of sessions/ids) and everything expires
after a time-to-live; a session that would exceed a cap raises LimitError, which the addon turns into the policy's
on_error verdict (fail closed: a file phiwall cannot hold whole is not forwarded unjudged).

State lives in a `phiwall.state.StateStore`: in memory for one process, in Redis for a gateway's replicas, so a
resumable upload whose chunks reach different replicas is still judged whole (no sticky routing needed). Chunk
bytes are capped per value and per session, and Redis runs with `maxmemory` + `noeviction` (a write over it fails
closed); every key is a keyed digest (`phiwall.state.state_key`), never a file id, URL or session id itself.
"""

from __future__ import annotations

import asyncio
import json
import re
import time
from collections.abc import Callable
from collections.abc import Iterable
from dataclasses import dataclass
from dataclasses import replace
from typing import Any
from urllib.parse import parse_qsl
from urllib.parse import urlencode
from urllib.parse import urlsplit
from urllib.parse import urlunsplit

from phiwall import digest
from phiwall.errors import ExtractionError
from phiwall.errors import LimitError
from phiwall.model import Verdict
from phiwall.state import MemoryStore
from phiwall.state import StateStore
from phiwall.state import state_key

DEFAULT_TTL = 3600.0  # OpenAI uploads expire after an hour; Gemini resumable sessions live about as long
DEFAULT_MAX_SESSION_BYTES = 512 * 1024 * 1024
DEFAULT_MAX_TOTAL_BYTES = 1024 * 1024 * 1024
DEFAULT_MAX_SESSIONS = 256
DEFAULT_MAX_IDS = 4096
# Set on the synthetic request phiwall builds from a reassembled upload (never sent anywhere): adapters then read
# the body as one whole file whatever the original request's shape (an XML block list, a JSON part list).
ASSEMBLED_HEADER = "x-phiwall-assembled"
MIN_ID_LEN = 8  # shorter "ids" would match by accident inside unrelated bodies

# Azure Blob "Put Block" query parameters: a block PUT goes to the signed URL plus these.
_AZURE_BLOCK_PARAMS = frozenset({"comp", "blockid"})


@dataclass(frozen=True, slots=True)
class UploadSession:
    """A snapshot of one file arriving in several requests. Change it only through UploadStore's methods (the
    state may live in Redis, shared with other replicas); chunks are keyed by byte offset (Google) or by name
    (OpenAI part ids, Azure block ids) and `UploadStore.assemble` puts them in order and refuses gaps."""

    key: str  # the state key (a digest)
    service: str
    created: float
    declared_size: int | None = None
    size: int = 0
    blocked: str | None = None  # PHI-free reason once a chunk or the whole file was blocked
    blocked_rules: tuple[str, ...] = ()
    early_checked: bool = False
    file_id: str | None = None  # the id a later message will use (ChatGPT knows it before the bytes)


@dataclass(frozen=True, slots=True)
class FileVerdict:
    """What phiwall decided about an uploaded file, remembered under the id the service gave it."""

    verdict: Verdict
    reason: str  # PHI-free, shown again when a message references the file
    rule_ids: tuple[str, ...]
    expires: float

    def dumps(self) -> bytes:
        return json.dumps(
            {"v": str(self.verdict), "r": self.reason, "ids": list(self.rule_ids), "exp": self.expires}
        ).encode()

    @staticmethod
    def loads(raw: bytes) -> FileVerdict:
        d = json.loads(raw)
        return FileVerdict(Verdict.parse(d["v"]), str(d["r"]), tuple(d["ids"]), float(d["exp"]))


_SESSIONS_INDEX = "phiwall:index:sessions"
_VERDICTS_INDEX = "phiwall:index:verdicts"
# Only the first bytes of a body are searched for file ids: a reference is a short string in a message, and a
# multi-megabyte body (an upload) is not scanned token by token on the event loop.
MAX_REFERENCE_SCAN = 4 * 1024 * 1024
MAX_CANDIDATES = 50_000
_TOKEN = re.compile(rb"[A-Za-z0-9_\-.:/~%+=]{8,}")


def candidate_ids(*haystacks: bytes | str) -> set[str]:
    """Every string in a path, body or message that could be a file id as `ids_from_response` records them: runs
    of id characters, their `/` segments and segment pairs (`files/abc`), and `/contrib_service/…` paths. The
    store is then asked for exactly these (one round trip), instead of scanning every remembered id."""
    out: set[str] = set()
    for h in haystacks:
        raw = h.encode("utf-8", "surrogateescape") if isinstance(h, str) else h
        raw = raw[:MAX_REFERENCE_SCAN].replace(b"\\/", b"/")
        for m in _TOKEN.finditer(raw):
            tok = m.group().decode("ascii").rstrip(".:=")
            if len(out) > MAX_CANDIDATES:
                return out
            if len(tok) <= 512:
                out.add(tok)
            i = tok.find("/contrib_service/")
            if i >= 0:
                out.add(tok[i:])
            segs = [x for x in tok.split("/") if x]
            for j, seg in enumerate(segs):
                if len(seg) <= 256:
                    out.add(seg.rstrip(".:="))
                if j + 1 < len(segs) and len(seg) + len(segs[j + 1]) <= 256:
                    out.add(seg + "/" + segs[j + 1])
    return {c for c in out if len(c) >= MIN_ID_LEN}


def _chunk_field(key: int | str) -> str:
    return f"c:i:{key}" if isinstance(key, int) else "c:s:" + digest.key_digest("state/chunk", key)


class UploadStore:
    """Upload sessions, remembered upload URLs and file-id verdicts, with caps and a time-to-live, kept in a
    StateStore (memory by default; `use(store)` switches to a shared one)."""

    def __init__(
        self,
        *,
        ttl: float = DEFAULT_TTL,
        max_session_bytes: int = DEFAULT_MAX_SESSION_BYTES,
        max_total_bytes: int = DEFAULT_MAX_TOTAL_BYTES,
        max_sessions: int = DEFAULT_MAX_SESSIONS,
        max_ids: int = DEFAULT_MAX_IDS,
        clock: Callable[[], float] = time.time,
        store: StateStore | None = None,
    ) -> None:
        self.ttl = ttl
        self.max_session_bytes = max_session_bytes
        self.max_total_bytes = max_total_bytes
        self.max_sessions = max_sessions
        self.max_ids = max_ids
        self.clock = clock
        self.store: StateStore = store if store is not None else MemoryStore(clock=clock, max_keys=1_000_000)
        # Bytes this process wrote into sessions still open (the per-replica total cap); key -> (bytes, expiry).
        self._held: dict[str, tuple[int, float]] = {}
        self._pending_writes: set[asyncio.Task[None]] = set()

    def use(self, store: StateStore) -> None:
        """Switch to another backend (the `phiwall_state` option); what the old one held is not carried over."""
        self.store = store

    # -- sessions -----------------------------------------------------------------------------------------------

    def _key(self, service: str, upload_id: str) -> str:
        return state_key("upload", service, upload_id)

    async def open(
        self, service: str, upload_id: str, *, declared_size: int | None = None, file_id: str | None = None
    ) -> UploadSession:
        """Start (or restart) tracking an upload. Oldest sessions are dropped past `max_sessions`: their later
        chunks then meet no session and are judged alone, and their completing request fails closed."""
        key = self._key(service, upload_id)
        now = self.clock()
        await self.store.delete(key)
        fields = {"m:service": service.encode(), "m:created": repr(now).encode(), "size": b"0"}
        if declared_size is not None:
            fields["m:declared"] = str(declared_size).encode()
        if file_id is not None:
            fields["m:file_id"] = file_id.encode()
        await self.store.hset(key, fields, self.ttl)
        await self.store.index_add(_SESSIONS_INDEX, key, now + self.ttl)
        while await self.store.index_count(_SESSIONS_INDEX) > self.max_sessions:
            old = await self.store.index_pop_oldest(_SESSIONS_INDEX)
            if old is None:
                break
            await self.store.delete(old)
            self._held.pop(old, None)
        return UploadSession(key, service, now, declared_size=declared_size, file_id=file_id)

    async def get(self, service: str, upload_id: str) -> UploadSession | None:
        return await self._snapshot(self._key(service, upload_id))

    async def _snapshot(self, key: str) -> UploadSession | None:
        m = await self.store.hgetall(key)
        if "m:service" not in m:
            return None
        created = float(m["m:created"])
        if self.clock() - created > self.ttl:
            await self.store.delete(key)
            return None
        return UploadSession(
            key,
            m["m:service"].decode(),
            created,
            declared_size=int(m["m:declared"]) if "m:declared" in m else None,
            size=int(m.get("size", b"0")),
            blocked=m["m:blocked"].decode() if "m:blocked" in m else None,
            blocked_rules=tuple(json.loads(m["m:rules"])) if "m:rules" in m else (),
            early_checked="m:early" in m,
            file_id=m["m:file_id"].decode() if "m:file_id" in m else None,
        )

    def _check_caps(self, session: UploadSession, extra: int) -> None:
        if session.size + extra > self.max_session_bytes:
            raise LimitError(
                f"the upload is over {self.max_session_bytes} bytes, more than phiwall holds to judge a file whole"
            )
        now = self.clock()
        self._held = {k: v for k, v in self._held.items() if v[1] > now}
        if sum(v[0] for v in self._held.values()) + extra > self.max_total_bytes:
            raise LimitError("phiwall is holding too many unfinished uploads; try again shortly")

    def _count(self, session: UploadSession, n: int) -> None:
        held = self._held.get(session.key, (0, 0.0))[0]
        self._held[session.key] = (held + n, self.clock() + self.ttl)

    async def add_chunk(self, session: UploadSession, key: int | str, data: bytes) -> UploadSession:
        """Hold a chunk; the updated snapshot. Raises LimitError when the session or all sessions together would
        exceed their caps (or the shared state is full or unreachable)."""
        fresh = await self._snapshot(session.key)
        if fresh is None:
            raise ExtractionError("the upload session expired before this chunk arrived; start the upload again")
        field_name = _chunk_field(key)
        old = await self.store.hget(session.key, field_name)
        grow = len(data) - (len(old) if old is not None else 0)
        self._check_caps(fresh, grow)
        await self.store.hset(session.key, {field_name: data}, self.ttl)
        size = await self.store.hincrby(session.key, "size", grow, self.ttl)
        self._count(fresh, grow)
        return replace(fresh, size=size)

    async def hold(self, session: UploadSession, flow_id: str, data: bytes) -> None:
        """Hold a chunk whose name only its response will tell (an OpenAI part id), under the request's flow id."""
        self._check_caps(session, len(data))
        await self.store.hset(session.key, {"p:" + flow_id: data}, self.ttl)
        await self.store.hincrby(session.key, "size", len(data), self.ttl)
        self._count(session, len(data))

    async def name_held(self, session_key: str, flow_id: str, name: str | None) -> None:
        """The response named a held chunk (an OpenAI part id): keep it under that name (or drop it: None)."""
        data = await self.store.hget(session_key, "p:" + flow_id)
        if data is None:
            return
        await self.store.hdel(session_key, "p:" + flow_id)
        if name is not None:
            await self.store.hset(session_key, {_chunk_field(name): data}, self.ttl)
        else:
            await self.store.hincrby(session_key, "size", -len(data), self.ttl)

    async def mark_blocked(self, session: UploadSession, reason: str, rule_ids: tuple[str, ...]) -> None:
        """The rest of this upload is refused without inspection, whichever replica its chunks reach."""
        await self.store.hset(
            session.key, {"m:blocked": reason.encode(), "m:rules": json.dumps(list(rule_ids)).encode()}, self.ttl
        )

    async def claim_early_check(self, session: UploadSession) -> bool:
        """True for the one request (on any replica) that checks the upload's first chunk alone."""
        return await self.store.hsetnx(session.key, "m:early", b"1", self.ttl)

    async def assemble(self, session: UploadSession, order: Iterable[str] | None = None) -> bytes:
        """The whole file: offset chunks contiguous from 0, or named chunks in `order`. A gap, an overlap or a
        missing name is an ExtractionError: a file phiwall cannot rebuild is not judged as if it were whole."""
        m = await self.store.hgetall(session.key)
        if order is not None:
            names = list(order)
            fields = [_chunk_field(n) for n in names]
            missing = [n for n, f in zip(names, fields, strict=True) if f not in m]
            if missing:
                raise ExtractionError(f"upload completes with {len(missing)} part(s) phiwall never saw")
            return b"".join(m[f] for f in fields)
        offsets = sorted(int(k[4:]) for k in m if k.startswith("c:i:"))
        out = bytearray()
        for off in offsets:
            if off != len(out):
                raise ExtractionError(f"upload chunks are not contiguous (gap or overlap at byte {min(off, len(out))})")
            out += m[f"c:i:{off}"]
        return bytes(out)

    async def close(self, session: UploadSession) -> None:
        await self.store.delete(session.key)
        await self.store.index_remove(_SESSIONS_INDEX, session.key)
        self._held.pop(session.key, None)

    async def sessions_open(self) -> int:
        return await self.store.index_count(_SESSIONS_INDEX)

    async def total_bytes(self) -> int:
        """Bytes this process holds in open sessions (the per-replica total the cap applies to)."""
        now = self.clock()
        return sum(v[0] for v in self._held.values() if v[1] > now)

    # -- remembered upload URLs (ChatGPT: the registration response names the blob URL) --------------------------

    async def remember_url(self, url: str, service: str, file_id: str) -> None:
        key = state_key("upload-url", normalise_url(url))
        await self.store.set(key, json.dumps([service, file_id]).encode(), self.ttl)

    async def url_owner(self, url: str) -> tuple[str, str] | None:
        """(service, file id) for an upload URL learned from a registration response, or None. Azure Put Block
        and Put Block List requests add `comp`/`blockid` to the signed URL; they still match."""
        raw = await self.store.get(state_key("upload-url", normalise_url(url, drop=_AZURE_BLOCK_PARAMS)))
        if raw is None:
            return None
        service, fid = json.loads(raw)
        return (str(service), str(fid))

    # -- file-id verdicts ---------------------------------------------------------------------------------------

    async def remember_verdict(
        self, file_ids: Iterable[str], verdict: Verdict, reason: str, rule_ids: tuple[str, ...]
    ) -> None:
        """Remember a warned or blocked file under every id the service uses for it. Allowed files are not kept:
        only a stricter-than-allow verdict changes what a later reference means."""
        if verdict <= Verdict.ALLOW:
            return
        exp = self.clock() + self.ttl
        new = FileVerdict(verdict, reason, rule_ids, exp)
        for fid in file_ids:
            if len(fid) < MIN_ID_LEN:
                continue
            key = state_key("verdict", fid)
            raw = await self.store.get(key)
            old = FileVerdict.loads(raw) if raw is not None else None
            if old is None or old.verdict <= verdict:
                await self.store.set(key, new.dumps(), self.ttl)
            await self.store.index_add(_VERDICTS_INDEX, key, exp)
        while await self.store.index_count(_VERDICTS_INDEX) > self.max_ids:
            old_key = await self.store.index_pop_oldest(_VERDICTS_INDEX)
            if old_key is None:
                break
            await self.store.delete(old_key)

    def remember_verdict_soon(
        self, file_ids: Iterable[str], verdict: Verdict, reason: str, rule_ids: tuple[str, ...]
    ) -> None:
        """remember_verdict from synchronous code (the addon's `_apply`): runs on the event loop right after."""
        ids = list(file_ids)
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            asyncio.run(self.remember_verdict(ids, verdict, reason, rule_ids))
            return
        task = loop.create_task(self.remember_verdict(ids, verdict, reason, rule_ids))  # noqa: TID251 - ref kept
        self._pending_writes.add(task)
        task.add_done_callback(self._pending_writes.discard)

    async def verdict(self, file_id: str) -> FileVerdict | None:
        raw = await self.store.get(state_key("verdict", file_id))
        return FileVerdict.loads(raw) if raw is not None else None

    async def referenced(self, *haystacks: bytes | str) -> list[tuple[str, FileVerdict]]:
        """The remembered files whose id appears in any of the haystacks (a path, a decoded body, a WebSocket
        message): the id-shaped strings of the haystacks (`candidate_ids`) looked up exactly, in one round trip,
        and only while some verdict is remembered at all."""
        if self._pending_writes:
            await asyncio.gather(*list(self._pending_writes), return_exceptions=True)
        if await self.store.index_count(_VERDICTS_INDEX) == 0:
            return []
        cands = sorted(candidate_ids(*haystacks))
        keys = [state_key("verdict", c) for c in cands]
        hits: list[tuple[str, FileVerdict]] = []
        now = self.clock()
        for i in range(0, len(keys), 1000):
            for c, raw in zip(cands[i : i + 1000], await self.store.mget(keys[i : i + 1000]), strict=True):
                if raw is not None:
                    fv = FileVerdict.loads(raw)
                    if fv.expires >= now:
                        hits.append((c, fv))
        return hits


def normalise_url(url: str, drop: frozenset[str] = frozenset()) -> str:
    """host + path + sorted query (minus `drop`), lower-case host, no default port: the same signed URL spelled
    by the registration response and by the PUT compares equal."""
    parts = urlsplit(url)
    host = (parts.hostname or "").lower()
    port = parts.port
    netloc = host if port in (None, 443, 80) else f"{host}:{port}"
    query = sorted((k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True) if k not in drop)
    return urlunsplit(("https", netloc, parts.path, urlencode(query), ""))


def query_param(url: str, name: str) -> str | None:
    for k, v in parse_qsl(urlsplit(url).query, keep_blank_values=True):
        if k == name:
            return v
    return None


# -- ids in upload responses --------------------------------------------------------------------------------------

# Keys under which the services name an uploaded file (ChatGPT `file_id`, OpenAI/Anthropic `id` file-…/file_…,
# Gemini `file.name` files/…, grok `fileMetadataId`/`fileId`, claude.ai `file_uuid`).
_ID_KEYS = frozenset(
    {"file_id", "fileId", "fileMetadataId", "file_uuid", "uuid", "id", "name", "uri", "fileUri", "mediaId"}
)
_GEMINI_WEB_REF = re.compile(rb"/contrib_service/[A-Za-z0-9_\-/]+")


def ids_from_response(body: bytes, content_type: str = "") -> set[str]:
    """Every file id an upload response names, in every spelling a later message might use."""
    out: set[str] = set()
    stripped = body.lstrip()[:1]
    if stripped in (b"{", b"["):
        try:
            doc: Any = json.loads(body)
        except (UnicodeDecodeError, json.JSONDecodeError):
            doc = None
        stack = [doc]
        while stack:
            v = stack.pop()
            if isinstance(v, dict):
                for k, x in v.items():
                    if isinstance(x, (dict, list)):
                        stack.append(x)
                    elif isinstance(x, str) and k in _ID_KEYS and len(x) >= MIN_ID_LEN and " " not in x:
                        out.add(x)
                        if x.startswith("https://") and "/files/" in x:  # Gemini uri → the files/… name too
                            out.add("files/" + x.rsplit("/files/", 1)[1].split("?")[0])
            elif isinstance(v, list):
                stack.extend(v)
    out.update(m.decode("ascii") for m in _GEMINI_WEB_REF.findall(body[:4096]))
    return {i for i in out if len(i) >= MIN_ID_LEN}
