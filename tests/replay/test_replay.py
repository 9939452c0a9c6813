"""`phiwall replay` on 1,000 recorded requests (HAR and flow file): fast, offline, PHI-free, and consistent; it
runs the real addon, so multi-request uploads, WebSocket chats and the body-size limit get the proxy's verdicts."""

from __future__ import annotations

import json
import socket
import subprocess
import time
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from phiwall import replay as rp
from phiwall.cli import main
from phiwall.policy import load_policy

from tests.replay.conftest import Recordings
from tests.replay.traffic import PHI
from tests.replay.traffic import SIGNATURE
from tests.replay.traffic import make_requests
from tests.replay.traffic import write_flows
from tests.replay.traffic import write_har

POLICIES = Path(__file__).parents[2] / "policies"
SYNTHETIC_VALUES = ["John Smith", "078-05-1120", "078-05", "Maria Gonzalez", "4455667", "Robert Chen", "Elm Street",
                    SIGNATURE, "Clinic opening hours"]  # fmt: skip


def test_network_guard_works(no_network: list[str]) -> None:
    """The guard the replay tests rely on sees connections, name lookups and child processes."""
    with pytest.raises(AssertionError):
        socket.create_connection(("127.0.0.1", 9))
    with pytest.raises(AssertionError):
        socket.getaddrinfo("example.org", 443)
    with pytest.raises(AssertionError):
        subprocess.run(["true"], check=False)
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s, pytest.raises(AssertionError):
        s.sendto(b"x", ("127.0.0.1", 9))
    assert len(no_network) == 4
    no_network.clear()


def _run_cli(args: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[float, list[dict[str, Any]]]:
    t0 = time.perf_counter()
    rc = main(args)
    elapsed = time.perf_counter() - t0
    out = capsys.readouterr().out
    assert rc == 0
    return elapsed, [json.loads(line) for line in out.splitlines()]


def test_replay_1000_requests_offline_under_60s(
    recordings: Recordings, tmp_path: Path, capsys: pytest.CaptureFixture[str], no_network: list[str]
) -> None:
    reports = {}
    rows = {}
    times = {}
    for name, path in (("har", recordings.har), ("flows", recordings.flows)):
        reports[name] = tmp_path / f"{name}.json"
        elapsed, rows[name] = _run_cli(["replay", "--json", "--no-progress", "--report", str(reports[name]), str(path)],
                                       capsys)  # fmt: skip
        times[name] = elapsed
    for name, elapsed in times.items():
        assert elapsed < 60, f"replay of 1,000 requests ({name}) took {elapsed:.1f} s"
    for name, rs in rows.items():
        assert len(rs) == 1000 and [r["index"] for r in rs] == list(range(1000)), name
        for r in rs:
            assert {"url", "method", "service", "verdict", "rule_ids", "findings"} <= set(r)
            assert all(isinstance(v, int) for v in r["findings"].values())
    # the HAR and the flow file hold the same requests: same verdicts, rule ids and findings, request by request
    strip = {n: [(r["url"], r["method"], r["service"], r["verdict"], r["rule_ids"], r["findings"]) for r in rs]
             for n, rs in rows.items()}  # fmt: skip
    assert strip["har"] == strip["flows"]
    verdicts = Counter(r["verdict"] for r in rows["flows"])
    assert verdicts["block"] > 100 and verdicts["allow"] > 100 and verdicts["passthrough"] > 50
    assert {r["service"] for r in rows["flows"]} >= {"openai_api", "chatgpt_web", "chatgpt_files", "anthropic_api",
                                                     "gemini_api"}  # fmt: skip
    # no PHI and no signed-URL query strings anywhere in the outputs
    for name, path in reports.items():
        whole = json.dumps(rows[name]) + path.read_text()
        assert not [v for v in SYNTHETIC_VALUES if v in whole]
        doc = json.loads(path.read_text())
        assert doc["totals"]["by_verdict"] == dict(sorted(Counter(r["verdict"] for r in rows[name]).items()))
        assert doc["requests"] == rows[name]
    print("replay of 1,000 requests: " + ", ".join(f"{n} {t:.1f} s" for n, t in times.items()))


def test_verdicts_match_the_request_content(tmp_path: Path, no_network: list[str]) -> None:
    """Each synthetic PHI chat is blocked by a text rule, each DICOM upload by dicom-file, clean chats pass, and
    every step of a multi-request upload gets what the proxy gives it: a Gemini upload whose SSN is split across
    two chunks is blocked at the finalizing chunk (judged on the whole file), and after a ChatGPT blob PUT is
    blocked, the requests naming its file id are blocked as references to it."""
    reqs = make_requests(300, seed=3)
    write_flows(tmp_path / "t.mitm", reqs)
    rows = rp.replay(rp.read_inputs([tmp_path / "t.mitm"]), rp.Replayer(load_policy(None)))["requests"]
    kinds: Counter[str] = Counter()
    for req, row in zip(reqs, rows, strict=True):
        kinds[req.kind] += 1
        if req.expect is not None:
            verdict, rule = req.expect
            assert row["verdict"] == verdict and (rule is None or rule in row["rule_ids"]), (req.kind, row)
        elif req.kind == "unguarded":
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
    assert {"gemini-split-ssn-chunk", "gemini-dicom-chunk", "chatgpt-dicom-conversation", "chatgpt-benign-put"} <= set(
        kinds
    )
    split = [r for q, r in zip(reqs, rows, strict=True) if q.kind == "gemini-split-ssn-chunk"]
    assert split and all("judged when the upload completes" in r["note"] for r in split[0::2])
    assert all(r["findings"] and "error" not in r for r in split[1::2])  # the number, found in the whole file


def test_compare_lists_exactly_the_changed_requests(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], no_network: list[str]
) -> None:
    har = tmp_path / "small.har"
    write_har(har, make_requests(60, seed=11))
    rc = main(["replay", "--policy", str(POLICIES / "default.yaml"), "--compare", str(POLICIES / "personal.yaml"),
               "--report", str(tmp_path / "r.json"), str(har)])  # fmt: skip
    table = capsys.readouterr().out
    assert rc == 0
    doc = json.loads((tmp_path / "r.json").read_text())
    # each policy replayed on its own: the same rows as a plain replay with that policy
    alone = rp.replay(rp.read_inputs([har]), rp.Replayer(load_policy(POLICIES / "personal.yaml")))["requests"]
    assert [r["compare"]["verdict"] for r in doc["requests"]] == [r["verdict"] for r in alone]
    changed = [r["index"] for r in doc["requests"] if r["verdict"] != r["compare"]["verdict"]]
    assert changed and [c["index"] for c in doc["compare"]["changes"]] == changed
    # default blocks PHI text, personal de-identifies it: every change is block -> deidentify on a text rule
    assert {(c["verdict"], c["other_verdict"]) for c in doc["compare"]["changes"]} == {("block", "deidentify")}
    assert all("phi-text" in c["other_rule_ids"] for c in doc["compare"]["changes"])
    assert f"{len(changed)} requests change verdict" in table
    listed = [int(line.split()[0]) for line in table.split("requests change verdict", 1)[1].splitlines()[1:]]
    assert listed == changed
    assert doc["compare"]["totals"]["by_verdict"] == dict(sorted(Counter(r["verdict"] for r in alone).items()))


