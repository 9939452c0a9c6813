"""Reading policy files: YAML → validated PolicyModel, with every error naming file, line and field."""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from phiwall.errors import PolicyError
from phiwall.policy.schema import DetectorOptions
from phiwall.policy.schema import PolicyModel
from phiwall.policy.schema import Terms

Loc = tuple[str | int, ...]


@dataclass(frozen=True)
class PolicySource:
    """A policy as loaded: the validated model plus where it came from (for audit and reload)."""

    model: PolicyModel  # with `extends` resolved: the effective policy
    path: str
    sha256: str  # of this file and every base it extends, so a changed base is a changed policy
    bases: tuple[str, ...] = ()  # resolved base files, nearest first (reload watches them too)


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
        lines.setdefault(loc, n.start_mark.line + 1)
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
    "extra_forbidden": "unknown key; check the spelling against docs/policy.md (or policies/policy.schema.json)",
    # the `with:` options validate into the engines' dataclasses, whose unknown keys pydantic words this way
    "unexpected_keyword_argument": "unknown key; check the spelling against docs/policy.md "
    "(or policies/policy.schema.json)",
    "missing": "required field is missing; add it (see docs/policy.md)",
    "literal_error": None,
}
_TYPE_HINTS = {
    "string_type": "expected text; quote the value",
    "bool_type": "expected true or false",
    "bool_parsing": "expected true or false",
    "float_type": "expected a number",
    "float_parsing": "expected a number",
    "int_type": "expected a whole number",
    "int_parsing": "expected a whole number",
    "list_type": "expected a list, e.g. [a, b]",
    "dict_type": "expected a mapping of key: value lines",
    "model_type": "expected a mapping of key: value lines",
    "string_pattern_mismatch": "ids use lowercase letters, digits, '.', '_' and '-' and start with a letter or digit",
}
MAX_EXTENDS_DEPTH = 8
BUILTIN_PREFIX = "builtin:"


def _validate(doc: Any, lines: dict[Loc, int], path: str) -> PolicyModel:
    if not isinstance(doc, dict):
        raise PolicyError(f"{path}:1: a policy must be a YAML mapping with at least 'id' and 'rules'")
    try:
        return PolicyModel.model_validate(doc)
    except ValidationError as e:
        problems = []
        for err in e.errors():
            loc = tuple(p for p in err["loc"] if not (isinstance(p, str) and p.startswith("function-")))
            loc = tuple("with" if p == "with_" else p for p in loc)
            line = _line_for(loc, lines)
            etype = err["type"]
            hint = _HINTS.get(etype) or err["msg"]
            if etype in _TYPE_HINTS:
                hint = f"{_TYPE_HINTS[etype]} (got {_short(err.get('input'))})"
            if hint.startswith("Value error, "):
                hint = hint[len("Value error, ") :]
            problems.append(f"{path}:{line or '?'}: {_fmt(loc)}: {hint}")
        raise PolicyError("\n".join(problems)) from None


def _short(v: Any) -> str:
    text = repr(v)
    return text if len(text) <= 40 else text[:37] + "..."


def parse_policy_text(text: str, path: str = "<policy>", *, _chain: tuple[str, ...] = ()) -> PolicySource:
    """Validate policy YAML text, resolving `extends`. Raises PolicyError listing every problem as
    `file:line: field: message`, each with what to do about it."""
    doc, lines = _compose(text, path)
    try:
        model = own = _validate(doc, lines, path)
    except PolicyError as e:
        # Every problem at once: what pydantic stops short of (duplicate ids, a missing base) is added.
        raise PolicyError("\n".join([str(e), *_unvalidated_problems(doc, lines, path, str(e), _chain)])) from None
    digest = hashlib.sha256(text.encode("utf-8"))
    bases: tuple[str, ...] = ()
    if model.extends is not None:
        try:
            base = _load_base(model.extends, path, lines, _chain + (_key(path),))
        except PolicyError as e:
            # The file's own problems too; without its base, rule references into the base cannot be judged.
            own_problems = [p for p in _semantic_checks(own, own, lines, path) if "does not have" not in p]
            raise PolicyError("\n".join([str(e), *own_problems])) from None
        problems = _merge_problems(base.model, model, lines, path)
        if problems:
            raise PolicyError("\n".join(problems))
        model = _merge(base.model, model)
        digest.update(base.sha256.encode("ascii"))
        bases = (base.path, *base.bases)
    problems = _semantic_checks(model, own, lines, path)
    if problems:
        raise PolicyError("\n".join(problems))
    return PolicySource(model=model, path=path, sha256=digest.hexdigest(), bases=bases)


