"""The issue 3 documents stay true as adapters and tests move.

- docs/coverage.md has no row without a test: every table row is parsed (cells split on unescaped pipes, so a
  regex like `backend-(api\\|anon)` in a cell does not hide the row), has its header's number of cells, names at
  least one test, and every named test exists (file, function, parametrize id). A test marked skip/xfail may only
  prove a "not yet" row. Every endpoint of every adapter's matcher table appears in the table.
- docs/services.md says, for every guarded service, what the person sees, and every "proven by" names tests that
  exist.
- docs/deployment.md's PAC example sends every guarded host to the proxy.
"""

from __future__ import annotations

import ast
import fnmatch
import re
import subprocess
import sys
from pathlib import Path

from phiwall.extractors import SERVICES

from tests.unit.extractors.test_every_endpoint import TABLES

ROOT = Path(__file__).resolve().parents[2]
DOCS = ROOT / "docs"
_CELL_SPLIT = re.compile(r"(?<!\\)\|")
_REF = re.compile(r"(tests/[\w/]+\.py)?::([A-Za-z_]\w*)(\[[^\]]*\])?")
_FILE = re.compile(r"tests/[\w/]+\.py")

Row = tuple[int, dict[str, str]]


def tables(path: Path) -> list[tuple[list[str], list[Row], list[str]]]:
    """Every markdown table in a file: (header, rows as {column: cell} with line numbers, problems)."""
    out: list[tuple[list[str], list[Row], list[str]]] = []
    lines = path.read_text().splitlines()
    i = 0
    while i < len(lines):
        if not lines[i].lstrip().startswith("|"):
            i += 1
            continue
        block = []
        while i < len(lines) and lines[i].lstrip().startswith("|"):
            block.append((i + 1, lines[i]))
            i += 1
        header = _cells(block[0][1])
        rows: list[Row] = []
        problems: list[str] = []
        for n, line in block[2:]:
            cells = _cells(line)
            if len(cells) != len(header):
                problems.append(f"{path.name}:{n}: {len(cells)} cells, the header has {len(header)}")
                continue
            rows.append((n, dict(zip(header, cells, strict=True))))
        out.append((header, rows, problems))
    return out


def _cells(line: str) -> list[str]:
    s = line.strip()
    s = s[1:] if s.startswith("|") else s
    s = s[:-1] if s.endswith("|") and not s.endswith("\\|") else s
    return [c.strip() for c in _CELL_SPLIT.split(s)]


def _functions(path: Path) -> dict[str, tuple[bool, str]]:
    """Test functions of a file: name -> (skipped or xfailed, source). A module-level `pytestmark` with skip/xfail
    counts for every function."""
    src = path.read_text()
    tree = ast.parse(src)
    module_skip = any(
        isinstance(n, ast.Assign)
        and any(isinstance(t, ast.Name) and t.id == "pytestmark" for t in n.targets)
        and _marks_skip(ast.unparse(n.value))
        for n in tree.body
    )
    out = {}
    for n in ast.walk(tree):
        if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef)):
            decorated = any(_marks_skip(ast.unparse(d)) for d in n.decorator_list)
            calls_skip = any(
                isinstance(c, ast.Call) and ast.unparse(c.func) in ("pytest.skip", "pytest.xfail") for c in ast.walk(n)
            )
            out[n.name] = (module_skip or decorated or calls_skip, src)
    return out


def _marks_skip(expr: str) -> bool:
    return bool(re.search(r"pytest\.mark\.(?:skip|skipif|xfail)\b", expr))


def check_refs(where: str, cell: str, status: str = "", root: Path = ROOT) -> tuple[int, list[str]]:
    """(number of tests named, problems) for one cell of test references."""
    problems: list[str] = []
    current: str | None = None
    found = 0
    for m in _REF.finditer(cell):
        current = m.group(1) or current
        name, param = m.group(2), m.group(3)
        if current is None:
            problems.append(f"{where}: '::{name}' without a file")
            continue
        path = root / current
        funcs = _functions(path) if path.is_file() else {}
        if name not in funcs:
            problems.append(f"{where}: {current}::{name} does not exist")
            continue
        found += 1
        skipped, src = funcs[name]
        if skipped and "not yet" not in status:
            problems.append(f"{where}: {current}::{name} is skipped or xfailed, so it proves nothing")
        if param:
            node = f"{current}::{name}{param}"
            if node not in _collected(current, root):
                problems.append(f"{where}: {node}: pytest collects no such parametrized test")
    return found, problems


_COLLECTED: dict[tuple[str, Path], frozenset[str]] = {}


def _collected(test_file: str, root: Path) -> frozenset[str]:
    """The node ids pytest collects from a test file (parametrize ids are built at collection time)."""
    key = (test_file, root)
    if key not in _COLLECTED:
        r = subprocess.run(
            [sys.executable, "-m", "pytest", "--collect-only", "-q", "-p", "no:cacheprovider", test_file],
            cwd=root,
            capture_output=True,
            text=True,
            timeout=120,
        )
        _COLLECTED[key] = frozenset(line.strip() for line in r.stdout.splitlines() if "::" in line)
    return _COLLECTED[key]


