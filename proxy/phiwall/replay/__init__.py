"""`phiwall replay`: run recorded traffic (mitmproxy flow files, browser HAR exports) through a policy, offline.

A privacy officer must show, before switching a rule on, what it would have done to last week's traffic. The
answer is only worth something if it is the answer the proxy would give, so replay does not re-implement the
proxy: it hands every recorded flow to the real `PhiWall` addon, inside a mitmproxy master that has no proxy
server (so nothing can be sent anywhere), with inline inspection and an in-memory audit sink. Each audit event
the addon writes becomes a report row; a flow the addon leaves alone (not a chatbot host) is `passthrough`.

The addon sees the hooks in the proxy's order: `requestheaders`, `request`, then, when it let the request
through, the recorded response (`responseheaders`, `response`: upload URLs, session ids and file ids come from
responses) and the recorded WebSocket messages. So multi-request uploads, references to blocked files, gRPC
and WebSocket chats get the live verdicts. A body over the policy's `max_body_bytes` is refused the way
mitmproxy's `body_size_limit` (which `phiwall run` sets to it) refuses it: before the addon reads it.

The report carries no PHI: URLs lose their query string, findings are entity counts, reasons are the audit
trail's PHI-free texts; no audit file is written.
"""

from __future__ import annotations

import asyncio
import os
import sys
from collections import Counter
from dataclasses import dataclass
from datetime import UTC
from datetime import datetime
from typing import Any
from typing import Protocol

from phiwall.errors import PolicyError
from phiwall.identity import resolver_for
from phiwall.policy import PolicySource
from phiwall.replay.inputs import Recorded
from phiwall.replay.inputs import read_flows
from phiwall.replay.inputs import read_har
from phiwall.replay.inputs import read_inputs

PASSTHROUGH = "passthrough"  # not a chatbot host (or path): the proxy leaves it alone, so replay does too
NOT_REACHED = "not reached"  # with --compare: a WebSocket message the other policy never let the chat reach

# mitmproxy's own refusal text (proxy/layers/http): the addon's error hook recognises it.
_BODY_SIZE_LIMIT_ERROR = "Request body exceeds mitmproxy's body_size_limit."


@dataclass(frozen=True, slots=True)
class IdentityOptions:
    """The proxy's identity options (phiwall_groups_file, phiwall_user_header, phiwall_groups_header,
    phiwall_trusted_proxies), so a replay resolves users and groups as the gateway does."""

    groups_file: str = ""
    user_header: str = ""
    groups_header: str = ""
    trusted_proxies: str = ""


class Tick(Protocol):
    def __call__(self, n: int = 1) -> object: ...