def _unvalidated_problems(doc: Any, lines: dict[Loc, int], path: str, found: str, chain: tuple[str, ...]) -> list[str]:
    """Problems a failed validation hides: ids used twice (pydantic checks uniqueness only once every rule is
    valid) and an `extends` base that cannot be loaded. Skips what `found` already reports."""
    if not isinstance(doc, dict):
        return []
    out: list[str] = []
    for key, what in (("rules", "rule"), ("exceptions", "exception")):
        items = doc.get(key)
        seen: set[str] = set()
        for i, item in enumerate(items if isinstance(items, list) else []):
            rid = item.get("id") if isinstance(item, dict) else None
            if not isinstance(rid, str):
                continue
            if rid in seen and f"{what} id {rid!r} is used twice" not in found:
                loc: Loc = (key, i, "id")
                out.append(
                    f"{path}:{_line_for(loc, lines) or '?'}: {_fmt(loc)}: {what} id {rid!r} is used twice; "
                    f"{what} ids must be unique"
                )
            seen.add(rid)
    ref = doc.get("extends")
    if isinstance(ref, str) and ref:
        try:
            _load_base(ref, path, lines, chain + (_key(path),))
        except PolicyError as e:
            out.append(str(e))
    return out


def _key(path: str) -> str:
    if path.startswith(BUILTIN_PREFIX) or path.startswith("<"):
        return path
    return str(Path(path).resolve())


def _load_base(ref: str, path: str, lines: dict[Loc, int], chain: tuple[str, ...]) -> PolicySource:
    where = f"{path}:{_line_for(('extends',), lines)}: extends"
    if ref.startswith(BUILTIN_PREFIX):
        name = ref[len(BUILTIN_PREFIX) :]
        if name != "default":
            raise PolicyError(f"{where}: unknown built-in policy {ref!r}; the only built-in is builtin:default")
        base_path = default_policy_path()
    else:
        if path.startswith("<"):
            raise PolicyError(f"{where}: a policy read from {path} can only extend builtin:default")
        base_path = (Path(path).parent / ref).resolve()
    if _key(str(base_path)) in chain:
        raise PolicyError(f"{where}: {ref!r} extends this policy again (a cycle); remove one of the extends")
    if len(chain) >= MAX_EXTENDS_DEPTH:
        raise PolicyError(f"{where}: more than {MAX_EXTENDS_DEPTH} levels of extends; flatten the chain")
    try:
        text = base_path.read_text(encoding="utf-8")
    except OSError as e:
        raise PolicyError(
            f"{where}: cannot read base policy {ref!r} ({e.strerror}); the path is relative to this file"
        ) from None
    try:
        return parse_policy_text(text, str(base_path), _chain=chain)
    except PolicyError as e:
        raise PolicyError(f"{where}: the base policy {ref!r} is invalid:\n{e}") from None


def _merge_problems(base: PolicyModel, child: PolicyModel, lines: dict[Loc, int], path: str) -> list[str]:
    base_ids = {r.id for r in base.rules}
    problems = []
    for i, rid in enumerate(child.disable):
        if rid not in base_ids:
            loc: Loc = ("disable", i)
            problems.append(
                f"{path}:{_line_for(loc, lines)}: {_fmt(loc)}: rule {rid!r} is not in the base policy; "
                f"base rules: {', '.join(sorted(base_ids)) or 'none'}"
            )
    return problems


