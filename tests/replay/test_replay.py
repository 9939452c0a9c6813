"""`phiwall replay` on 1,000 recorded requests (HAR and flow file): fast, offline, PHI-free, and consistent."""

from __future__ import annotations

import json
import socket
import time
from collections import Counter
from pathlib import Path

import pytest
from phiwall import replay as rp
from phiwall.cli import main
from phiwall.policy import load_policy

from tests.replay.traffic import PHI
from tests.replay.traffic import make_requests
from tests.replay.traffic import write_flows
from tests.replay.traffic import write_har

POLICIES = Path(__file__).parents[2] / "policies"
SYNTHETIC_VALUES = ["John Smith", "078-05-1120", "Maria Gonzalez", "4455667", "Robert Chen", "Elm Street", "SIGNATURE"]


def test_network_guard_works(no_network: list[object]) -> None:
    with pytest.raises(AssertionError):
        socket.create_connection(("127.0.0.1", 9))
    no_network.clear()


def test_replay_1000_requests_offline_under_60s(
    recordings: tuple[Path, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str], no_network: list[object]
) -> None:
    har, flows = recordings
    report = tmp_path / "report.json"
    t0 = time.perf_counter()
    rc = main(["replay", "--json", "--no-progress", "--report", str(report), str(har), str(flows)])
    elapsed = time.perf_counter() - t0
    out = capsys.readouterr().out
    assert rc == 0
    assert elapsed < 60, f"replay of 2 x 1,000 requests took {elapsed:.1f} s"
    rows = [json.loads(line) for line in out.splitlines()]
    assert len(rows) == 2000 and [r["index"] for r in rows] == list(range(2000))
    for r in rows:
        assert {"url", "method", "service", "verdict", "rule_ids", "findings"} <= set(r)
        assert all(isinstance(v, int) for v in r["findings"].values())
    # the HAR and the flow file hold the same requests: same verdicts, rule ids and findings, request by request
    strip = [(r["url"], r["method"], r["service"], r["verdict"], r["rule_ids"], r["findings"]) for r in rows]
    assert strip[:1000] == strip[1000:]
    verdicts = Counter(r["verdict"] for r in rows[:1000])
    assert verdicts["block"] > 100 and verdicts["allow"] > 100 and verdicts["passthrough"] > 50
    assert {r["service"] for r in rows} >= {"openai_api", "chatgpt_web", "chatgpt_files", "anthropic_api", "gemini_api"}
    # no PHI and no signed-URL query strings anywhere in the outputs
    whole = out + report.read_text()
    assert not [v for v in SYNTHETIC_VALUES if v in whole]
    doc = json.loads(report.read_text())
    assert doc["totals"]["by_verdict"] == dict(sorted(Counter(r["verdict"] for r in rows).items()))
    print(f"replay: 2 x 1,000 requests in {elapsed:.1f} s")


def test_verdicts_match_the_request_content(tmp_path: Path, no_network: list[object]) -> None:
    """Each synthetic PHI chat is blocked by a text rule, each DICOM upload by dicom-file, clean chats pass."""
    reqs = make_requests(300, seed=3)
    write_flows(tmp_path / "t.mitm", reqs)
    rows = rp.replay(rp.read_inputs([tmp_path / "t.mitm"]), rp.Replayer(load_policy(None)))["requests"]
    for req, row in zip(reqs, rows, strict=True):
        if req.kind == "unguarded":
            assert row["verdict"] == "passthrough" and row["service"] is None
        elif req.kind in ("openai-file", "chatgpt-blob"):
            assert row["verdict"] == "block" and "dicom-file" in row["rule_ids"], row
        elif req.kind == "get":
            assert row["verdict"] == "allow"
        else:
            has_phi = any(p.encode() in req.body for p in PHI) or any(
                json.dumps(p).encode()[1:-1] in req.body for p in PHI
            )
            assert (row["verdict"] == "block") is has_phi, (req.kind, row)


def test_compare_lists_exactly_the_changed_requests(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], no_network: list[object]
) -> None:
    har = tmp_path / "small.har"
    write_har(har, make_requests(60, seed=11))
    rc = main(["replay", "--policy", str(POLICIES / "default.yaml"), "--compare", str(POLICIES / "personal.yaml"),
               "--report", str(tmp_path / "r.json"), str(har)])  # fmt: skip
    table = capsys.readouterr().out
    assert rc == 0
    doc = json.loads((tmp_path / "r.json").read_text())
    changed = [r["index"] for r in doc["requests"] if r["verdict"] != r["compare"]["verdict"]]
    assert changed and [c["index"] for c in doc["compare"]["changes"]] == changed
    # default blocks PHI text, personal only warns: every change is block -> warn on a text rule
    assert {(c["verdict"], c["other_verdict"]) for c in doc["compare"]["changes"]} == {("block", "warn")}
    assert f"{len(changed)} requests change verdict" in table


def test_unreadable_input_is_a_clear_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad = tmp_path / "x.har"
    bad.write_text("{not json")
    assert main(["replay", str(bad)]) == 2
    assert "not a HAR file" in capsys.readouterr().err
