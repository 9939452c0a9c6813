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


async def test_user_from_an_htpasswd_login_and_groups_reach_the_policy(env: Path) -> None:
    """mitmproxy's own proxyauth with an htpasswd file logs the user in; phiwall takes that user, looks up the
    group file, and a `groups:` rule fires (the gateway case: the radiology group treated differently)."""
    import base64
    import hashlib

    from mitmproxy.addons.proxyauth import ProxyAuth

    htpasswd = env / "htpasswd"  # `htpasswd -s` format (mitmproxy reads SHA1 and bcrypt entries)
    htpasswd.write_text("rad.lee:{SHA}" + base64.b64encode(hashlib.sha1(b"s3cret").digest()).decode() + "\n")
    groups = env / "groups"
    groups.write_text("radiology: rad.lee\n")
    pol = env / "p.yaml"
    pol.write_text(POLICY.format(id="gw", action="allow"))
    audit = env / "audit.jsonl"
    auth, addon = ProxyAuth(), PhiWall()
    with taddons.context(Proxyserver(), auth, addon) as tctx:
        tctx.configure(auth, proxyauth=f"@{htpasswd}")
        tctx.configure(addon, phiwall_policy=str(pol), phiwall_inline=True, phiwall_audit_file=str(audit),
                       phiwall_groups_file=str(groups))  # fmt: skip
        for password, status in ((b"s3cret", None), (b"wrong", 407)):
            f = _chat()
            f.request.headers["proxy-authorization"] = "Basic " + base64.b64encode(b"rad.lee:" + password).decode()
            auth.requestheaders(f)
            addon.requestheaders(f)
            await addon.request(f)
            assert (f.response.status_code if f.response else None) == status
    ev = [e for e in _events(audit) if e["event"] == "inspection"]
    assert len(ev) == 1  # the failed login never reached phiwall's inspection
    assert (ev[0]["user"], ev[0]["verdict"], ev[0]["rule_ids"]) == ("rad.lee", "warn", ["radiology-seen", "chat"])


async def test_reload_when_a_base_policy_changes(env: Path) -> None:
    base = env / "base.yaml"
    base.write_text(POLICY.format(id="base", action="warn"))
    child = env / "child.yaml"
    child.write_text("id: child\nextends: base.yaml\n")
    addon = PhiWall()
    with taddons.context(Proxyserver(), addon) as tctx:
        tctx.configure(addon, phiwall_policy=str(child), phiwall_inline=True,
                       phiwall_audit_file=str(env / "audit.jsonl"), phiwall_reload_seconds=0)  # fmt: skip
        before = addon.policy.sha256 if addon.policy else ""
        base.write_text(POLICY.format(id="base", action="block"))
        os.utime(base, (5, 5))
        addon.check_policy_file()
        assert addon.policy is not None and addon.policy.sha256 != before


async def test_an_invalid_base_keeps_the_last_good_policy_until_it_is_fixed(env: Path) -> None:
    """Editing the shared base a team policy extends: a broken base is refused once (audited, naming the base),
    the last good effective policy stays enforced, and the fixed base is picked up without touching the child."""
    base = env / "base.yaml"
    base.write_text(POLICY.format(id="base", action="warn"))
    child = env / "child.yaml"
    child.write_text("id: child\nextends: base.yaml\n")
    audit = env / "audit.jsonl"
    addon = PhiWall()
    with taddons.context(Proxyserver(), addon) as tctx:
        tctx.configure(addon, phiwall_policy=str(child), phiwall_inline=True, phiwall_audit_file=str(audit),
                       phiwall_reload_seconds=0)  # fmt: skip
        good = addon.policy.sha256 if addon.policy else ""
        base.write_text(POLICY.format(id="base", action="reject"))
        os.utime(base, (5, 5))
        addon.check_policy_file()
        addon.check_policy_file()  # nothing changed since: not audited again
        assert addon.policy is not None and addon.policy.sha256 == good
        f = _chat()
        addon.requestheaders(f)
        await addon.request(f)
        assert f.response is None and f.metadata["phiwall"]["warn"]  # still the last good policy: warn
        base.write_text(POLICY.format(id="base", action="block"))
        os.utime(base, (6, 6))
        addon.check_policy_file()
        f = _chat()
        addon.requestheaders(f)
        await addon.request(f)
        assert f.response is not None and f.response.status_code == 403
    events = [e for e in _events(audit) if e["event"].startswith("policy_")]
    assert [e["event"] for e in events] == ["policy_reload_failed", "policy_reloaded"]
    failed, reloaded = events
    assert failed["changed"] == [str(base)] and failed["kept"] == good[:16]
    assert "base policy 'base.yaml' is invalid" in failed["error"] and "rules[0].action" in failed["error"]
    assert reloaded["changed"] == [str(base)] and reloaded["policy_id"] == "child"


async def test_a_new_base_that_was_broken_is_picked_up_once_fixed(env: Path) -> None:
    """The child switches to a base the last good policy never extended, and that base is invalid: once it is
    fixed, the reload happens although no file of the last good policy changed."""
    pol = env / "p.yaml"
    pol.write_text(POLICY.format(id="one", action="warn"))
    audit = env / "audit.jsonl"
    addon = PhiWall()
    with taddons.context(Proxyserver(), addon) as tctx:
        tctx.configure(addon, phiwall_policy=str(pol), phiwall_inline=True, phiwall_audit_file=str(audit),
                       phiwall_reload_seconds=0)  # fmt: skip
        newbase = env / "newbase.yaml"
        newbase.write_text(POLICY.format(id="nb", action="reject"))
        pol.write_text("id: two\nextends: newbase.yaml\n")
        os.utime(pol, (5, 5))
        addon.check_policy_file()
        assert addon.policy is not None and addon.policy.id == "one"
        newbase.write_text(POLICY.format(id="nb", action="block"))
        addon.check_policy_file()
        assert addon.policy.id == "two"
    assert [e["event"] for e in _events(audit)] == ["policy_reload_failed", "policy_reloaded"]


def test_reload_interval_can_be_set_on_the_command_line() -> None:
    from mitmproxy import options
    from mitmproxy.addonmanager import Loader
    from phiwall.addon import PhiWall

    opts = options.Options()

    class _Master:
        def __init__(self) -> None:
            self.options = opts

    PhiWall().load(Loader(_Master()))  # type: ignore[arg-type]
    opts.set("phiwall_reload_seconds=5")
    assert float(opts.phiwall_reload_seconds) == 5


def test_a_negative_reload_interval_is_refused(env: Path) -> None:
    addon = PhiWall()
    with taddons.context(Proxyserver(), addon) as tctx:
        tctx.configure(addon, phiwall_inline=True, phiwall_audit_file=str(env / "audit.jsonl"))
        with pytest.raises(exceptions.OptionsError, match="phiwall_reload_seconds"):
            tctx.configure(addon, phiwall_reload_seconds=-1)
