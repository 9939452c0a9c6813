"""Reading policy files: YAML → validated PolicyModel, with every error naming file, line and field."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from phiwall.errors import PolicyError
from phiwall.policy.schema import PolicyModel

Loc = tuple[str | int, ...]


@dataclass(frozen=True)
class PolicySource:
    """A policy as loaded: the validated model plus where it came from (for audit and reload)."""

    model: PolicyModel
    path: str
    sha256: str


def default_policy_path() -> Path:
    """The embedded default policy shipped inside the package (a copy of policies/default.yaml)."""
    return Path(str(resources.files("phiwall") / "data" / "default.yaml"))


def _compose(text: str, path: str) -> tuple[Any, dict[Loc, int]]:
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        line = f":{mark.line + 1}" if mark is not None else ""
        problem = getattr(e, "problem", None) or str(e)
        raise PolicyError(f"{path}{line}: not valid YAML: {problem}") from None
    lines: dict[Loc, int] = {}

    def build(n: yaml.Node | None, loc: Loc) -> Any:
        if n is None:
            return None
        lines[loc] = n.start_mark.line + 1
        if isinstance(n, yaml.MappingNode):
            out: dict[Any, Any] = {}
            for k, v in n.value:
                key = k.value
                if key in out:
                    raise PolicyError(f"{path}:{k.start_mark.line + 1}: {_fmt(loc + (key,))}: duplicate key")
                lines[loc + (key,)] = k.start_mark.line + 1
                out[key] = build(v, loc + (key,))
            return out
        if isinstance(n, yaml.SequenceNode):
            return [build(v, loc + (i,)) for i, v in enumerate(n.value)]
        loader = yaml.SafeLoader("")
        try:
            return loader.construct_object(n, deep=True)
        finally:
            loader.dispose()

    return build(node, ()), lines


def _fmt(loc: Loc) -> str:
    out = ""
    for p in loc:
        out += f"[{p}]" if isinstance(p, int) else (f".{p}" if out else str(p))
    return out or "(top level)"


def _line_for(loc: Loc, lines: dict[Loc, int]) -> int | None:
    for i in range(len(loc), -1, -1):
        if loc[:i] in lines:
            return lines[loc[:i]]
    return None


_HINTS = {
    "extra_forbidden": "unknown key; check the spelling against docs/policy.md",
    "missing": "required field is missing",
    "literal_error": None,
}


def parse_policy_text(text: str, path: str = "<policy>") -> PolicySource:
    """Validate policy YAML text. Raises PolicyError listing every problem as `file:line: field: message`."""
    doc, lines = _compose(text, path)
    if not isinstance(doc, dict):
        raise PolicyError(f"{path}:1: a policy must be a YAML mapping with at least 'id' and 'rules'")
    try:
        model = PolicyModel.model_validate(doc)
    except ValidationError as e:
        problems = []
        for err in e.errors():
            loc = tuple(p for p in err["loc"] if not (isinstance(p, str) and p.startswith("function-")))
            line = _line_for(loc, lines)
            hint = _HINTS.get(err["type"]) or err["msg"]
            if err["type"] == "literal_error":
                hint = err["msg"]
            if hint.startswith("Value error, "):
                hint = hint[len("Value error, ") :]
            problems.append(f"{path}:{line or '?'}: {_fmt(loc)}: {hint}")
        raise PolicyError("\n".join(problems)) from None
    problems = _semantic_checks(model, lines, path)
    if problems:
        raise PolicyError("\n".join(problems))
    return PolicySource(model=model, path=path, sha256=hashlib.sha256(text.encode("utf-8")).hexdigest())


def _semantic_checks(model: PolicyModel, lines: dict[Loc, int], path: str) -> list[str]:
    from phiwall.detectors import DETECTOR_NAMES

    problems = []
    for name in model.detectors:
        if name not in DETECTOR_NAMES:
            loc: Loc = ("detectors", name)
            problems.append(
                f"{path}:{_line_for(loc, lines)}: {_fmt(loc)}: unknown detector; "
                f"known detectors: {', '.join(sorted(DETECTOR_NAMES))}"
            )
    for i, rule in enumerate(model.rules):
        if rule.action == "deidentify":
            loc = ("rules", i, "action")
            problems.append(
                f"{path}:{_line_for(loc, lines)}: {_fmt(loc)}: 'deidentify' is not available in this version "
                "of phiwall; use 'block' or 'warn' until de-identification ships"
            )
        for d in rule.when.detectors or ():
            if d not in DETECTOR_NAMES and d != "adapter":
                loc = ("rules", i, "when", "detectors")
                problems.append(f"{path}:{_line_for(loc, lines)}: {_fmt(loc)}: unknown detector {d!r}")
    return problems


def load_policy(path: str | Path | None) -> PolicySource:
    """Load and validate a policy file (None: the embedded default)."""
    p = Path(path) if path else default_policy_path()
    try:
        text = p.read_text(encoding="utf-8")
    except OSError as e:
        raise PolicyError(f"{p}: cannot read policy file ({e.strerror})") from None
    return parse_policy_text(text, str(p))
