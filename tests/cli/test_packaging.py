"""The things a newcomer touches first: the quick start, the console script, the plain mitmdump script, the
embedded default policy, the compose file."""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.support.proxy import free_port
from tests.support.proxy import wait_listening
from tests.support.samples import PHI_PROMPT

REPO = Path(__file__).resolve().parents[2]


def test_embedded_default_policy_is_the_shipped_one() -> None:
    shipped = (REPO / "policies" / "default.yaml").read_bytes()
    embedded = (REPO / "proxy" / "phiwall" / "data" / "default.yaml").read_bytes()
    assert shipped == embedded, "copy policies/default.yaml to proxy/phiwall/data/default.yaml"


def test_run_refuses_an_invalid_policy_with_file_line_and_field(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("version: 1\nid: x\nrules:\n  - id: r1\n    when: {entitys: [PERSON]}\n    action: block\n")
    r = subprocess.run(
        [sys.executable, "-m", "phiwall.cli", "run", "--policy", str(bad)],
        capture_output=True,
        text=True,
        timeout=60,
        env=dict(os.environ, PHIWALL_HOME=str(tmp_path)),
    )
    assert r.returncode == 2  # one scheme across commands: 2 is usage or an invalid policy
    assert f"{bad}:5: rules[0].when.entitys" in r.stderr


def test_console_script_help() -> None:
    exe = Path(sys.executable).with_name("phiwall")
    r = subprocess.run([str(exe), "--help"], capture_output=True, text=True, timeout=60)
    assert r.returncode == 0 and "scan" in r.stdout and "run" in r.stdout


def test_compose_file_structure() -> None:
    """Without docker-compose on the machine (the next test skips), at least the file's shape is checked."""
    import yaml

    doc = yaml.safe_load((REPO / "docker-compose.yml").read_text())
    svc = doc["services"]["phiwall"]
    assert (REPO / svc["build"]["context"] / svc["build"]["dockerfile"]).is_file()
    assert svc["command"][0] == "run" and "--policy" in svc["command"]
    assert all(str(p).startswith("127.0.0.1:") for p in svc.get("ports", [])), "publish on localhost only"


@pytest.mark.skipif(shutil.which("docker-compose") is None, reason="docker-compose (Debian package) not installed")
def test_compose_file_is_valid() -> None:
    r = subprocess.run(
        ["docker-compose", "-f", str(REPO / "docker-compose.yml"), "config", "-q"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert r.returncode == 0, r.stderr


def _blocked_through(port: int, ca: Path) -> httpx.Response:
    """A chat request with PHI through the proxy. Nothing answers upstream: only phiwall can answer it."""
    with httpx.Client(proxy=f"http://127.0.0.1:{port}", verify=str(ca), timeout=60) as c:
        return c.post(
            "https://api.openai.com/v1/chat/completions",
            json={"model": "gpt-4o", "messages": [{"role": "user", "content": PHI_PROMPT}]},
        )


def _stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)


def _setup_done() -> bool:
    """Whether scripts/setup.sh already ran for this pyproject (its stamp), so quickstart.sh will not install."""
    digest = hashlib.sha256((REPO / "pyproject.toml").read_bytes() + (REPO / "requirements-model.txt").read_bytes())
    return (REPO / ".venv" / f".phiwall-setup-{digest.hexdigest()[:16]}").exists()


@pytest.mark.e2e
@pytest.mark.skipif(not _setup_done(), reason="scripts/setup.sh has not run for this pyproject (it would install)")
def test_quickstart_starts_the_proxy_on_embedded_defaults(tmp_path: Path) -> None:
    """README quick start: scripts/quickstart.sh sets up (here: already done, so it only checks) and starts the
    proxy on the embedded default policy, with the audit file in PHIWALL_HOME; it blocks PHI at once."""
    port = free_port()
    log = tmp_path / "quickstart.log"
    env = dict(os.environ, PHIWALL_HOME=str(tmp_path / "home"), PHIWALL_NO_APT="1")
    with log.open("wb") as fh:
        proc = subprocess.Popen(
            ["bash", str(REPO / "scripts" / "quickstart.sh"), "--port", str(port)],
            stdout=fh,
            stderr=subprocess.STDOUT,
            env=env,
            cwd=tmp_path,
        )
    try:
        wait_listening(proc, port, log, 90)
        ca = tmp_path / "home" / "mitmproxy" / "mitmproxy-ca-cert.pem"
        r = _blocked_through(port, ca)
        assert r.status_code == 403 and r.json()["error"]["type"] == "phiwall_blocked", r.text
        out = log.read_text()
        assert "policy default" in out and f"export HTTPS_PROXY=http://127.0.0.1:{port}" in out
        assert (tmp_path / "home" / "audit.jsonl").read_text().count('"verdict":"block"') == 1
    finally:
        _stop(proc)


def _mitmdump_script(tmp_path: Path, port: int, *sets: str) -> list[str]:
    cmd = [str(Path(sys.executable).with_name("mitmdump")), "-s", str(REPO / "addons" / "phiwall.py")]
    cmd += ["--listen-host", "127.0.0.1", "--listen-port", str(port), "--set", f"confdir={tmp_path}/mitmproxy"]
    for s in ("phiwall_workers=1", "connection_strategy=lazy", *sets):
        cmd += ["--set", s]
    return cmd


@pytest.mark.parametrize(
    "sets,refused",
    [
        (("flow_detail=2",), "flow_detail=2"),  # a flow dump prints URLs with query strings (and more); the
        # script sets mitmdump's default flow_detail=1 to 0 itself, as `phiwall run` does (phiwall.mitm_plain)
        (("flow_detail=0", "proxy_debug=true"), "proxy_debug"),
        (("flow_detail=0", "save_stream_file=flows.mitm"), "save_stream_file"),
    ],
)
def test_mitmdump_options_that_write_traffic_are_refused(tmp_path: Path, sets: tuple[str, ...], refused: str) -> None:
    env = dict(os.environ, PHIWALL_HOME=str(tmp_path))
    cmd = _mitmdump_script(tmp_path, free_port(), *sets)
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=120, env=env, cwd=tmp_path)
    assert r.returncode != 0
    assert f"phiwall refuses {refused}" in r.stdout + r.stderr
    flows = tmp_path / "flows.mitm"  # mitmproxy's Save addon may create it before phiwall refuses: empty
    assert not flows.exists() or flows.stat().st_size == 0


@pytest.mark.e2e
def test_plain_mitmdump_script_blocks(tmp_path: Path) -> None:
    """`mitmdump -s addons/phiwall.py` (the script's own name must not hide the phiwall package) inspects."""
    port = free_port()
    log = tmp_path / "mitmdump.log"
    with log.open("wb") as fh:
        proc = subprocess.Popen(
            _mitmdump_script(tmp_path, port, "flow_detail=0"),
            stdout=fh,
            stderr=subprocess.STDOUT,
            env=dict(os.environ, PHIWALL_HOME=str(tmp_path)),
            cwd=tmp_path,
        )
    try:
        wait_listening(proc, port, log, 90)
        r = _blocked_through(port, tmp_path / "mitmproxy" / "mitmproxy-ca-cert.pem")
        assert r.status_code == 403 and r.json()["error"]["type"] == "phiwall_blocked", r.text
        assert "error in script" not in log.read_text()
    finally:
        _stop(proc)


# -- the built wheel, installed as a new user would (issue 13, item 1) ------------------------------------------

WHEELHOUSE = Path(os.environ.get("PHIWALL_WHEELHOUSE") or Path.home() / ".cache" / "phiwall-test" / "wheelhouse")


def _build_wheel(out: Path) -> Path:
    r = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w", str(out), str(REPO)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert r.returncode == 0, r.stderr[-3000:]
    (wheel,) = out.glob("phiwall-*.whl")
    return wheel


def _fill_wheelhouse(wheel: Path) -> None:
    """Once per machine: every dependency of the wheel, as wheels in a local folder.
    The install below then runs with the network cut; this is the only step that may download (from PyPI)."""
    WHEELHOUSE.mkdir(parents=True, exist_ok=True)
    for old in WHEELHOUSE.glob("phiwall-*.whl"):  # pip download copies the wheel itself there; a stale one would win
        old.unlink()
    pip = [sys.executable, "-m", "pip", "download", "-q", "-d", str(WHEELHOUSE)]
    r = subprocess.run([*pip, "--only-binary=:all:", str(wheel)], capture_output=True, text=True, timeout=1200)
    assert r.returncode == 0, r.stderr[-3000:]
    for copied in WHEELHOUSE.glob("phiwall-*.whl"):
        copied.unlink()


def _offline(cmd: list[str]) -> list[str]:
    """Run `cmd` in a network namespace of its own (no interface but a down loopback) where the kernel allows it."""
    probe = subprocess.run(["unshare", "-rn", "true"], capture_output=True) if shutil.which("unshare") else None
    return ["unshare", "-rn", *cmd] if probe is not None and probe.returncode == 0 else cmd


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A fresh venv with only the built wheel and what it declares, installed offline from the local wheelhouse."""
    tmp = tmp_path_factory.mktemp("wheel")
    wheel = _build_wheel(tmp / "dist")
    _fill_wheelhouse(wheel)
    venv = tmp / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True, timeout=120)
    # The outer pip installs into the new venv (--python), from the wheelhouse only.
    env = dict(os.environ, PIP_NO_INDEX="1", PIP_DISABLE_PIP_VERSION_CHECK="1")
    cmd = [sys.executable, "-m", "pip", "--isolated", "--python", str(venv / "bin" / "python"), "install", "-q"]
    cmd += ["--no-index"]
    cmd += ["--find-links", str(WHEELHOUSE), str(wheel)]
    r = subprocess.run(_offline(cmd), capture_output=True, text=True, timeout=600, env=env)
    assert r.returncode == 0, r.stdout[-2000:] + r.stderr[-3000:]
    return venv


def _venv_env(home_dir: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.lower().endswith("_proxy") and k != "PYTHONPATH"}
    return dict(env, PHIWALL_HOME=str(home_dir))


def _opts(env: dict[str, str], cwd: Path, timeout: float) -> dict[str, Any]:
    return {"capture_output": True, "text": True, "timeout": timeout, "env": env, "cwd": cwd}


def test_wheel_contents(tmp_path: Path) -> None:
    import zipfile

    wheel = _build_wheel(tmp_path)
    with zipfile.ZipFile(wheel) as z:
        names = set(z.namelist())
        meta = z.read(next(n for n in names if n.endswith(".dist-info/METADATA"))).decode()
        lic = z.read(next(n for n in names if n.endswith("/licenses/LICENSE"))).decode()
    for name in ("personal.yaml", "hospital.yaml", "default.yaml", "tests/personal.cases.yaml"):
        assert f"phiwall/data/policies/{name}" in names, name
    assert "phiwall/py.typed" in names
    # The models ship inside the wheel: the PHI tagger (spaCy) and the image backbone (ONNX) with its notice.
    for name in ("data/phi_tagger/config.cfg", "data/phi_tagger/ner/model", "data/efficientnet_lite0_features.onnx"):
        assert f"phiwall/{name}" in names, name
    assert "phiwall/data/NOTICE-efficientnet-lite0.txt" in names
    assert "Requires-Dist: onnxruntime" in meta and "en-core-web" not in meta
    assert "License-Expression: Apache-2.0" in meta and "Apache License" in lic and "Version 2.0" in lic
    assert "Classifier: Typing :: Typed" in meta


@pytest.mark.e2e
def test_installed_wheel_scans_tests_policies_and_proxies(installed: Path, tmp_path: Path) -> None:
    """scan, policy test (the shipped cases, from a folder with no policies/) and a proxied request, all from the
    fresh venv; then, with a file of the shipped tagger changed, run and scan refuse with a message instead of
    422s/tracebacks."""
    from tests.support.fake_upstream import FakeUpstream
    from tests.support.tls import make_test_pki

    exe = installed / "bin" / "phiwall"
    env = _venv_env(tmp_path / "home")
    note = tmp_path / "note.txt"
    note.write_text(PHI_PROMPT)
    r = subprocess.run(
        [str(exe), "scan", str(note)], capture_output=True, text=True, timeout=120, env=env, cwd=tmp_path
    )
    assert r.returncode == 1 and r.stdout.startswith("BLOCK"), r.stdout + r.stderr[-2000:]

    r = subprocess.run([str(exe), "policy", "test"], **_opts(env, tmp_path, 300))
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-2000:]
    assert "personal" in r.stdout and "hospital" in r.stdout

    ca, cert, key = make_test_pki(tmp_path / "pki")
    port = free_port()
    log = tmp_path / "run.log"
    with FakeUpstream(cert, key) as up, log.open("wb") as fh:
        redirect = REPO / "tests" / "support" / "redirect_addon.py"
        cmd = [str(exe), "run", "--port", str(port), "--workers", "1", "--", "-s", str(redirect)]
        cmd += ["--set", f"ssl_verify_upstream_trusted_ca={ca}"]
        run_env = dict(env, PHIWALL_TEST_UPSTREAMS=f"api.openai.com=127.0.0.1:{up.port}")
        proc = subprocess.Popen(cmd, stdout=fh, stderr=subprocess.STDOUT, env=run_env, cwd=tmp_path)
        try:
            wait_listening(proc, port, log, 90)
            mca = tmp_path / "home" / "mitmproxy" / "mitmproxy-ca-cert.pem"
            assert _blocked_through(port, mca).status_code == 403
            with httpx.Client(proxy=f"http://127.0.0.1:{port}", verify=str(mca), timeout=60) as c:
                ok = c.post(
                    "https://api.openai.com/v1/chat/completions",
                    json={"model": "gpt-4o", "messages": [{"role": "user", "content": "hello"}]},
                )
            assert ok.status_code == 200, ok.text
            assert len(up.requests) == 1
        finally:
            _stop(proc)

    # A damaged install: one file of the shipped PHI tagger changed. run and scan refuse instead of trusting it.
    site = next((installed / "lib").glob("python3*/site-packages"))
    meta_json = site / "phiwall" / "data" / "phi_tagger" / "meta.json"
    meta_json.write_text(meta_json.read_text() + " ")
    for args in (["run", "--port", str(free_port())], ["scan", str(note)]):
        r = subprocess.run([str(exe), *args], **_opts(env, tmp_path, 60))
        assert r.returncode == 2, (args, r.stdout, r.stderr[-2000:])
        assert "cannot" in r.stderr and "phi_tagger" in r.stderr and "reinstall phiwall" in r.stderr.lower()
        assert "Traceback" not in r.stderr


# -- CLI habits (issue 13, items 2 and 7) -----------------------------------------------------------------------


def _cli(*args: str, home_dir: Path, cwd: Path | None = None, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, PHIWALL_HOME=str(home_dir))
    cmd = [sys.executable, "-m", "phiwall.cli", *args]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env=env, cwd=cwd or home_dir)


def test_version(tmp_path: Path) -> None:
    from importlib import metadata

    r = _cli("--version", home_dir=tmp_path)
    assert r.returncode == 0 and r.stdout.strip() == f"phiwall {metadata.version('phiwall')}"


@pytest.mark.parametrize(
    "args,message",
    [
        (["run", "--workers", "0"], "--workers: 0 is too few"),
        (["run", "--workers", "-3"], "--workers: -3 is too few"),
        (["run", "--workers", "many"], "--workers: 'many' is not a whole number"),
        (["run", "--port", "0"], "--port: 0 is not a port"),
        (["run", "--port", "70000"], "--port: 70000 is not a port"),
        (["scan", "--jobs", "0", "."], "--jobs/-j: 0 is too few"),
        (["run", "--admin-port", "0"], "--admin-port: 0 is not a port"),
        (["gateway", "--replicas", "0"], "--replicas: 0 is too few"),
        (["gateway", "--port", "99999"], "--port: 99999 is not a port"),
    ],
)
def test_impossible_values_are_refused_when_parsed(tmp_path: Path, args: list[str], message: str) -> None:
    r = _cli(*args, home_dir=tmp_path, timeout=30)
    assert r.returncode == 2 and message in r.stderr, r.stderr
    assert not (tmp_path / "mitmproxy").exists(), "refused before anything started"


def test_one_exit_status_scheme(tmp_path: Path) -> None:
    """0 fine, 1 something would be blocked / a test failed, 2 usage or an invalid policy: for every command."""
    bad = tmp_path / "bad.yaml"
    bad.write_text("version: 1\nid: x\nrules:\n  - id: r1\n    when: {entitys: [PERSON]}\n    action: block\n")
    good = tmp_path / "good.yaml"
    good.write_text("version: 1\nid: g\nrules:\n  - id: r1\n    when: {entities: [PERSON]}\n    action: block\n")
    phi, benign = tmp_path / "phi.txt", tmp_path / "benign.txt"
    phi.write_text(PHI_PROMPT)
    benign.write_text("What does a TSH of 6.2 mIU/L usually mean?")
    cases = tmp_path / "g.cases.yaml"
    cases.write_text(
        "policy: good.yaml\ncases:\n  - name: wrong\n    input: {text: hello}\n"
        "    expect: {verdict: block, rule_ids: [r1]}\n"
    )
    bad_cases = tmp_path / "b" / "b.cases.yaml"
    bad_cases.parent.mkdir()
    bad_cases.write_text("policy: ../bad.yaml\ncases: []\n")
    expect = {
        ("policy", "check", str(good)): 0,
        ("policy", "check", str(bad)): 2,
        ("scan", str(benign)): 0,
        ("scan", str(phi)): 1,
        ("scan", str(tmp_path / "missing.txt")): 2,
        ("scan", "--policy", str(bad), str(benign)): 2,
        ("policy", "test", str(cases)): 1,
        ("policy", "test", str(bad_cases.parent)): 2,
        ("run", "--policy", str(bad)): 2,
        ("frobnicate",): 2,
    }
    got = {args: _cli(*args, home_dir=tmp_path).returncode for args in expect}
    assert got == expect


def test_replay_json_into_head_ends_quietly(tmp_path: Path) -> None:
    from tests.replay.traffic import make_requests
    from tests.replay.traffic import write_flows

    flows = tmp_path / "f.mitm"
    write_flows(flows, make_requests(300, guarded_only=True))
    env = dict(os.environ, PHIWALL_HOME=str(tmp_path))
    cmd = f"{sys.executable} -m phiwall.cli replay --json --no-progress {flows} | head -1"
    r = subprocess.run(["bash", "-c", cmd], capture_output=True, text=True, timeout=300, env=env)
    assert r.stdout.startswith("{") and len(r.stdout.splitlines()) == 1
    assert "BrokenPipe" not in r.stderr and "Traceback" not in r.stderr and "Exception ignored" not in r.stderr


@pytest.mark.parametrize(
    "extra,named",
    [
        (["-w", "flows.mitm"], "save_stream_file (-w)"),
        (["--set", "save_stream_file=flows.mitm"], "save_stream_file=flows.mitm"),
        (["--set", "proxy_debug=true"], "proxy_debug=true"),
        (["--set", "flow_detail=3"], "flow_detail=3"),
    ],
)
def test_run_explains_traffic_logging_instead_of_a_traceback(tmp_path: Path, extra: list[str], named: str) -> None:
    r = _cli("run", "--port", str(free_port()), "--", *extra, home_dir=tmp_path, timeout=60)
    assert r.returncode == 2, r.stderr[-2000:]
    assert named in r.stderr and "phiwall_unsafe_logging=true" in r.stderr and "Traceback" not in r.stderr
    assert not (tmp_path / "flows.mitm").exists()


def test_policy_check_reports_every_problem(tmp_path: Path) -> None:
    dup = tmp_path / "dup.yaml"
    dup.write_text(
        "version: 1\nid: dup\nrules:\n"
        "  - id: r1\n    when: {entities: [PERSON]}\n    action: block\n"
        "  - id: r1\n    when: {entitys: [PERSON]}\n    action: warn\n"
    )
    ext = tmp_path / "ext.yaml"
    ext.write_text(
        "version: 1\nid: ext\nextends: ./missing.yaml\ndetectors: {ocr_magic: {}}\nrules:\n"
        "  - id: r1\n    when: {entitys: [PERSON]}\n    action: block\n"
    )
    ext2 = tmp_path / "ext2.yaml"  # valid itself, base missing: its own problems still listed
    ext2.write_text("version: 1\nid: ext2\nextends: ./missing.yaml\ndetectors: {ocr_magic: {}}\nrules: []\n")
    r = _cli("policy", "check", str(dup), str(ext), str(ext2), home_dir=tmp_path)
    assert r.returncode == 2
    out = r.stdout
    assert f"{dup}:8: rules[1].when.entitys" in out
    assert f"{dup}:7: rules[1].id: rule id 'r1' is used twice" in out
    assert f"{ext}:7: rules[0].when.entitys" in out and f"{ext}:3: extends: cannot read base policy" in out
    assert f"{ext2}:3: extends: cannot read base policy" in out and f"{ext2}:4: detectors.ocr_magic" in out


def test_policy_check_flags_a_warn_worded_message_on_a_block_rule(tmp_path: Path) -> None:
    p = tmp_path / "w.yaml"
    p.write_text(
        "version: 1\nid: w\nrules:\n"
        "  - id: r1\n    when: {entities: [PERSON]}\n    action: block\n"
        '    message: "phiwall warns you: this may contain a name, please double-check"\n'
        "  - id: r2\n    when: {entities: [US_SSN]}\n    action: block\n"
        '    message: "phiwall blocked this message: it contains an SSN"\n'
        "  - id: r3\n    when: {entities: [EMAIL_ADDRESS]}\n    action: warn\n"
        '    message: "phiwall blocked this message"\n'
    )
    r = _cli(
        "policy", "check", str(p), *[str(x) for x in sorted((REPO / "policies").glob("*.yaml"))], home_dir=tmp_path
    )
    assert r.returncode == 0, r.stdout
    warnings = [line for line in r.stdout.splitlines() if "warning:" in line]
    assert len(warnings) == 2, r.stdout  # the shipped policies word theirs right
    assert warnings[0].startswith(f"{p}:7: rules[0].message: warning: rule 'r1' blocks")
    assert warnings[1].startswith(f"{p}:15: rules[2].message: warning: rule 'r3' warns")


def test_scan_folder_with_jobs_and_progress(tmp_path: Path) -> None:
    notes = tmp_path / "notes"
    notes.mkdir()
    for i in range(6):
        (notes / f"phi{i}.txt").write_text(f"Patient John Smith, MRN 4821397{i}, DOB 03/14/1961, has a cough.")
        (notes / f"ok{i}.txt").write_text(f"What does a TSH of 6.{i} mIU/L usually mean?")
    one = _cli("scan", "--json", str(notes), home_dir=tmp_path)
    two = _cli("scan", "--json", "--jobs", "2", "--progress", str(notes), home_dir=tmp_path)
    assert one.returncode == two.returncode == 1
    assert one.stdout == two.stdout and len(one.stdout.splitlines()) == 12  # same output, same order
    assert "12/12" in two.stderr and "file" in two.stderr and "12/12" not in one.stderr  # no tty: no bar
