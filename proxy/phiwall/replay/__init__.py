"""`phiwall replay`: run recorded traffic (mitmproxy flow files, browser HAR exports) through a policy, offline.

A privacy officer must show, before switching a rule on, what it would have done to last week's traffic. Replay
takes every recorded request, routes it exactly as the proxy does (unguarded hosts pass through uninspected,
bodies over the size limit get on_error), runs the same adapters, detectors and policy in this process, and
reports per request: verdict, rule ids, finding types and counts, service and endpoint. Nothing is sent anywhere,
and the report carries no PHI: URLs lose their query string, findings are entity counts.
"""

from __future__ import annotations

import base64
import json
import sys
import time
from collections import Counter
from collections.abc import Iterable
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from phiwall.errors import PolicyError
from phiwall.extractors import route
from phiwall.identity import IdentityResolver
from phiwall.identity import Requester
from phiwall.policy import Policy
from phiwall.policy import PolicySource
from phiwall.request import RequestData

PASSTHROUGH = "passthrough"  # not a chatbot host: the proxy leaves it alone, so replay does too


@dataclass(frozen=True, slots=True)
class Recorded:
    """One recorded request, as the proxy would have seen it."""

    index: int
    source: str  # input file name
    req: RequestData
    ts: float | None  # when it was sent (epoch seconds), if the recording says
    proxyauth_user: str | None = None


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
        from urllib.parse import urlencode

        return urlencode([(p.get("name", ""), p.get("value", "")) for p in params]).encode()
    return b""


def _iso_ts(value: str | None) -> float | None:
    if not value:
        return None
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()
    except ValueError:
        return None


def read_har(path: Path, start: int = 0) -> Iterator[Recorded]:
    """Requests of a HAR file (browser export or `mitmdump --set hardump=`)."""
    try:
        doc = json.loads(path.read_bytes().decode("utf-8-sig"))
        entries = doc["log"]["entries"]
    except (ValueError, KeyError, TypeError) as e:
        raise PolicyError(f"{path}: not a HAR file ({type(e).__name__}); export it again from the browser") from None
    for i, entry in enumerate(entries):
        r = entry.get("request") or {}
        scheme, host, port, p = _split_url(str(r.get("url", "")))
        headers = tuple((str(h.get("name", "")), str(h.get("value", ""))) for h in r.get("headers") or [])
        headers = tuple(h for h in headers if not h[0].startswith(":"))  # HTTP/2 pseudo-headers
        req = RequestData(
            method=str(r.get("method", "GET")).upper(),
            scheme=scheme,
            host=host,
            port=port,
            path=p,
            headers=headers,
            raw_body=_har_body(r.get("postData")),
            flow_id=f"har-{start + i}",
        )
        client = str(entry.get("_clientAddress") or "")  # not standard HAR; written by phiwall's own exports
        if client:
            req = _with_client(req, client)
        yield Recorded(start + i, path.name, req, _iso_ts(entry.get("startedDateTime")))


def _with_client(req: RequestData, client: str) -> RequestData:
    from dataclasses import replace

    return replace(req, who=Requester(client=client))


def read_flows(path: Path, start: int = 0) -> Iterator[Recorded]:
    """HTTP requests of a mitmproxy flow file (`mitmdump -w`); other flow types are skipped."""
    from mitmproxy import exceptions
    from mitmproxy import http
    from mitmproxy import io

    i = start
    with path.open("rb") as fh:
        try:
            for f in io.FlowReader(fh).stream():
                if not isinstance(f, http.HTTPFlow):
                    continue
                r = f.request
                peer = f.client_conn.peername
                auth = f.metadata.get("proxyauth")
                user = str(auth[0]) if isinstance(auth, tuple) and auth else None
                req = RequestData(
                    method=r.method,
                    scheme=r.scheme,
                    host=r.pretty_host,
                    port=r.port,
                    path=r.path,
                    headers=tuple((k, v) for k, v in r.headers.items(multi=True)),
                    raw_body=r.raw_content or b"",
                    who=Requester(client=peer[0] if peer else ""),
                    flow_id=f.id,
                )
                yield Recorded(i, path.name, req, r.timestamp_start, user)
                i += 1
        except exceptions.FlowReadException as e:
            raise PolicyError(f"{path}: not a readable mitmproxy flow file ({e})") from None


