"""Helpers every per-service adapter shares: the matcher table (endpoint name, kind, method, path regex), a JSON
walker that lets an adapter take over the dicts it knows (Gemini `inlineData`, Anthropic `source`) and hands
every other string to the generic classifier, and the convention for file references.

Why a table: one place per service lists what phiwall knows, so docs/coverage.md and the tests can be checked
against it, and an endpoint missing from it falls to the generic adapter instead of passing.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from phiwall.errors import ExtractionError
from phiwall.extractors.base import DictHook  # noqa: F401 - re-exported for adapters
from phiwall.extractors.base import JsonPath
from phiwall.extractors.base import PartCollector
from phiwall.extractors.base import walk_json
from phiwall.model import EndpointKind
from phiwall.model import safe_path


@dataclass(frozen=True, slots=True)
class Endpoint:
    """One row of an adapter's matcher table."""

    name: str  # stable, PHI-free: appears in audit events and policy `endpoints:` conditions
    kind: EndpointKind
    method: str  # "POST", a regex over methods ("POST|PUT"), or "*" for any method
    path: re.Pattern[str]  # matched with fullmatch against the path without query string


def table(rows: Iterable[tuple[str, EndpointKind, str, str]], prefix: str = "") -> tuple[Endpoint, ...]:
    """Compile (name, kind, method, regex) rows; `prefix` is prepended to every regex (e.g. an API version)."""
    return tuple(Endpoint(n, k, m.upper(), re.compile(prefix + rx)) for n, k, m, rx in rows)


def match(endpoints: tuple[Endpoint, ...], method: str, path: str) -> Endpoint | None:
    """The first row whose method and path fit. A path that fits but with another method (a GET of an upload
    endpoint) is not a match: it carries no body worth a specific parser."""
    method = method.upper()
    for e in endpoints:
        if (e.method == "*" or e.method == method or re.fullmatch(e.method, method)) and e.path.fullmatch(path):
            return e
    return None


def match_groups(endpoints: tuple[Endpoint, ...], method: str, path: str) -> tuple[Endpoint, re.Match[str]] | None:
    """Like `match`, with the path match (for named groups such as a model publisher)."""
    method = method.upper()
    for e in endpoints:
        if e.method == "*" or e.method == method or re.fullmatch(e.method, method):
            m = e.path.fullmatch(path)
            if m:
                return e, m
    return None


# The JSON walker with dict hooks and skip paths lives in base (one walker for every adapter).
walk = walk_json


def file_ref(c: PartCollector, ref: str, where: str) -> None:
    """A request that points at a file uploaded earlier (OpenAI `file-…`, Anthropic `file_…`, Gemini `files/…`,
    claude.ai uuids, Gemini web `/contrib_service/…`). The bytes were (or should have been) inspected at upload;
    the id is recorded as a PHI-free note `file_ref:<id>` so a stateful layer can block by reference."""
    ref = ref.strip()
    if ref and len(ref) <= 300 and ref.isprintable():
        c.notes.append(f"file_ref:{ref}")
    else:
        c.notes.append(f"file_ref:unreadable@{where}")


def need(cond: object, endpoint: str, what: str) -> None:
    """Fail closed on a known endpoint whose body no longer has the shape the adapter was written for: the
    message names the endpoint and the field, never a value."""
    if not cond:
        raise ExtractionError(f"{endpoint}: unexpected request shape ({what})", endpoint=endpoint)


@contextmanager
def named(endpoint: str) -> Iterator[None]:
    """While a known endpoint's body is taken apart, every ExtractionError names that endpoint. A broken base64
    value or multipart body is found deep in shared helpers that do not know which endpoint they serve; without
    the name, the on_error audit event would not say which protocol changed (issue 3: a changed web protocol must
    show up in the logs, not leak). Messages that already start with the endpoint are left as they are. The name
    is also set as the error's `endpoint` attribute, which the audit event's `endpoint` field carries."""
    try:
        yield
    except ExtractionError as e:
        if str(e).startswith(endpoint):
            e.endpoint = endpoint
            raise
        raise ExtractionError(f"{endpoint}: {e}", endpoint=endpoint) from e


def dotted(p: JsonPath) -> str:
    """A JSON path for an error message or an audited note: schema keys and indexes as they are, every key the
    user chose (a key named after a patient) as a keyed digest (`phiwall.model.safe_path`). Errors reach the audit
    event's `error` field, which must hold no PHI."""
    return safe_path(p, "json")
