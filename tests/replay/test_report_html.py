"""The HTML replay report, rendered by headless Chromium: its tables and charts show the JSON report's numbers."""

from __future__ import annotations

import json
import shutil
import subprocess
from collections import Counter
from html.parser import HTMLParser
from pathlib import Path

import pytest
from phiwall.cli import main

from tests.replay.traffic import make_requests
from tests.replay.traffic import write_har

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
pytestmark = pytest.mark.skipif(CHROMIUM is None, reason="headless Chromium not installed (apt-get install chromium)")


class Dom(HTMLParser):
    """Collects the rendered elements the test checks: bars, table rows and their cells."""

    def __init__(self) -> None:
        super().__init__()
        self.bars: list[tuple[str, dict[str, str]]] = []  # (chart id, attributes)
        self.rows: dict[str, list[list[str]]] = {}
        self._chart: str | None = None
        self._table: str | None = None
        self._cell: list[str] | None = None
        self.body: dict[str, str] = {}

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: v or "" for k, v in attrs}
        if tag == "body":
            self.body = a
        if tag == "div" and a.get("class") == "chart":
            self._chart = a["id"]
        if tag == "rect" and "bar" in a.get("class", ""):
            self.bars.append((self._chart or "", a))
        if tag == "table":
            self._table = a.get("id")
            self.rows[self._table or ""] = []
        if tag == "tr" and self._table:
            self.rows[self._table].append([])
        if tag == "td":
            self._cell = []

    def handle_endtag(self, tag: str) -> None:
        if tag == "td" and self._cell is not None and self._table:
            self.rows[self._table][-1].append("".join(self._cell))
            self._cell = None
        if tag == "table":
            self._table = None

    def handle_data(self, data: str) -> None:
        if self._cell is not None:
            self._cell.append(data)


def render(html_file: Path, tmp_path: Path) -> Dom:
    assert CHROMIUM is not None
    proc = subprocess.run(
        [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
         "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-dev-shm-usage",
         f"--user-data-dir={tmp_path / 'chromium-profile'}", "--virtual-time-budget=5000", "--dump-dom",
         html_file.as_uri()],
        capture_output=True, text=True, timeout=90,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-2000:]
    dom = Dom()
    dom.feed(proc.stdout)
    return dom


def test_html_report_renders_the_json_numbers(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    har = tmp_path / "t.har"
    write_har(har, make_requests(120, seed=9))
    page, report = tmp_path / "report.html", tmp_path / "report.json"
    assert main(["replay", "--html", str(page), "--report", str(report), str(har)]) == 0
    capsys.readouterr()
    text = page.read_text()
    assert "http://" not in text.replace("http://www.w3.org/2000/svg", "") and "https://cdn" not in text
    doc = json.loads(report.read_text())
    dom = render(page, tmp_path)
    assert dom.body.get("data-rendered") == "yes"
    # the verdict table
    assert {r[0]: int(r[1]) for r in dom.rows["totals"] if r} == doc["totals"]["by_verdict"]
    # verdicts by service: one bar per (service, verdict) with the report's count
    svc = {(a["data-group"], a["data-verdict"]): int(a["data-value"]) for c, a in dom.bars if c == "chart-service"}
    want = {(s, v): n for s, vs in doc["totals"]["by_service"].items() for v, n in vs.items()}
    assert svc == want
    # by rule: bars add up to the number of requests each rule fired on
    by_rule: Counter[str] = Counter()
    for c, a in dom.bars:
        if c == "chart-rule":
            by_rule[a["data-group"]] += int(a["data-value"])
    assert dict(by_rule) == doc["totals"]["by_rule"]
    # over time: every timestamped request is in exactly one bar
    over_time = sum(int(a["data-value"]) for c, a in dom.bars if c == "chart-time")
    assert over_time == sum(1 for r in doc["requests"] if r["ts"])
    # the request table: one row per request, verdicts in order
    rows = [r for r in dom.rows["requests"] if r]
    assert [(int(r[0]), r[1]) for r in rows] == [(r["index"], r["verdict"]) for r in doc["requests"]]