def test_compare_of_a_policy_with_itself_changes_nothing(
    recordings: Recordings, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    small = tmp_path / "s.mitm"
    write_flows(small, recordings.requests[:120])
    assert main(["replay", "--compare", str(POLICIES / "default.yaml"), "--report", str(tmp_path / "r.json"),
                 str(small)]) == 0  # fmt: skip
    capsys.readouterr()
    assert json.loads((tmp_path / "r.json").read_text())["compare"]["changes"] == []


def test_progress_bar_on_long_inputs(
    recordings: Recordings, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Deliver 4: a progress bar on long inputs (on stderr, so --json output stays clean)."""
    small = tmp_path / "s.mitm"
    write_flows(small, recordings.requests[:40])
    assert main(["replay", "--json", "--progress", str(small)]) == 0
    cap = capsys.readouterr()
    assert "replay" in cap.err and "40/40" in cap.err and "req" in cap.err
    assert len(cap.out.splitlines()) == 40 and all(line.startswith("{") for line in cap.out.splitlines())
    assert main(["replay", "--json", "--no-progress", str(small)]) == 0
    assert "40/40" not in capsys.readouterr().err


def test_websocket_messages_are_replayed_one_row_each(tmp_path: Path, no_network: list[str]) -> None:
    """A recorded grok.com gateway WebSocket: each client message is judged like a request, as the proxy does."""
    from mitmproxy import connection
    from mitmproxy import http
    from mitmproxy import io
    from mitmproxy import websocket
    from wsproto.frame_protocol import Opcode

    from tests.support.web_shapes import GROK_SESSION_CREATE
    from tests.support.web_shapes import grok_item

    f = http.HTTPFlow(connection.Client(peername=("10.20.1.5", 5000), sockname=("", 0), timestamp_start=1.0),
                      connection.Server(address=None))  # fmt: skip
    f.request = http.Request.make("GET", "https://grok.com/ws/mgw/?uid=00000000-0000-4000-8000-00000000000a", b"",
                                  [(b"upgrade", b"websocket"), (b"connection", b"Upgrade")])  # fmt: skip
    f.response = http.Response.make(101, b"", [(b"upgrade", b"websocket"), (b"connection", b"Upgrade")])
    f.websocket = websocket.WebSocketData()
    for text, from_client in ((GROK_SESSION_CREATE, True), ('{"event": {"type": "session.created"}}', False),
                              (grok_item(PHI[0]), True), (grok_item("How do statins work?"), True)):  # fmt: skip
        f.websocket.messages.append(websocket.WebSocketMessage(Opcode.TEXT, from_client, text.encode(), 2.0))
    with (tmp_path / "ws.mitm").open("wb") as fh:
        io.FlowWriter(fh).add(f)
    rows = rp.replay(rp.read_inputs([tmp_path / "ws.mitm"]), rp.Replayer(load_policy(None)))["requests"]
    messages = [r for r in rows if r.get("websocket_message") is not None]
    assert [(r["websocket_message"], r["verdict"]) for r in messages] == [(0, "allow"), (2, "block"), (3, "allow")]
    assert "phi-person-name" in messages[1]["rule_ids"] or "phi-identifiers" in messages[1]["rule_ids"]
    assert not [v for v in SYNTHETIC_VALUES if v in json.dumps(rows)]


def test_body_over_the_limit_is_refused_as_the_proxy_refuses_it(tmp_path: Path, no_network: list[str]) -> None:
    """`phiwall run` sets mitmproxy's body_size_limit to max_body_bytes: the body is refused before the addon
    reads it, and the audit records a block by on_error. Replay gives that verdict too."""
    pol = tmp_path / "small.yaml"
    pol.write_text("id: small\nextends: builtin:default\ndefaults: {max_body_bytes: 500}\n")
    reqs = make_requests(40, seed=2, guarded_only=True)
    write_flows(tmp_path / "t.mitm", reqs)
    rows = rp.replay(rp.read_inputs([tmp_path / "t.mitm"]), rp.Replayer(load_policy(pol)))["requests"]
    for req, row in zip(reqs, rows, strict=True):
        if len(req.body) > 500:
            assert (row["verdict"], row["rule_ids"]) == ("block", ["on_error"]), row
            assert "limit" in row["error"]
        else:
            assert row["rule_ids"] != ["on_error"], row
    assert any(len(r.body) > 500 for r in reqs)


def test_unreadable_input_is_a_clear_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad = tmp_path / "x.har"
    bad.write_text("{not json")
    assert main(["replay", str(bad)]) == 2
    assert "not a HAR file" in capsys.readouterr().err
    flows = tmp_path / "x.mitm"
    flows.write_bytes(b"\x00garbage that is no flow file")
    assert main(["replay", str(flows)]) == 2
    assert "not a readable mitmproxy flow file" in capsys.readouterr().err


def test_bad_identity_option_is_a_usage_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    har = tmp_path / "t.har"
    write_har(har, make_requests(3))
    assert main(["replay", "--user-header", "x-user", "--trusted-proxies", "ten.0.0.1", str(har)]) == 2
    assert "is not an IP address" in capsys.readouterr().err


def test_identity_comes_from_the_recording_and_the_proxy_options(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], no_network: list[str]
) -> None:
    """hospital.yaml lets clinical staff proceed (warn) with text identifiers to the API; everyone else is
    blocked. The user comes from the recording (proxyauth login) or from a header trusted only from the
    configured upstream proxy, and groups from the group file, exactly as in the proxy."""
    chat = next(
        r for r in make_requests(200, seed=4) if r.kind == "openai-chat" and any(p.encode() in r.body for p in PHI)
    )
    har = tmp_path / "who.har"
    write_har(har, [chat, chat, chat])
    doc = json.loads(har.read_text())
    e0, e1, e2 = doc["log"]["entries"]
    e0["_proxyUser"] = "dr.jones"  # a proxyauth login, as phiwall's HAR extension records it
    e1["_clientAddress"] = "10.9.0.5"  # the hospital's SSO proxy, which sets X-User
    e1["request"]["headers"].append({"name": "X-User", "value": "dr.jones"})
    e2["_clientAddress"] = "10.20.1.5"  # a workstation typing the header itself
    e2["request"]["headers"].append({"name": "X-User", "value": "dr.jones"})
    har.write_text(json.dumps(doc))
    groups = tmp_path / "groups"
    groups.write_text("clinical-staff: dr.jones\n")
    base = ["replay", "--json", "--policy", str(POLICIES / "hospital.yaml"), str(har)]
    _, rows = _run_cli(base, capsys)
    assert [r["verdict"] for r in rows] == ["block", "block", "block"]  # no group file: nobody is staff
    _, rows = _run_cli([*base, "--groups-file", str(groups), "--user-header", "x-user", "--trusted-proxies",
                        "10.9.0.0/16"], capsys)  # fmt: skip
    assert [r["verdict"] for r in rows] == ["warn", "warn", "block"]
    assert all("exception:staff-text-proceed" in r["rule_ids"] for r in rows[:2])
