# ruff: noqa: E501  (YAML snippets in tables read best on one line)
"""The addon's policy lifecycle and identity, with mitmproxy's taddons: reload on change, keep the last good
policy (audited) when the new one is invalid, shadow mode, and `who` from proxyauth, group file and headers."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from mitmproxy import exceptions
from mitmproxy.addons.proxyserver import Proxyserver
from mitmproxy.test import taddons
from mitmproxy.test import tflow
from mitmproxy.test import tutils
from phiwall.addon import PhiWall
from phiwall.addon import _who

POLICY = """version: 1
id: {id}
detectors: {{text_phi: {{enabled: false}}, medical_image: {{enabled: false}}}}
rules:
  - {{id: chat, action: {action}, when: {{services: [openai_api], endpoints: [chat]}}}}
  - {{id: radiology-seen, action: warn, when: {{groups: [radiology]}}}}
"""
CHAT = json.dumps({"model": "gpt-4o", "messages": [{"role": "user", "content": "How do statins work?"}]}).encode()


@pytest.fixture
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("PHIWALL_HOME", str(tmp_path / "home"))
    return tmp_path


def _events(path: Path) -> list[dict]:
    return [json.loads(x) for x in path.read_text().splitlines()] if path.exists() else []


def _chat(body: bytes = CHAT) -> tflow.HTTPFlow:
    f = tflow.tflow(req=tutils.treq(host="api.openai.com", method=b"POST", scheme=b"https", port=443,
                                    path=b"/v1/chat/completions", headers=[(b"content-type", b"application/json")]))  # fmt: skip
    f.request.content = body
    return f


async def test_reload_on_change_and_keep_last_good_when_invalid(env: Path) -> None:
    pol = env / "p.yaml"
    audit = env / "audit.jsonl"
    pol.write_text(POLICY.format(id="one", action="warn"))
    addon = PhiWall()
    with taddons.context(Proxyserver(), addon) as tctx:
        tctx.configure(addon, phiwall_policy=str(pol), phiwall_inline=True, phiwall_audit_file=str(audit),
                       phiwall_reload_seconds=0)  # fmt: skip
        assert addon.policy is not None and addon.policy.id == "one"
        pol.write_text(POLICY.format(id="two", action="block"))
        os.utime(pol, (1, 1))
        addon.check_policy_file()
        assert addon.policy.id == "two"
        pol.write_text(POLICY.format(id="three", action="reject"))
        os.utime(pol, (2, 2))
        addon.check_policy_file()
        assert addon.policy.id == "two"  # kept the last good one
        f = _chat()
        addon.requestheaders(f)
        await addon.request(f)
        assert f.response is not None and f.response.status_code == 403  # and it is enforced
    kinds = [e["event"] for e in _events(audit)]
    assert kinds[:2] == ["policy_reloaded", "policy_reload_failed"]
    failed = _events(audit)[1]
    assert "rules[0].action" in failed["error"] and failed["kept"]


async def test_shadow_mode_applies_nothing_and_audits_the_verdict(env: Path) -> None:
    pol = env / "p.yaml"
    audit = env / "audit.jsonl"
    pol.write_text(POLICY.format(id="shadowed", action="block"))
    addon = PhiWall()
    with taddons.context(Proxyserver(), addon) as tctx:
        tctx.configure(addon, phiwall_policy=str(pol), phiwall_inline=True, phiwall_audit_file=str(audit),
                       phiwall_mode="shadow")  # fmt: skip
        f = _chat()
        addon.requestheaders(f)
        await addon.request(f)
        assert f.response is None  # the request goes on unchanged
        assert f.request.content == CHAT
    ev = [e for e in _events(audit) if e["event"] == "inspection"][-1]
    assert (ev["mode"], ev["verdict"], ev["applied"], ev["rule_ids"]) == ("shadow", "block", "none", ["chat"])


async def test_who_from_proxyauth_group_file_and_trusted_header(env: Path) -> None:
    groups = env / "groups"
    groups.write_text("radiology: rad.lee\n")
    addon = PhiWall()
    with taddons.context(Proxyserver(), addon) as tctx:
        tctx.configure(addon, phiwall_inline=True, phiwall_audit_file=str(env / "a.jsonl"),
                       phiwall_groups_file=str(groups), phiwall_user_header="x-user",
                       phiwall_trusted_proxies="10.9.0.0/16")  # fmt: skip
        f = _chat()
        f.client_conn.peername = ("10.1.1.1", 5000)
        f.metadata["proxyauth"] = ("rad.lee", "")
        who = _who(f)
        assert (who.client, who.user, who.groups, who.host) == ("10.1.1.1", "rad.lee", ("radiology",), "api.openai.com")
        f.metadata.pop("proxyauth")
        f.request.headers["x-user"] = "rad.lee"
        assert _who(f).user is None  # header from an untrusted client
        f.client_conn.peername = ("10.9.3.3", 5000)
        assert _who(f).groups == ("radiology",)
        with pytest.raises(exceptions.OptionsError, match="not an IP address or CIDR"):
            tctx.options.phiwall_trusted_proxies = "not-a-cidr"  # refused at configure time
        assert _who(f).groups == ("radiology",)  # the last good setting stays


async def test_identity_headers_are_not_forwarded(env: Path) -> None:
    addon = PhiWall()
    with taddons.context(Proxyserver(), addon) as tctx:
        tctx.configure(addon, phiwall_inline=True, phiwall_audit_file=str(env / "a.jsonl"),
                       phiwall_user_header="x-user", phiwall_groups_header="x-groups",
                       phiwall_trusted_proxies="10.9.0.0/16")  # fmt: skip
        f = _chat()
        f.client_conn.peername = ("10.9.3.3", 5000)
        f.request.headers["x-user"] = "rad.lee"
        f.request.headers["x-groups"] = "radiology"
        addon.requestheaders(f)
        await addon.request(f)
        assert f.response is None  # allowed and forwarded...
        assert "x-user" not in f.request.headers and "x-groups" not in f.request.headers  # ...without them
        assert _events(env / "a.jsonl")[-1]["user"] == "rad.lee"