class Replayer:
    """Runs recorded flows through one policy with the real addon (see the module docstring)."""

    def __init__(self, source: PolicySource, identity: IdentityOptions | None = None) -> None:
        self.source = source
        self.identity = identity or IdentityOptions()
        i = self.identity
        resolver_for(i.groups_file, i.user_header, i.groups_header, i.trusted_proxies)  # PolicyError when bad
        if source.path.startswith("<"):
            raise PolicyError(f"{source.path}: replay needs the policy as a file, as the proxy loads it")

    def run(self, records: list[Recorded], tick: Tick | None = None) -> list[dict[str, Any]]:
        """One row per audited request or WebSocket message (and per passthrough flow), in input order."""
        return asyncio.run(self._run(records, tick or (lambda n=1: None)))

    def _options(self) -> dict[str, Any]:
        i = self.identity
        return {
            "phiwall_policy": self.source.path,
            "phiwall_mode": "enforce",  # what the policy would have done, not what shadow mode would audit
            "phiwall_inline": True,  # no worker processes: one process, nothing listening, nothing sent
            "phiwall_reload_seconds": 0,
            "phiwall_audit_file": os.devnull,  # replaced by the in-memory sink below: nothing written at rest
            "phiwall_groups_file": i.groups_file,
            "phiwall_user_header": i.user_header,
            "phiwall_groups_header": i.groups_header,
            "phiwall_trusted_proxies": i.trusted_proxies,
        }

    async def _run(self, records: list[Recorded], tick: Tick) -> list[dict[str, Any]]:
        from mitmproxy import exceptions
        from mitmproxy import options
        from mitmproxy.addons.proxyserver import Proxyserver
        from mitmproxy.master import Master

        from phiwall.addon import PhiWall
        from phiwall.audit import JsonlAudit
        from phiwall.audit import MemoryAudit

        opts = options.Options()
        master = Master(opts, event_loop=asyncio.get_running_loop())
        addon = PhiWall()
        try:
            # Proxyserver only declares the proxy's options (body_size_limit, stream_large_bodies...); it is never
            # started, so no socket is opened. Setting the options configures both, as mitmdump's startup does.
            master.addons.add(Proxyserver(), addon)
            try:
                opts.update(**self._options())
            except exceptions.OptionsError as e:
                raise PolicyError(str(e)) from None
            if addon.source is None or addon.source.sha256 != self.source.sha256:
                raise PolicyError(f"{self.source.path}: the policy changed while replay was starting; run it again")
            if isinstance(addon.audit, JsonlAudit):
                addon.audit.close()
            sink = MemoryAudit()
            addon.audit = sink
            rows: list[dict[str, Any]] = []
            for rec in records:
                rows.extend(await self._one(addon, sink, rec))
                tick()
            for n, row in enumerate(rows):
                row["index"] = n
            return rows
        finally:
            master.addons.clear()
            legacy = getattr(master, "_legacy_log_events", None)
            if legacy is not None:
                legacy.uninstall()  # its handler would post to this loop after it closed

    async def _one(self, addon: Any, sink: Any, rec: Recorded) -> list[dict[str, Any]]:
        """Feed one recorded flow to the addon in the proxy's hook order; the audit events it wrote are the rows."""
        from mitmproxy import flow as mflow

        f = rec.flow.copy()
        recorded_response, websocket = f.response, f.websocket
        f.response, f.websocket, f.error = None, None, None
        f.live = True
        f.metadata.pop("phiwall", None)  # a recording made through phiwall carries its verdicts: judge afresh
        del sink.events[:]
        addon.requestheaders(f)
        raw = f.request.raw_content or b""
        if addon.policy is not None and len(raw) > addon.policy.max_body_bytes:
            f.error = mflow.Error(_BODY_SIZE_LIMIT_ERROR)
            addon.error(f)
        else:
            await addon.request(f)
            if f.response is None and recorded_response is not None:
                f.response = recorded_response
                addon.responseheaders(f)
                await addon.response(f)
                if websocket is not None and recorded_response.status_code == 101:
                    messages = list(websocket.messages)
                    websocket.messages = []
                    f.websocket = websocket
                    for m in messages:
                        websocket.messages.append(m)
                        await addon.websocket_message(f)
        events = [e for e in sink.events if e.get("event") == "inspection"]
        base = _base_row(rec, f)
        if not events:
            meta = f.metadata.get("phiwall")
            if meta is None:
                return [{**base, "service": None, "endpoint": None, "kind": None, "verdict": PASSTHROUGH,
                         "rule_ids": [], "findings": {}}]  # fmt: skip
            # A guarded request answered without an audit event (the addon's last-resort internal-error answer).
            verdict = str(meta.get("verdict") or ("block" if f.response is not None else "allow"))
            return [{**base, "service": meta.get("service"), "endpoint": meta.get("endpoint"), "kind": None,
                     "verdict": verdict, "rule_ids": list(meta.get("rule_ids") or ()), "findings": {},
                     "error": "no audit event (internal error)"}]  # fmt: skip
        return [_row(base, ev) for ev in events]


def _url(f: Any) -> str:
    """The request URL without query string (signed URLs and search parameters can carry identifiers)."""
    r = f.request
    default = 443 if r.scheme in ("https", "wss") else 80
    port = "" if r.port == default else f":{r.port}"
    return f"{r.scheme}://{r.pretty_host}{port}{r.path.split('?', 1)[0].split('#', 1)[0]}"


def _base_row(rec: Recorded, f: Any) -> dict[str, Any]:
    ts = rec.ts
    return {
        "index": 0,
        "flow": rec.index,
        "url": _url(f),
        "method": f.request.method,
        "host": f.request.pretty_host,
        "ts": datetime.fromtimestamp(ts, UTC).isoformat(timespec="milliseconds") if ts else None,
    }


