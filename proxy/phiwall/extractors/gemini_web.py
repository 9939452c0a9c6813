"""Gemini web app (gemini.google.com): the StreamGenerate and batchexecute RPCs.

Shapes: /work/shared/spec/request-shapes.md §3.3 [RE]. The body is `application/x-www-form-urlencoded` whose
`f.req` field holds JSON, whose element [1] is a JSON *string*, whose decoded value (`inner`) holds the prompt at
`inner[0][0]` and file references at `inner[0][3]`. The web app changes often, so:
- the known slots are read by position and an inner value that no longer has that shape is an ExtractionError
  naming the endpoint (the policy's `on_error` decides, and the audit event says which endpoint changed);
- every other string anywhere in the inner structure is also inspected generically, so text that moved to a new
  slot is still seen.
File bytes go to content-push.googleapis.com / push.clients6.google.com (another adapter); here the
`/contrib_service/…` paths are recorded as `file_ref:` notes and file names are inspected as text.
"""

from __future__ import annotations

import json
from typing import Any
from typing import ClassVar

from phiwall.errors import ExtractionError
from phiwall.extractors.base import JsonPath
from phiwall.extractors.base import PartCollector
from phiwall.extractors.base import Rewriting
from phiwall.extractors.base import collect_any
from phiwall.extractors.base import iter_form
from phiwall.extractors.table import Endpoint
from phiwall.extractors.table import dotted
from phiwall.extractors.table import file_ref
from phiwall.extractors.table import match
from phiwall.extractors.table import named
from phiwall.extractors.table import need
from phiwall.extractors.table import table
from phiwall.extractors.table import walk
from phiwall.locators import Form
from phiwall.locators import Json
from phiwall.model import EndpointKind
from phiwall.model import Envelope
from phiwall.model import Locator
from phiwall.request import RequestData

_APP = r"(?:/u/\d+)?/_/BardChatUi/data"
ENDPOINTS: tuple[Endpoint, ...] = table(
    [
        ("StreamGenerate", EndpointKind.CHAT, "POST", _APP + r"/assistant\.lamda\.BardFrontendService/StreamGenerate"),
        ("batchexecute", EndpointKind.OTHER, "POST", _APP + r"/batchexecute"),
    ]
)
# Form fields that are tokens or routing, never user content.
_FORM_SKIP = frozenset({"at", "bl", "f.sid", "hl", "_reqid", "rt", "rpcids", "source-path"})
_REF_PREFIX = "/contrib_service/"


class GeminiWebAdapter(Rewriting):
    service: ClassVar[str] = "gemini_web"

    def __init__(self, service: str = "gemini_web") -> None:
        self.service_name = service

    def extract(self, req: RequestData, body: bytes) -> Envelope:
        c = PartCollector()
        ep = match(ENDPOINTS, req.method, req.path_only)
        if ep is None:
            shape = collect_any(body, req.header("content-type"), c)
            c.notes.append(f"generic:{shape}")
            return c.envelope(self.service_name, "generic", EndpointKind.OTHER)
        with named(ep.name):
            fields = list(iter_form(body)) if body.strip() else []
            freq = [(i, v) for i, (k, v) in enumerate(fields) if k == "f.req"]
            need(len(freq) == 1, ep.name, "expected exactly one f.req form field")
            index, value = freq[0]
            outer = _json(value, ep.name, "f.req")
            with c.document((Form("f.req", index),), 1):
                if ep.name == "StreamGenerate":
                    _stream_generate(outer, c)
                else:
                    _batchexecute(outer, c)
            for i, (k, v) in enumerate(fields):
                if k not in _FORM_SKIP and k != "f.req":
                    c.text(v, Locator("form", (k, i), "utf8", (Form(k, i),)))
        return c.envelope(self.service_name, ep.name, ep.kind)


def _json(s: str, endpoint: str, what: str) -> Any:
    try:
        return json.loads(s)
    except json.JSONDecodeError as e:
        raise ExtractionError(f"{endpoint}: unexpected request shape ({what} is not JSON, at char {e.pos})") from None


