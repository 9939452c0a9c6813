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

State is per proxy process, in memory. Several replicas behind a load balancer need sticky routing per client (a
resumable upload's chunks must reach the same replica); see docs/deployment.md.
"""

from __future__ import annotations

import json
import re
import time
from collections import OrderedDict
from collections.abc import Callable
from collections.abc import Iterable
from dataclasses import dataclass
from dataclasses import field
from typing import Any
from urllib.parse import parse_qsl
from urllib.parse import urlencode
from urllib.parse import urlsplit
from urllib.parse import urlunsplit

from phiwall.errors import ExtractionError
from phiwall.errors import LimitError
from phiwall.model import Verdict

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


@dataclass
class UploadSession:
    """One file arriving in several requests. Chunks are keyed by byte offset (Google) or by name (OpenAI part
    ids, Azure block ids); `assemble` puts them in order and refuses gaps."""

    key: tuple[str, str]
    service: str
    created: float
    declared_size: int | None = None
    chunks: dict[int | str, bytes] = field(default_factory=dict)
    pending: dict[str, bytes] = field(default_factory=dict)  # flow id -> data whose part id the response will name
    size: int = 0
    blocked: str | None = None  # PHI-free reason once a chunk or the whole file was blocked
    blocked_rules: tuple[str, ...] = ()
    early_checked: bool = False
    file_id: str | None = None  # the id a later message will use (ChatGPT knows it before the bytes)

    def add(self, key: int | str, data: bytes) -> None:
        old = self.chunks.get(key)
        self.size += len(data) - (len(old) if old is not None else 0)
        self.chunks[key] = data

    def assemble(self, order: Iterable[str] | None = None) -> bytes:
        """The whole file: offset chunks contiguous from 0, or named chunks in `order`. A gap, an overlap or a
        missing name is an ExtractionError: a file phiwall cannot rebuild is not judged as if it were whole."""
        if order is not None:
            names = list(order)
            missing = [n for n in names if n not in self.chunks]
            if missing:
                raise ExtractionError(f"upload completes with {len(missing)} part(s) phiwall never saw")
            return b"".join(self.chunks[n] for n in names)
        offsets = sorted(k for k in self.chunks if isinstance(k, int))
        out = bytearray()
        for off in offsets:
            if off != len(out):
                raise ExtractionError(f"upload chunks are not contiguous (gap or overlap at byte {min(off, len(out))})")
            out += self.chunks[off]
        return bytes(out)


@dataclass(frozen=True, slots=True)
class FileVerdict:
    """What phiwall decided about an uploaded file, remembered under the id the service gave it."""

    verdict: Verdict
    reason: str  # PHI-free, shown again when a message references the file
    rule_ids: tuple[str, ...]
    expires: float


class UploadStore:
    """Upload sessions, remembered upload URLs and file-id verdicts, with caps and a time-to-live."""

    def __init__(
        self,
        *,
        ttl: float = DEFAULT_TTL,
        max_session_bytes: int = DEFAULT_MAX_SESSION_BYTES,
        max_total_bytes: int = DEFAULT_MAX_TOTAL_BYTES,
        max_sessions: int = DEFAULT_MAX_SESSIONS,
        max_ids: int = DEFAULT_MAX_IDS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.ttl = ttl
        self.max_session_bytes = max_session_bytes
        self.max_total_bytes = max_total_bytes
        self.max_sessions = max_sessions
        self.max_ids = max_ids
        self.clock = clock
        self.sessions: OrderedDict[tuple[str, str], UploadSession] = OrderedDict()
        self.urls: OrderedDict[str, tuple[str, str, float]] = (
            OrderedDict()
        )  # normalised URL -> (service, file id, expiry)
        self.verdicts: OrderedDict[str, FileVerdict] = OrderedDict()

    # -- sessions -----------------------------------------------------------------------------------------------

    def open(
        self, service: str, upload_id: str, *, declared_size: int | None = None, file_id: str | None = None
    ) -> UploadSession:
        """Start (or restart) tracking an upload. Oldest sessions are dropped past `max_sessions`: their later
        chunks then meet no session and are judged alone, and their completing request fails closed."""
        self.gc()
        key = (service, upload_id)
        s = UploadSession(key, service, self.clock(), declared_size=declared_size, file_id=file_id)
        self.sessions[key] = s
        self.sessions.move_to_end(key)
        while len(self.sessions) > self.max_sessions:
            self.sessions.popitem(last=False)
        return s

    def get(self, service: str, upload_id: str) -> UploadSession | None:
        self.gc()
        return self.sessions.get((service, upload_id))

    def add_chunk(self, session: UploadSession, key: int | str, data: bytes) -> None:
        """Hold a chunk. Raises LimitError when the session or all sessions together would exceed their caps."""
        if session.size + len(data) > self.max_session_bytes:
            raise LimitError(
                f"the upload is over {self.max_session_bytes} bytes, more than phiwall holds to judge a file whole"
            )
        if self.total_bytes() + len(data) > self.max_total_bytes:
            raise LimitError("phiwall is holding too many unfinished uploads; try again shortly")
        session.add(key, data)

    def hold(self, session: UploadSession, flow_id: str, data: bytes) -> None:
        """Hold a chunk whose name only its response will tell (an OpenAI part id), under the request's flow id."""
        if session.size + len(data) > self.max_session_bytes:
            raise LimitError(
                f"the upload is over {self.max_session_bytes} bytes, more than phiwall holds to judge a file whole"
            )
        if self.total_bytes() + len(data) > self.max_total_bytes:
            raise LimitError("phiwall is holding too many unfinished uploads; try again shortly")
        session.pending[flow_id] = data

    def close(self, session: UploadSession) -> None:
        self.sessions.pop(session.key, None)

    def total_bytes(self) -> int:
        return sum(s.size + sum(len(v) for v in s.pending.values()) for s in self.sessions.values())

    # -- remembered upload URLs (ChatGPT: the registration response names the blob URL) --------------------------

    def remember_url(self, url: str, service: str, file_id: str) -> None:
        self.gc()
        key = normalise_url(url)
        self.urls[key] = (service, file_id, self.clock() + self.ttl)
        self.urls.move_to_end(key)
        while len(self.urls) > self.max_ids:
            self.urls.popitem(last=False)

    def url_owner(self, url: str) -> tuple[str, str] | None:
        """(service, file id) for an upload URL learned from a registration response, or None. Azure Put Block
        and Put Block List requests add `comp`/`blockid` to the signed URL; they still match."""
        self.gc()
        hit = self.urls.get(normalise_url(url, drop=_AZURE_BLOCK_PARAMS))
        return (hit[0], hit[1]) if hit else None

    # -- file-id verdicts ---------------------------------------------------------------------------------------

    def remember_verdict(
        self, file_ids: Iterable[str], verdict: Verdict, reason: str, rule_ids: tuple[str, ...]
    ) -> None:
        """Remember a warned or blocked file under every id the service uses for it. Allowed files are not kept:
        only a stricter-than-allow verdict changes what a later reference means."""
        if verdict <= Verdict.ALLOW:
            return
        self.gc()
        exp = self.clock() + self.ttl
        for fid in file_ids:
            if len(fid) < MIN_ID_LEN:
                continue
            old = self.verdicts.get(fid)
            if old is None or old.verdict <= verdict:
                self.verdicts[fid] = FileVerdict(verdict, reason, rule_ids, exp)
            self.verdicts.move_to_end(fid)
        while len(self.verdicts) > self.max_ids:
            self.verdicts.popitem(last=False)

    def referenced(self, *haystacks: bytes | str) -> list[tuple[str, FileVerdict]]:
        """The remembered files whose id appears in any of the haystacks (a path, a decoded body, a WebSocket
        message). A substring match, independent of how each adapter spells its references: a file id is a long
        random token, and only warned or blocked ids are kept, so the set is small."""
        self.gc()
        if not self.verdicts:
            return []
        hits = []
        encoded = [h.encode("utf-8", "surrogateescape") if isinstance(h, str) else h for h in haystacks]
        for fid, fv in self.verdicts.items():
            needle = fid.encode("utf-8")
            if any(needle in h for h in encoded):
                hits.append((fid, fv))
        return hits

    # -- expiry -------------------------------------------------------------------------------------------------

    def gc(self) -> None:
        now = self.clock()
        for k in [k for k, s in self.sessions.items() if now - s.created > self.ttl]:
            del self.sessions[k]
        for u in [u for u, v in self.urls.items() if v[2] < now]:
            del self.urls[u]
        for f in [f for f, v in self.verdicts.items() if v.expires < now]:
            del self.verdicts[f]


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