def read_inputs(paths: Iterable[Path]) -> list[Recorded]:
    """All requests of all inputs, in input order. HAR is recognised by content (a JSON object), not by name."""
    out: list[Recorded] = []
    for p in paths:
        try:
            with p.open("rb") as fh:
                head = fh.read(4).lstrip(b"\xef\xbb\xbf")
        except OSError as e:
            raise PolicyError(f"{p}: cannot read ({e.strerror})") from None
        reader = read_har if head.lstrip().startswith(b"{") else read_flows
        out.extend(reader(p, len(out)))
    return out


def _url(req: RequestData) -> str:
    """The request URL without query string (signed URLs and search parameters can carry identifiers)."""
    default = 443 if req.scheme == "https" else 80
    port = "" if req.port == default else f":{req.port}"
    return f"{req.scheme}://{req.host}{port}{req.path_only}"


@dataclass
class Replayer:
    """Runs recorded requests through one policy with the proxy's own routing, limits and pipeline."""

    source: PolicySource
    identity: IdentityResolver | None = None
    detectors: dict[str, Any] | None = None

    def __post_init__(self) -> None:
        from phiwall.pipeline import Pipeline

        self.policy = Policy(self.source)
        self.pipeline = Pipeline(self.policy, self.detectors)

    def who(self, rec: Recorded) -> Requester:
        client = rec.req.who.client
        if self.identity is not None:
            return self.identity.resolve(client, rec.proxyauth_user, rec.req.headers, host=rec.req.host)
        return Requester(client=client, user=rec.proxyauth_user, host=rec.req.host)

    def inspect(self, rec: Recorded) -> dict[str, Any]:
        from dataclasses import replace

        req = rec.req
        row: dict[str, Any] = {
            "index": rec.index,
            "url": _url(req),
            "method": req.method,
            "host": req.host,
            "ts": datetime.fromtimestamp(rec.ts, UTC).isoformat(timespec="milliseconds") if rec.ts else None,
        }
        service = route(req.host)
        if service is None:
            row.update(service=None, endpoint=None, kind=None, verdict=PASSTHROUGH, rule_ids=[], findings={})
            return row
        t0 = time.perf_counter()
        limit = self.policy.max_body_bytes
        if len(req.raw_body) > limit:
            reason = f"the request body is {len(req.raw_body)} bytes, over this policy's {limit}-byte limit"
            d = self.policy.error_decision(service.name, reason, kind="limit")
            row.update(service=service.name, endpoint=None, kind=None)
        else:
            ins = self.pipeline.inspect_request(replace(req, who=self.who(rec)), service)
            d = ins.decision
            row.update(service=ins.service, endpoint=ins.endpoint, kind=ins.kind)
        row.update(
            verdict=str(d.verdict),
            rule_ids=list(d.rule_ids),
            findings=d.entity_counts(),
            ms=round((time.perf_counter() - t0) * 1000, 2),
        )
        if d.error:
            row["error"] = d.error
        return row


def progress(items: list[Recorded], enabled: bool | None = None) -> Iterable[Recorded]:
    """A progress bar on stderr for long inputs (only when stderr is a terminal, unless forced)."""
    show = sys.stderr.isatty() if enabled is None else enabled
    if not show or len(items) < 20:
        return items
    try:
        from tqdm import tqdm
    except ImportError:  # pragma: no cover - tqdm is a dependency of the CLI extras
        return items
    return tqdm(items, desc="replay", unit="req", file=sys.stderr, leave=False)


