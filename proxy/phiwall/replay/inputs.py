"""Reading recorded traffic for `phiwall replay`: mitmproxy flow files (`mitmdump -w`) and browser HAR exports,
both turned into mitmproxy `HTTPFlow`s, so replay can hand them to the real addon exactly as the proxy would.

A HAR entry becomes a flow with the recorded request (raw body bytes as sent), the client address when the HAR
has phiwall's `_clientAddress` extension, and the recorded response when there is one: the addon reads upload
URLs, session ids and file ids from responses (a resumable upload's chunks go to the URL its first response
named), so replaying without them would judge multi-request uploads differently from the live proxy.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Iterable
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlencode
from urllib.parse import urlsplit

from mitmproxy import connection
from mitmproxy import http

from phiwall.errors import PolicyError

# Headers that describe the wire form of a body a HAR stores decoded, or HTTP/2 framing: dropped from recorded
# responses so mitmproxy does not try to decode an already-decoded body.
_RESPONSE_WIRE_HEADERS = frozenset({"content-encoding", "content-length", "transfer-encoding"})


@dataclass(frozen=True, slots=True)
class Recorded:
    """One recorded flow. `flow` is a template: every replay pass works on its own copy."""

    index: int
    source: str  # input file name (not the path: reports travel)
    flow: http.HTTPFlow

    @property
    def ts(self) -> float | None:
        return self.flow.request.timestamp_start or None


def _split_url(url: str) -> tuple[str, str, int, str]:
    u = urlsplit(url)
    scheme = u.scheme or "https"
    port = u.port or (443 if scheme in ("https", "wss") else 80)
    path = (u.path or "/") + (f"?{u.query}" if u.query else "")
    return scheme, (u.hostname or ""), port, path


def _har_body(post: dict[str, Any] | None) -> bytes:
    """A HAR postData as bytes: `text` (base64 when `encoding` says so, as some exporters write binary bodies), or
    urlencoded `params` when only those were recorded."""
    if not post:
        return b""
    text = post.get("text")
    if text is not None:
        if post.get("encoding") == "base64":
            return base64.b64decode(text)
        return str(text).encode("utf-8", "surrogateescape")
    params = post.get("params") or []
    if params:
        return urlencode([(p.get("name", ""), p.get("value", "")) for p in params]).encode()
    return b""


def _iso_ts(value: str | None) -> float | None:
    if not value:
        return None
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()
    except ValueError:
        return None


def _http_version(v: str) -> str:
    v = (v or "").strip().upper()
    if v in ("H2", "HTTP/2", "HTTP/2.0"):
        return "HTTP/2.0"
    if v in ("H3", "HTTP/3", "HTTP/3.0"):
        return "HTTP/3"
    return v if v.startswith("HTTP/") else "HTTP/1.1"


def _headers(items: Iterable[dict[str, Any]], drop: frozenset[str] = frozenset()) -> http.Headers:
    pairs = []
    for h in items:
        name, value = str(h.get("name", "")), str(h.get("value", ""))
        if not name or name.startswith(":") or name.lower() in drop:  # HTTP/2 pseudo-headers
            continue
        pairs.append((name.encode("latin-1", "replace"), value.encode("latin-1", "replace")))
    return http.Headers(pairs)


def _har_response(resp: dict[str, Any], version: str, ts: float) -> http.Response | None:
    status = int(resp.get("status") or 0)
    if status < 100:  # 0: the browser got no answer (blocked, aborted, CORS)
        return None
    content = resp.get("content") or {}
    text = content.get("text")
    if text is None:
        body = b""
    elif content.get("encoding") == "base64":
        body = base64.b64decode(text)
    else:
        body = str(text).encode("utf-8", "surrogateescape")
    headers = _headers(resp.get("headers") or [], _RESPONSE_WIRE_HEADERS)
    headers["content-length"] = str(len(body))
    return http.Response(
        _http_version(resp.get("httpVersion") or version).encode(),
        status,
        str(resp.get("statusText") or "").encode("latin-1", "replace"),
        headers,
        body,
        None,
        ts,
        ts,
    )


def read_har(path: Path, start: int = 0) -> Iterator[Recorded]:
    """Flows of a HAR file (browser export or `mitmdump --set hardump=`)."""
    try:
        doc = json.loads(path.read_bytes().decode("utf-8-sig"))
        entries = doc["log"]["entries"]
    except (ValueError, KeyError, TypeError) as e:
        raise PolicyError(f"{path}: not a HAR file ({type(e).__name__}); export it again from the browser") from None
    for i, entry in enumerate(entries):
        r = entry.get("request") or {}
        scheme, host, port, p = _split_url(str(r.get("url", "")))
        ts = _iso_ts(entry.get("startedDateTime")) or 0.0
        version = _http_version(str(r.get("httpVersion") or ""))
        req = http.Request(
            host,
            port,
            str(r.get("method", "GET")).upper().encode(),
            scheme.encode(),
            b"",
            p.encode("utf-8", "surrogateescape"),
            version.encode(),
            _headers(r.get("headers") or []),
            _har_body(r.get("postData")),
            None,
            ts,
            ts,
        )
        client = str(entry.get("_clientAddress") or "")  # not standard HAR; written by phiwall's own exports
        f = http.HTTPFlow(
            connection.Client(peername=(client, 0), sockname=("", 0), timestamp_start=ts),
            connection.Server(address=(host, port)),
        )
        f.request = req
        f.response = _har_response(entry.get("response") or {}, version, ts)
        user = entry.get("_proxyUser")  # phiwall extension, like _clientAddress
        if isinstance(user, str) and user:
            f.metadata["proxyauth"] = (user, "")
        yield Recorded(start + i, path.name, f)


def read_flows(path: Path, start: int = 0) -> Iterator[Recorded]:
    """HTTP flows of a mitmproxy flow file (`mitmdump -w`), WebSocket messages included; other flow types (TCP,
    UDP, DNS) are skipped: the proxy does not inspect them either."""
    from mitmproxy import exceptions
    from mitmproxy import io

    i = start
    with path.open("rb") as fh:
        try:
            for f in io.FlowReader(fh).stream():
                if isinstance(f, http.HTTPFlow):
                    yield Recorded(i, path.name, f)
                    i += 1
        except exceptions.FlowReadException as e:
            raise PolicyError(f"{path}: not a readable mitmproxy flow file ({e})") from None


def read_inputs(paths: Iterable[Path]) -> list[Recorded]:
    """All flows of all inputs, in input order. HAR is recognised by content (a JSON object), not by name."""
    out: list[Recorded] = []
    for p in paths:
        try:
            with p.open("rb") as fh:
                head = fh.read(64).lstrip(b"\xef\xbb\xbf")
        except OSError as e:
            raise PolicyError(f"{p}: cannot read ({e.strerror})") from None
        reader = read_har if head.lstrip().startswith(b"{") else read_flows
        out.extend(reader(p, len(out)))
    return out
