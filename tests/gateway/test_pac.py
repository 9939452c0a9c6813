"""`phiwall pac`: generated from the service table; the PAC in docs/deployment.md is the command's output."""

from __future__ import annotations

import fnmatch
import re
import subprocess

from phiwall.extractors import SERVICES
from phiwall.pac import guarded_hosts
from phiwall.pac import pac_file

from tests.gateway.conftest import phiwall_cmd
from tests.support.proxy import REPO


def test_pac_command_prints_every_guarded_host_and_direct_otherwise() -> None:
    r = subprocess.run(phiwall_cmd("pac", "--proxy", "gw.example:3128"), capture_output=True, text=True, cwd=REPO)
    assert r.returncode == 0, r.stderr
    assert r.stdout == pac_file("gw.example:3128")
    listed = re.findall(r'"([^"]+)"', re.search(r"var guarded = \[(.*?)\];", r.stdout, re.S).group(1))  # type: ignore[union-attr]
    assert listed == guarded_hosts() and all(g in listed for s in SERVICES for g in s.hosts)
    assert 'return "PROXY gw.example:3128";' in r.stdout and 'return "DIRECT";' in r.stdout


def test_pac_rejects_a_malformed_proxy() -> None:
    r = subprocess.run(phiwall_cmd("pac", "--proxy", 'x";alert(1)'), capture_output=True, text=True, cwd=REPO)
    assert r.returncode == 2 and "HOST:PORT" in r.stderr


def test_pac_matching_semantics() -> None:
    """shExpMatch globs, as a browser evaluates them: chatbot hosts match, a look-alike does not."""
    pats = guarded_hosts()
    assert any(fnmatch.fnmatchcase("chatgpt.com", p) for p in pats)
    assert any(fnmatch.fnmatchcase("eu-aiplatform.googleapis.com", p) for p in pats)
    assert not any(fnmatch.fnmatchcase("example.org", p) for p in pats)
    assert not any(fnmatch.fnmatchcase("notchatgpt.com.evil.example", p) for p in pats)


def test_deployment_doc_pac_is_the_command_output() -> None:
    doc = (REPO / "docs" / "deployment.md").read_text()
    m = re.search(r"```js\n(.*?)\n *```", doc, re.S)
    assert m, "docs/deployment.md has no PAC block"
    body = "\n".join(line[2:] if line.startswith("  ") else line for line in m.group(1).splitlines()) + "\n"
    assert body == pac_file("phiwall.example:8080"), "regenerate: phiwall pac --proxy phiwall.example:8080"