def replay(
    records: list[Recorded], main: Replayer, other: Replayer | None = None, show_progress: bool | None = None
) -> dict[str, Any]:
    """The report: one row per request in input order, totals, and (with `other`) the requests whose verdict
    differs between the two policies."""
    rows = []
    changes = []
    for rec in progress(records, show_progress):
        row = main.inspect(rec)
        if other is not None:
            alt = other.inspect(rec)
            row["compare"] = {"verdict": alt["verdict"], "rule_ids": alt["rule_ids"]}
            if alt["verdict"] != row["verdict"]:
                changes.append(
                    {
                        "index": row["index"],
                        "url": row["url"],
                        "method": row["method"],
                        "service": row["service"],
                        "verdict": row["verdict"],
                        "other_verdict": alt["verdict"],
                        "rule_ids": row["rule_ids"],
                        "other_rule_ids": alt["rule_ids"],
                    }
                )
        rows.append(row)
    report: dict[str, Any] = {
        "policy": {"id": main.source.model.id, "path": main.source.path, "sha256": main.source.sha256[:16]},
        "generated": datetime.now(UTC).isoformat(timespec="seconds"),
        "requests": rows,
        "totals": totals(rows),
    }
    if other is not None:
        report["compare"] = {
            "policy": {"id": other.source.model.id, "path": other.source.path, "sha256": other.source.sha256[:16]},
            "changes": changes,
            "totals": totals([{**r, **r["compare"]} for r in rows]),
        }
    return report


def totals(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """Counts by verdict, by service and verdict, by rule, and of findings."""
    by_verdict = Counter(r["verdict"] for r in rows)
    by_service: dict[str, Counter[str]] = {}
    by_rule: Counter[str] = Counter()
    findings: Counter[str] = Counter()
    for r in rows:
        by_service.setdefault(r["service"] or PASSTHROUGH, Counter())[r["verdict"]] += 1
        by_rule.update(r["rule_ids"])
        findings.update(r.get("findings") or {})
    return {
        "requests": len(rows),
        "by_verdict": dict(sorted(by_verdict.items())),
        "by_service": {s: dict(sorted(c.items())) for s, c in sorted(by_service.items())},
        "by_rule": dict(sorted(by_rule.items())),
        "findings": dict(sorted(findings.items())),
    }


def format_table(report: dict[str, Any]) -> str:
    """The terminal report: one line per request, then totals (and the changed requests with --compare)."""
    rows = report["requests"]
    lines = [f"{'#':>5}  {'VERDICT':11} {'METHOD':6} {'SERVICE':14} {'ENDPOINT':22} RULES / FINDINGS"]
    for r in rows:
        found = ", ".join(f"{k}×{v}" for k, v in (r.get("findings") or {}).items())
        rules = ",".join(r["rule_ids"])
        detail = " ".join(x for x in (rules, f"({found})" if found else "") if x)
        lines.append(
            f"{r['index']:>5}  {r['verdict']:11} {r['method']:6} {(r['service'] or '-'):14} "
            f"{(r.get('endpoint') or '-')[:22]:22} {detail}"
        )
    t = report["totals"]
    lines.append("")
    lines.append(
        f"policy {report['policy']['id']}: {t['requests']} requests; "
        + ", ".join(f"{k} {v}" for k, v in t["by_verdict"].items())
    )
    if t["by_rule"]:
        lines.append("rules: " + ", ".join(f"{k} {v}" for k, v in t["by_rule"].items()))
    cmp_ = report.get("compare")
    if cmp_ is not None:
        lines.append("")
        lines.append(f"compared with policy {cmp_['policy']['id']}: {len(cmp_['changes'])} requests change verdict")
        for c in cmp_["changes"]:
            lines.append(
                f"{c['index']:>5}  {c['verdict']} -> {c['other_verdict']}  {c['method']} {c['url']}  "
                f"[{','.join(c['rule_ids'])}] -> [{','.join(c['other_rule_ids'])}]"
            )
    return "\n".join(lines)


__all__ = [
    "PASSTHROUGH",
    "Recorded",
    "Replayer",
    "format_table",
    "read_flows",
    "read_har",
    "read_inputs",
    "replay",
    "totals",
]
