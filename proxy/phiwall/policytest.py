"""`phiwall policy test`: OPA-style test cases shipped beside a policy, run through the real pipeline.

A cases file (`policies/tests/<policy>.cases.yaml`, or `<policy>.cases.yaml` beside the policy) names its policy
and lists cases; each case gives an input (text or a file, service, endpoint kind, user, groups, client, host) and
the expected verdict and rule ids. The runner builds the request's parts the way an adapter would (file bytes
are sniffed), runs the real detectors and the policy, and reports failures and coverage: the rules and exceptions
no case exercised, like `opa test --coverage`. Output never shows detected values, only kinds and counts.

```yaml
policy: ../personal.yaml          # relative to this file
cases:
  - name: ssn_in_chat_is_warned
    input: {text: "Synthetic patient SSN 219-09-9999", service: openai_api, endpoint: chat}
    expect: {verdict: warn, rule_ids: [phi-text]}
```
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from dataclasses import field
from pathlib import Path
from typing import Any
from typing import Literal

import yaml
from pydantic import BaseModel
from pydantic import ConfigDict
from pydantic import Field
from pydantic import ValidationError

from phiwall.errors import PolicyError
from phiwall.extractors import SERVICE_NAMES
from phiwall.extractors import service_by_name
from phiwall.extractors.base import PartCollector
from phiwall.identity import Requester
from phiwall.model import EndpointKind
from phiwall.model import Finding
from phiwall.model import Locator
from phiwall.model import Part
from phiwall.model import PartKind
from phiwall.policy import Policy
from phiwall.policy import PolicySource
from phiwall.policy import load_policy

CASES_SUFFIX = ".cases.yaml"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class DeclaredPart(_Strict):
    """A part given by its description only (no bytes, so no detector runs on it): for policy logic tests whose
    evidence comes from `findings`, e.g. detectors that are tested elsewhere or need a trained model."""

    kind: Literal["text", "file"] = "file"
    media_type: str | None = None
    where: str = "multipart:file"  # the locator as Locator.describe() prints it: "archive:scans/1.dcm"
    in_container: bool = False


class DeclaredFinding(_Strict):
    """Evidence given directly (as design §10's cases do): PHI-free by construction."""

    entity: str
    detector: str = "test"
    part: int = 0  # index into the case's parts: texts first, then files, then declared parts
    score: float = Field(1.0, ge=0.0, le=1.0)
    modality: str | None = None
    attrs: dict[str, str] = Field(default_factory=dict)


class CaseInput(_Strict):
    text: str | list[str] | None = None
    file: str | list[str] | None = Field(None, description="Path(s) relative to the cases file.")
    service: str = "openai_api"
    endpoint: Literal["chat", "upload", "other"] | None = None  # default: upload when a file is given, else chat
    endpoint_name: str = "policy-test"
    host: str | None = None  # default: the service's first literal host
    user: str | None = None
    groups: list[str] = Field(default_factory=list)
    client: str = "127.0.0.1"
    parts: list[DeclaredPart] = Field(default_factory=list)
    findings: list[DeclaredFinding] = Field(default_factory=list)


class CaseExpect(_Strict):
    verdict: Literal["allow", "warn", "deidentify", "block"]
    rule_ids: list[str] | None = None  # exact set of fired rules and applied exceptions ("exception:<id>")


class Case(_Strict):
    name: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
    description: str = ""
    input: CaseInput
    expect: CaseExpect


class CasesFile(_Strict):
    policy: str | None = None
    cases: list[Case]


@dataclass
class CaseResult:
    name: str
    ok: bool
    verdict: str
    rule_ids: tuple[str, ...]
    expected_verdict: str
    expected_rule_ids: tuple[str, ...] | None
    entity_counts: dict[str, int]
    error: str | None = None

    def describe_failure(self) -> str:
        want = self.expected_verdict
        if self.expected_rule_ids is not None:
            want += f" {sorted(self.expected_rule_ids)}"
        got = f"{self.verdict} {sorted(self.rule_ids)}"
        found = ", ".join(f"{k}×{v}" for k, v in self.entity_counts.items()) or "no findings"
        return f"expected {want}, got {got} (found: {found})" + (f"; {self.error}" if self.error else "")


@dataclass
class SuiteResult:
    cases_file: str
    policy_path: str
    policy_id: str
    results: list[CaseResult] = field(default_factory=list)
    rule_ids: tuple[str, ...] = ()  # every rule and exception ("exception:<id>") of the policy
    error: str | None = None  # the cases file or its policy could not be loaded

    @property
    def covered(self) -> set[str]:
        return {r for res in self.results for r in res.rule_ids}

    @property
    def uncovered(self) -> list[str]:
        return [r for r in self.rule_ids if r not in self.covered]

    @property
    def failed(self) -> list[CaseResult]:
        return [r for r in self.results if not r.ok]


def find_cases(root: Path) -> list[Path]:
    """Every `*.cases.yaml` under `root` (or `root` itself when it is a cases file), sorted."""
    if root.is_file():
        return [root]
    return sorted(p for p in root.rglob(f"*{CASES_SUFFIX}") if p.is_file())


def policy_for(cases_path: Path, declared: str | None) -> Path:
    """The policy a cases file tests: its `policy:` key, else `<name>.yaml` beside it or one folder up."""
    if declared:
        return (cases_path.parent / declared).resolve()
    stem = cases_path.name[: -len(CASES_SUFFIX)]
    for cand in (cases_path.parent / f"{stem}.yaml", cases_path.parent.parent / f"{stem}.yaml"):
        if cand.exists():
            return cand.resolve()
    raise PolicyError(f"{cases_path}: no 'policy:' key and no {stem}.yaml beside it or one folder up; add 'policy:'")


def load_cases(path: Path) -> CasesFile:
    """Read and validate a cases file. Raises PolicyError naming the file and the field."""
    try:
        doc = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as e:
        raise PolicyError(f"{path}: cannot read cases file: {e}") from None
    if isinstance(doc, list):
        doc = {"cases": doc}
    try:
        cf = CasesFile.model_validate(doc)
    except ValidationError as e:
        problems = []
        for err in e.errors():
            loc = ".".join(str(p) for p in err["loc"])
            problems.append(f"{path}: {loc}: {err['msg']}")
        raise PolicyError("\n".join(problems)) from None
    names = [c.name for c in cf.cases]
    dup = sorted({n for n in names if names.count(n) > 1})
    if dup:
        raise PolicyError(f"{path}: case names must be unique; used twice: {', '.join(dup)}")
    for c in cf.cases:
        if c.input.service not in SERVICE_NAMES:
            raise PolicyError(
                f"{path}: case {c.name}: unknown service {c.input.service!r}; known: {', '.join(sorted(SERVICE_NAMES))}"
            )
        if c.input.text is None and c.input.file is None and not c.input.parts:
            raise PolicyError(f"{path}: case {c.name}: input needs 'text', 'file' or 'parts'")
        n_parts = len(_as_list(c.input.text)) + len(_as_list(c.input.file)) + len(c.input.parts)
        for f in c.input.findings:
            if not 0 <= f.part < n_parts:
                raise PolicyError(f"{path}: case {c.name}: a finding names part {f.part}, the case has {n_parts}")
    return cf


def default_host(service: str) -> str:
    """A concrete host of a service (its first host without a wildcard), for cases that do not name one."""
    s = service_by_name(service)
    if s is None:
        return ""
    return next((h for h in s.hosts if "*" not in h), s.hosts[0].replace("*.", "x."))


def _as_list(v: str | list[str] | None) -> list[str]:
    return [] if v is None else [v] if isinstance(v, str) else list(v)


class PolicyTester:
    """Runs cases; pipelines (detector engines are expensive) are cached per policy content."""

    def __init__(self) -> None:
        self._pipelines: dict[str, Any] = {}

    def pipeline(self, source: PolicySource) -> Any:
        from phiwall.pipeline import Pipeline

        p = self._pipelines.get(source.sha256)
        if p is None:
            p = self._pipelines[source.sha256] = Pipeline(Policy(source))
        return p

    def run_file(self, cases_path: Path) -> SuiteResult:
        try:
            cf = load_cases(cases_path)
            policy_path = policy_for(cases_path, cf.policy)
            source = load_policy(policy_path)
        except PolicyError as e:
            return SuiteResult(str(cases_path), "", "", error=str(e))
        m = source.model
        ids = tuple(r.id for r in m.rules) + tuple(f"exception:{x.id}" for x in m.exceptions)
        suite = SuiteResult(str(cases_path), str(policy_path), m.id, rule_ids=ids)
        pipe = self.pipeline(source)
        for case in cf.cases:
            suite.results.append(self.run_case(pipe, case, cases_path.parent))
        return suite

    def run_case(self, pipe: Any, case: Case, base: Path) -> CaseResult:
        inp = case.input
        exp = case.expect
        c = PartCollector()
        try:
            for t in _as_list(inp.text):
                c.text(t, Locator("json", ("messages", len(c.parts), "content"), "utf8"))
            for f in _as_list(inp.file):
                data = (base / f).read_bytes()
                c.file(data, Locator("multipart", ("file", len(c.parts)), "raw"), filename=Path(f).name)
        except OSError as e:
            return CaseResult(
                case.name, False, "error", (), exp.verdict, _ids(exp), {}, f"cannot read input: {e.strerror}"
            )
        for dp in inp.parts:
            container, _, inner = dp.where.partition(":")
            pid = f"p{len(c.parts)}"
            c.parts.append(
                Part(
                    pid,
                    PartKind(dp.kind),
                    Locator(container, tuple(inner.split(".")) if inner else ()),  # type: ignore[arg-type]
                    media_type=dp.media_type,
                    parent_id="p0" if dp.in_container else None,
                )
            )
        for i, df in enumerate(inp.findings):
            c.findings.append(
                Finding(
                    df.detector,
                    df.entity,
                    c.parts[df.part].id,
                    df.score,
                    modality=df.modality,
                    explanation=f"declared in case {case.name} #{i}",
                    attrs=tuple(sorted(df.attrs.items())),
                )
            )
        kind = EndpointKind(inp.endpoint or ("upload" if inp.file is not None else "chat"))
        envelope = c.envelope(inp.service, inp.endpoint_name, kind)
        who = Requester(
            client=inp.client,
            user=inp.user,
            groups=tuple(sorted(inp.groups)),
            host=inp.host or default_host(inp.service),
        )
        ins = pipe.inspect_envelope(envelope, who=who)
        d = ins.decision
        ok = str(d.verdict) == exp.verdict and (exp.rule_ids is None or set(exp.rule_ids) == set(d.rule_ids))
        return CaseResult(case.name, ok, str(d.verdict), d.rule_ids, exp.verdict, _ids(exp), d.entity_counts(), d.error)


def _ids(exp: CaseExpect) -> tuple[str, ...] | None:
    return tuple(exp.rule_ids) if exp.rule_ids is not None else None


def run(paths: list[Path]) -> Iterator[SuiteResult]:
    """Run every cases file found under `paths`."""
    tester = PolicyTester()
    for root in paths:
        for cases_path in find_cases(root):
            yield tester.run_file(cases_path)


def format_suite(s: SuiteResult, verbose: bool = False) -> str:
    """Human report for one cases file: failures, pass count, and coverage of rules and exceptions."""
    if s.error:
        return f"ERROR {s.cases_file}:\n{s.error}"
    lines = []
    for r in s.results:
        if not r.ok:
            lines.append(f"FAIL {s.policy_id}::{r.name}: {r.describe_failure()}")
        elif verbose:
            lines.append(f"PASS {s.policy_id}::{r.name}: {r.verdict} {sorted(r.rule_ids)}")
    n = len(s.results)
    cov = len(s.rule_ids) - len(s.uncovered)
    lines.append(
        f"{s.cases_file}: policy {s.policy_id}: {n - len(s.failed)}/{n} cases pass; "
        f"coverage {cov}/{len(s.rule_ids)} rules and exceptions"
    )
    if s.uncovered:
        lines.append("  not exercised by any case: " + ", ".join(s.uncovered))
    return "\n".join(lines)