def _merge(base: PolicyModel, child: PolicyModel) -> PolicyModel:
    """The effective policy: the base, overlaid with what the child sets (see docs/policy.md, "extends")."""
    defaults = base.defaults.model_copy(update={k: getattr(child.defaults, k) for k in child.defaults.model_fields_set})
    detectors = dict(base.detectors)
    for name, cfg in child.detectors.items():
        old = detectors.get(name)
        if old is None:
            detectors[name] = cfg
        else:
            enabled = cfg.enabled if "enabled" in cfg.model_fields_set else old.enabled
            detectors[name] = DetectorOptions(enabled=enabled, options={**old.options, **cfg.options})
    own = {r.id: r for r in child.rules}
    rules = [own.pop(r.id) if r.id in own else r for r in base.rules if r.id not in child.disable]
    rules += [r for r in child.rules if r.id in own]
    own_x = {x.id: x for x in child.exceptions}
    exceptions = [own_x.pop(x.id) if x.id in own_x else x for x in base.exceptions]
    exceptions += [x for x in child.exceptions if x.id in own_x]
    deny: list[str] | dict[str, list[str]]
    bd, cd = base.terms.deny, child.terms.deny
    if isinstance(bd, list) and isinstance(cd, list):
        deny = list(dict.fromkeys(bd + cd))
    else:
        bm = bd if isinstance(bd, dict) else ({"PERSON": bd} if bd else {})
        cm = cd if isinstance(cd, dict) else ({"PERSON": cd} if cd else {})
        deny = {e: list(dict.fromkeys(bm.get(e, []) + cm.get(e, []))) for e in {**bm, **cm}}
    terms = Terms(allow=list(dict.fromkeys(base.terms.allow + child.terms.allow)), deny=deny)
    return PolicyModel.model_construct(
        version=child.version,
        id=child.id,
        description=child.description or base.description,
        extends=None,
        disable=[],
        defaults=defaults,
        detectors=detectors,
        thresholds={**base.thresholds, **child.thresholds},
        terms=terms,
        rules=rules,
        exceptions=exceptions,
    )


def _semantic_checks(model: PolicyModel, own: PolicyModel, lines: dict[Loc, int], path: str) -> list[str]:
    """Checks on this file's own rules against the whole (merged) policy `model`. Locations point into this
    file; what a base defines was already checked when the base loaded."""
    from phiwall.detectors import DETECTOR_NAMES

    problems = []

    def at(loc: Loc, msg: str) -> None:
        problems.append(f"{path}:{_line_for(loc, lines) or '?'}: {_fmt(loc)}: {msg}")

    for name in own.detectors:
        if name not in DETECTOR_NAMES:
            at(("detectors", name), f"unknown detector; known detectors: {', '.join(sorted(DETECTOR_NAMES))}")
    rule_ids = {r.id for r in model.rules}
    for i, rule in enumerate(own.rules):
        loc_rule: Loc = ("rules", i)
        for d in rule.when.detectors or ():
            if d not in DETECTOR_NAMES and d != "adapter":
                at(
                    loc_rule + ("when", "detectors"),
                    f"unknown detector {d!r}; known: {', '.join(sorted(DETECTOR_NAMES))}, adapter",
                )
    for i, x in enumerate(own.exceptions):
        for rid in x.rules or ():
            if rid not in rule_ids:
                at(
                    ("exceptions", i, "rules"),
                    f"exception {x.id!r} names rule {rid!r}, which this policy does not have",
                )
    return problems


def load_policy(path: str | Path | None) -> PolicySource:
    """Load and validate a policy file (None: the embedded default), resolving `extends`.

    Raises:
        PolicyError: the file cannot be read or is invalid; the message lists every problem with file, line, field.
    """
    p = Path(path) if path else default_policy_path()
    try:
        text = p.read_text(encoding="utf-8")
    except OSError as e:
        raise PolicyError(f"{p}: cannot read policy file ({e.strerror})") from None
    return parse_policy_text(text, str(p))


# Wording that tells the person their message went through (a warning), or that it did not (a block).
_SAYS_WARN = re.compile(
    r"\b(warn(s|ed|ing)?|caution|be careful|double[- ]check|make sure|are you sure|was (sent|forwarded)|"
    r"went through|still sent|allowed)\b",
    re.IGNORECASE,
)
_SAYS_BLOCK = re.compile(r"\b(block(s|ed)?|stopp?(ed)?|not sent|refus(e|ed|es)|denied|never (left|reached))\b", re.I)


def message_advice(path: str | Path) -> list[str]:
    """Advice on a valid policy file that does not make it invalid: a block rule whose message reads as a warning
    (the person would believe their message went through) or a warn rule whose message says it was blocked."""
    text = Path(path).read_text(encoding="utf-8")
    doc, lines = _compose(text, str(path))
    own = _validate(doc, lines, str(path))
    out = []
    for i, rule in enumerate(own.rules):
        msg = rule.message or ""
        loc: Loc = ("rules", i, "message")
        where = f"{path}:{_line_for(loc, lines) or '?'}: {_fmt(loc)}"
        if rule.action == "block" and _SAYS_WARN.search(msg) and not _SAYS_BLOCK.search(msg):
            out.append(f"{where}: warning: rule {rule.id!r} blocks, but its message reads as a warning; say so")
        elif rule.action == "warn" and _SAYS_BLOCK.search(msg) and not _SAYS_WARN.search(msg):
            out.append(f"{where}: warning: rule {rule.id!r} warns, but its message says the request was blocked")
    return out