def _row(base: dict[str, Any], ev: dict[str, Any]) -> dict[str, Any]:
    row = {
        **base,
        "method": ev.get("method", base["method"]),
        "service": ev.get("service"),
        "endpoint": ev.get("endpoint"),
        "kind": ev.get("endpoint_kind"),
        "verdict": ev["verdict"],
        "rule_ids": list(ev.get("rule_ids") or ()),
        "findings": dict(ev.get("entity_counts") or {}),
        "ms": ev.get("latency_ms"),
    }
    if ev.get("websocket"):
        row["websocket_message"] = ev.get("message")
    if ev.get("error"):  # the audit trail's PHI-free reason: why on_error decided, or a note (a held chunk)
        row["error" if "on_error" in row["rule_ids"] else "note"] = ev["error"]
    return row


def _key(row: dict[str, Any]) -> tuple[int, int | None]:
    return row["flow"], row.get("websocket_message")


class _Bar:
    """A progress bar on stderr for long inputs: tqdm when stderr is a terminal (or when asked)."""

    def __init__(self, total: int, enabled: bool | None) -> None:
        show = sys.stderr.isatty() if enabled is None else enabled
        self._bar: Any = None
        if show and total >= 20:
            from tqdm import tqdm

            self._bar = tqdm(total=total, desc="replay", unit="req", file=sys.stderr, mininterval=0.2)

    def __call__(self, n: int = 1) -> None:
        if self._bar is not None:
            self._bar.update(n)

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()


def replay(
    records: list[Recorded], main: Replayer, other: Replayer | None = None, show_progress: bool | None = None
) -> dict[str, Any]:
    """The report: one row per request in input order, totals, and (with `other`) the requests whose verdict
    differs between the two policies (each policy replays the whole input on its own addon, so upload state
    follows each policy's own verdicts)."""
    bar = _Bar(len(records) * (2 if other is not None else 1), show_progress)
    try:
        rows = main.run(records, bar)
        alt_rows = other.run(records, bar) if other is not None else None
    finally:
        bar.close()
    report: dict[str, Any] = {
        "policy": _policy_head(main.source),
        "generated": datetime.now(UTC).isoformat(timespec="seconds"),
        "requests": rows,
        "totals": totals(rows),
    }
    if other is not None and alt_rows is not None:
        report["compare"] = _compare(rows, alt_rows, other.source)
    return report


def _policy_head(source: PolicySource) -> dict[str, Any]:
    return {"id": source.model.id, "path": source.path, "sha256": source.sha256[:16]}


def _compare(rows: list[dict[str, Any]], alt_rows: list[dict[str, Any]], source: PolicySource) -> dict[str, Any]:
    """Join the two runs request by request (WebSocket messages by their index in the chat) and list exactly
    the rows whose verdict differs; a message one policy never let through has the verdict `not reached`."""
    alt = {_key(r): r for r in alt_rows}
    changes = []
    for row in rows:
        a = alt.pop(_key(row), None)
        other_verdict, other_rules = (a["verdict"], a["rule_ids"]) if a else (NOT_REACHED, [])
        row["compare"] = {"verdict": other_verdict, "rule_ids": other_rules}
        if other_verdict != row["verdict"]:
            changes.append(_change(row, row["verdict"], row["rule_ids"], other_verdict, other_rules))
    for a in alt.values():  # reached only under the other policy
        changes.append(_change(a, NOT_REACHED, [], a["verdict"], a["rule_ids"]))
    changes.sort(key=lambda c: (c["flow"], c.get("websocket_message") or -1))
    compared = [{**r, **r["compare"]} for r in rows] + list(alt.values())
    return {"policy": _policy_head(source), "changes": changes, "totals": totals(compared)}


def _change(row: dict[str, Any], verdict: str, rules: list[str], other: str, other_rules: list[str]) -> dict[str, Any]:
    out = {
        "index": row["index"],
        "flow": row["flow"],
        "url": row["url"],
        "method": row["method"],
        "service": row["service"],
        "verdict": verdict,
        "other_verdict": other,
        "rule_ids": rules,
        "other_rule_ids": other_rules,
    }
    if row.get("websocket_message") is not None:
        out["websocket_message"] = row["websocket_message"]
    return out


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
    "NOT_REACHED",
    "PASSTHROUGH",
    "IdentityOptions",
    "Recorded",
    "Replayer",
    "format_table",
    "read_flows",
    "read_har",
    "read_inputs",
    "replay",
    "totals",
]
