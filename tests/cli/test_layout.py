"""Issue 2, deliverable 1 and 2, checked on the tree itself: the design card's layout, the install metadata, the
README's links and commands, every directly imported package declared, and mitmproxy's `ctx` confined to the
addon. Cheap static checks that fail the moment someone breaks one of these promises."""

from __future__ import annotations

import ast
import re
import sys
import tomllib
from importlib import metadata
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
PYPROJECT = tomllib.loads((REPO / "pyproject.toml").read_text())


def _requirement_names(reqs: list[str]) -> set[str]:
    return {re.split(r"[\s<>=!~;\[]", r, maxsplit=1)[0].lower().replace("_", "-") for r in reqs}


def _third_party_imports(root: Path) -> dict[str, set[str]]:
    """Top-level module names imported anywhere under `root` (outside the stdlib and phiwall/tests)."""
    found: dict[str, set[str]] = {}
    for f in root.rglob("*.py"):
        for node in ast.walk(ast.parse(f.read_text(encoding="utf-8"), str(f))):
            names: list[str] = []
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [node.module]
            for n in names:
                top = n.split(".")[0]
                if top not in sys.stdlib_module_names and top not in ("phiwall", "tests", "__future__"):
                    found.setdefault(top, set()).add(str(f.relative_to(REPO)))
    return found


def _undeclared(imports: dict[str, set[str]], declared: set[str]) -> dict[str, list[str]]:
    dists = metadata.packages_distributions()
    missing = {}
    for mod, files in sorted(imports.items()):
        owners = {d.lower().replace("_", "-") for d in dists.get(mod, [])}
        if not owners & declared:
            missing[f"{mod} (from {sorted(owners) or 'not installed'})"] = sorted(files)[:3]
    return missing


def test_top_level_layout() -> None:
    for name in ("pyproject.toml", "proxy/phiwall/__init__.py", "addons", "policies/default.yaml", "tests", "bench"):
        assert (REPO / name).exists(), name
    for name in ("docker-compose.yml", "docs", "scripts/quickstart.sh", "scripts/test.sh", ".ci/run"):
        assert (REPO / name).exists(), name
    assert not (REPO / "proxy" / "__init__.py").exists(), "proxy/ is a source root, not a package named proxy"


def test_install_metadata() -> None:
    project = PYPROJECT["project"]
    assert project["requires-python"] == ">=3.12"
    mitm = next(d for d in project["dependencies"] if d.startswith("mitmproxy"))
    assert ">=12" in mitm and "<13" in mitm, mitm  # 11.x pins a vulnerable h11 (docs/decisions.md)
    assert project["scripts"]["phiwall"] == "phiwall.cli:main"
    assert PYPROJECT["tool"]["setuptools"]["packages"]["find"]["where"] == ["proxy"]


def test_ci_runs_exactly_the_readme_test_command() -> None:
    readme = (REPO / "README.md").read_text()
    assert "scripts/quickstart.sh" in readme and "scripts/test.sh" in readme
    ci = [line for line in (REPO / ".ci" / "run").read_text().splitlines() if line and not line.startswith("#")]
    assert ci[-1] == "exec bash scripts/test.sh", ci


def test_readme_links_exist() -> None:
    readme = (REPO / "README.md").read_text()
    links = re.findall(r"\]\(([^)#\s]+)\)", readme)
    assert links
    missing = [ln for ln in links if "://" not in ln and not (REPO / ln).exists()]
    assert not missing, f"README links to missing files: {missing}"


def test_every_directly_imported_package_is_declared() -> None:
    """What proxy/ imports is a runtime dependency; what tests/ and bench/ import is a runtime or test one.
    A package that only arrives through another's dependencies can vanish on the next upgrade (mitmproxy 12.3
    dropped zstandard that way)."""
    runtime = _requirement_names(PYPROJECT["project"]["dependencies"])
    test = runtime | _requirement_names(PYPROJECT["project"]["optional-dependencies"]["test"])
    proxy_imports = _third_party_imports(REPO / "proxy")
    assert not _undeclared(proxy_imports, runtime)
    # scikit-learn is a test (and training) dependency only: the proxy runs the exported trees with numpy.
    assert "scikit-learn" in test - runtime and "sklearn" not in proxy_imports, proxy_imports.get("sklearn")
    imports = _third_party_imports(REPO / "tests") | _third_party_imports(REPO / "bench")
    # Scripts of this repository put on sys.path where imported (training/, bench/), not packages.
    for script in ("train_medical_image", "quality_deid", "bench_proxy"):
        imports.pop(script, None)
    assert not _undeclared(imports, test)


# The mitmproxy addons (each registered by mitm_entry.py) may read `ctx`; nothing else may.
_ADDON_MODULES = ("addon", "deadlines", "mitm_plain", "bodylimit")


def test_only_the_addon_touches_mitmproxy_ctx() -> None:
    """Nothing below the addons reads mitmproxy's global `ctx`: the pipeline runs in workers, scan and replay."""
    entry = (REPO / "proxy" / "phiwall" / "mitm_entry.py").read_text(encoding="utf-8")
    entry += (REPO / "addons" / "phiwall.py").read_text(encoding="utf-8")
    for name in _ADDON_MODULES:
        assert f"phiwall.{name} import" in entry or f"phiwall import {name}" in entry, f"{name} is not an addon"
    offenders = []
    for f in (REPO / "proxy" / "phiwall").rglob("*.py"):
        if f.stem in _ADDON_MODULES and f.parent.name == "phiwall":
            continue
        tree = ast.parse(f.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("mitmproxy"):
                if any(a.name == "ctx" for a in node.names) or node.module == "mitmproxy.ctx":
                    offenders.append(str(f.relative_to(REPO)))
            elif isinstance(node, ast.Import) and any(a.name == "mitmproxy.ctx" for a in node.names):
                offenders.append(str(f.relative_to(REPO)))
    assert not offenders, offenders


_REPO_PATH = re.compile(
    r"\b(?:tests|docs|policies|proxy|bench|scripts)/[A-Za-z0-9_./-]+\.(?:har|json|jsonl|yaml|yml|md|py|sh|flow|dcm|png)\b"
)


def test_files_named_in_docstrings_and_comments_exist() -> None:
    """A docstring that sends the reader to a renamed fixture (tests/replay/traffic.py once named
    `chatgpt_upload.json` after it became a HAR) is worse than none. Only docstrings and comments are checked:
    string literals in code may name files a test creates."""
    import io
    import tokenize

    missing = []
    for root in ("proxy", "tests", "bench"):
        for f in sorted((REPO / root).rglob("*.py")):
            for tok in tokenize.generate_tokens(io.StringIO(f.read_text(encoding="utf-8")).readline):
                prose = tok.type == tokenize.COMMENT or (
                    tok.type == tokenize.STRING and tok.string.lstrip("rbuRBU").startswith(('"""', "'''"))
                )
                if prose:
                    missing += [f"{f.relative_to(REPO)}: {p}" for p in _REPO_PATH.findall(tok.string)]
    missing = [m for m in missing if not (REPO / m.split(": ", 1)[1]).exists()]
    assert not missing, missing