def test_coverage_table_rows_all_parse_and_name_existing_tests() -> None:
    problems: list[str] = []
    n_rows = 0
    for header, rows, parse_problems in tables(DOCS / "coverage.md"):
        if "test" not in header:
            continue
        problems += parse_problems
        for line, row in rows:
            n_rows += 1
            where = f"coverage.md:{line} ({row.get('service', '')} | {row.get('endpoint', '')[:40]})"
            found, ps = check_refs(where, row["test"], row.get("status", ""))
            problems += ps
            if not found:
                problems.append(f"{where}: no test named")
    assert n_rows >= 60, n_rows
    assert not problems, "\n".join(problems)


def test_sdk_acceptance_matrix_has_a_test_in_every_cell() -> None:
    """Issue 3 acceptance 1: for each SDK and surface, a DICOM, an X-ray PNG and PHI are stopped and a benign
    request passes; every cell of that matrix names tests that exist and run."""
    problems: list[str] = []
    matrices = [(h, rows, ps) for h, rows, ps in tables(DOCS / "coverage.md") if "benign" in h]
    assert matrices, "coverage.md has no SDK acceptance matrix"
    surfaces = set()
    for _header, rows, parse_problems in matrices:
        problems += parse_problems
        for line, row in rows:
            surfaces.add((row["SDK"], row["surface"].split(" ")[0]))
            for col in ("DICOM", "X-ray PNG", "PHI", "benign"):
                found, ps = check_refs(f"coverage.md:{line} ({row['SDK']} {row['surface']} / {col})", row[col])
                problems += ps if found else [*ps, f"coverage.md:{line}: {row['SDK']} {row['surface']}: no {col} test"]
    wanted = {
        ("openai", "chat.completions"),
        ("openai", "responses"),
        ("openai", "files.create"),
        ("openai", "uploads"),
        ("google-genai", "generate_content"),
        ("google-genai", "files.upload"),
        ("anthropic", "messages"),
        ("anthropic", "beta.files.upload"),
        ("xai-sdk", "chat"),
        ("xai-sdk", "files.upload"),
    }
    assert wanted <= surfaces, f"surfaces the issue names but the matrix lacks: {sorted(wanted - surfaces)}"
    assert not problems, "\n".join(problems)


def test_every_matcher_table_endpoint_has_a_coverage_row() -> None:
    tokens: set[str] = set()
    for header, rows, _ in tables(DOCS / "coverage.md"):
        if "endpoint" in header:
            for _, row in rows:
                tokens.update(t for t in re.split(r"[\s,;`()/→+]+", row["endpoint"]) if t)
    missing = [f"{t}:{n}" for t, names in TABLES.items() for n in names if n not in tokens]
    assert not missing, f"endpoints with no docs/coverage.md row: {missing}"


def test_the_checker_catches_what_it_should(tmp_path: Path) -> None:
    """The parser does not skip a row with an escaped pipe, a short row is reported, and a missing, skipped or
    xfailed test is reported (an xfail may only prove a "not yet" row)."""
    doc = tmp_path / "c.md"
    doc.write_text(
        "| service | endpoint | part | status | test |\n|---|---|---|---|---|\n"
        "| A | `/backend-(api\\|anon)/x` | text | caught | tests/unit/test_coverage_doc.py::no_such_test |\n"
        "| B | x | text | caught |\n"
    )
    [(_, rows, problems)] = tables(doc)
    assert len(rows) == 1 and rows[0][1]["endpoint"] == "`/backend-(api\\|anon)/x`"
    assert problems and "4 cells" in problems[0]
    _, ps = check_refs("A", rows[0][1]["test"])
    assert ps and "does not exist" in ps[0]
    t = tmp_path / "tests" / "t.py"
    t.parent.mkdir()
    t.write_text(
        "import pytest\n\n\n@pytest.mark.xfail(strict=True)\ndef test_x() -> None:\n    pass\n\n\n"
        "def test_y() -> None:\n    pytest.skip('later')\n\n\ndef test_z() -> None:\n    pass\n"
    )
    found, ps = check_refs("x", "tests/t.py::test_x, ::test_y, ::test_z", "caught", root=tmp_path)
    assert found == 3 and len(ps) == 2 and all("skipped or xfailed" in p for p in ps)
    assert check_refs("x", "tests/t.py::test_x", "not yet", root=tmp_path) == (1, [])


def test_services_doc_says_what_each_service_shows_and_proves_it() -> None:
    problems: list[str] = []
    seen: set[str] = set()
    for header, rows, parse_problems in tables(DOCS / "services.md"):
        if "proven by" not in header:
            continue
        problems += parse_problems
        for line, row in rows:
            seen.update(re.findall(r"`([a-z_]+)`", row[header[0]]))
            cell = row["proven by"]
            files = _FILE.findall(cell)
            if not files:
                problems.append(f"services.md:{line}: no test named")
            for f in files:
                if not (ROOT / f).is_file():
                    problems.append(f"services.md:{line}: {f} does not exist")
            problems += check_refs(f"services.md:{line}", cell)[1]
    missing = [s.name for s in SERVICES if s.name not in seen]
    assert not missing, f"services with no 'what the person sees' row in docs/services.md: {missing}"
    assert not problems, "\n".join(problems)


def test_pac_example_sends_every_guarded_host_to_the_proxy() -> None:
    text = (DOCS / "deployment.md").read_text()
    m = re.search(r"var guarded = \[(.*?)\];", text, re.DOTALL)
    assert m, "deployment.md has no PAC example"
    pac = re.findall(r'"([^"]+)"', m.group(1))
    missing = [g for s in SERVICES for g in s.hosts if not any(fnmatch.fnmatchcase(g, p) for p in pac)]
    assert not missing, f"guarded hosts the PAC example would send DIRECT: {missing}"