def _stream_generate(outer: Any, c: PartCollector) -> None:
    ep = "StreamGenerate"
    need(
        isinstance(outer, list) and len(outer) >= 2 and isinstance(outer[1], str), ep, "f.req is not [_, <json string>]"
    )
    inner = _json(outer[1], ep, "f.req[1]")
    # The prompt is reached by Form("f.req", n) → Json(1) → Json(0, 0): the JSON string at f.req[1] is itself
    # the JSON document the display paths ("f.req", 1, 0, 0) continue into.
    form_steps, _ = c.doc
    need(
        isinstance(inner, list) and inner and isinstance(inner[0], list) and inner[0],
        ep,
        "inner[0] is not a message list",
    )
    msg = inner[0]
    need(isinstance(msg[0], str), ep, "inner[0][0] (prompt) is not a string")
    base: JsonPath = ("f.req", 1)
    inner_doc = (*form_steps, Json(1))
    c.text(msg[0], Locator("form", base + (0, 0), "utf8", (*inner_doc, Json(0, 0))))
    taken: set[JsonPath] = {base + (0, 0)}
    if len(msg) > 3 and msg[3] is not None:
        need(isinstance(msg[3], list), ep, "inner[0][3] (attachments) is not a list")
        for i, entry in enumerate(msg[3]):
            # [[ "/contrib_service/…", kind?, null, mime? ], "scan.png"]  or  [["/contrib_service/…"], "scan.png"]
            need(
                isinstance(entry, list) and entry and isinstance(entry[0], list) and entry[0],
                ep,
                f"inner[0][3][{i}] is not an attachment tuple",
            )
            ref = entry[0][0]
            need(isinstance(ref, str), ep, f"inner[0][3][{i}][0][0] (file reference) is not a string")
            file_ref(c, ref, f"f.req.1.0.3.{i}")
            taken.add(base + (0, 3, i, 0, 0))
            if len(entry) > 1 and isinstance(entry[1], str):
                # file names carry patient names
                c.text(entry[1], Locator("form", base + (0, 3, i, 1), "utf8", (*inner_doc, Json(0, 3, i, 1))))
                taken.add(base + (0, 3, i, 1))
    # Everything else in the inner structure: generic, so text in a slot we do not know is still inspected.
    with c.document(inner_doc, len(base)):
        _walk_rest(inner, c, base, frozenset(taken))


def _batchexecute(outer: Any, c: PartCollector) -> None:
    ep = "batchexecute"
    need(isinstance(outer, list) and outer and isinstance(outer[0], list), ep, "f.req is not [[rpc, …]]")
    for i, rpc in enumerate(outer[0]):
        need(
            isinstance(rpc, list) and len(rpc) >= 2 and isinstance(rpc[0], str),
            ep,
            f"f.req[0][{i}] is not [rpcid, payload, …]",
        )
        c.notes.append(f"rpc:{rpc[0][:32]}")
        payload = rpc[1]
        base: JsonPath = ("f.req", 0, i, 1)
        form_steps, _ = c.doc
        if isinstance(payload, str):
            try:
                inner = json.loads(payload)
            except json.JSONDecodeError:
                c.text(payload, Locator("form", base, "utf8", (*form_steps, Json(0, i, 1))))
                continue
            with c.document((*form_steps, Json(0, i, 1)), len(base)):
                _walk_rest(inner, c, base, frozenset())
        elif payload is not None:
            _walk_rest(payload, c, base, frozenset())


def _walk_rest(inner: Any, c: PartCollector, base: JsonPath, taken: frozenset[JsonPath]) -> None:
    """Inspect every string not already extracted; `/contrib_service/` paths are references, not text."""
    refs: list[JsonPath] = []

    def hook(d: dict[str, Any], p: JsonPath) -> bool:
        return False

    def visit(v: Any, p: JsonPath) -> None:
        if p in taken:
            return
        if isinstance(v, str):
            if v.startswith(_REF_PREFIX):
                file_ref(c, v, dotted(p))
                refs.append(p)
                return
            if v.lstrip()[:1] in ("[", "{") and len(v) > 2:
                try:
                    nested = json.loads(v)  # JSON-in-JSON is the house style: look inside
                except json.JSONDecodeError:
                    nested = None
                if nested is not None:
                    # The display path runs on into the nested document; its chain gains one more Json step.
                    with c.document(c.json_steps(p), len(p)):
                        visit(nested, p)
                    return
            walk(v, c, path=p, hook=hook, container="form")
        elif isinstance(v, list):
            for i, x in enumerate(v):
                visit(x, p + (i,))
        elif isinstance(v, dict):
            for k, x in v.items():
                visit(x, p + (str(k),))

    visit(inner, base)
