"""Identity resolution: proxyauth user, group file, and identity headers trusted only from configured proxies."""

from __future__ import annotations

from pathlib import Path

import pytest
from phiwall.errors import PolicyError
from phiwall.identity import IdentityConfig
from phiwall.identity import IdentityResolver
from phiwall.identity import parse_group_file
from phiwall.identity import resolver_for


def test_group_file_format() -> None:
    g = parse_group_file("# comment\nradiology: rad.lee dr.jones\nstaff: dr.jones, nurse.kim\n\n")
    assert g == {"rad.lee": {"radiology"}, "dr.jones": {"radiology", "staff"}, "nurse.kim": {"staff"}}
    with pytest.raises(PolicyError, match=r"<groups>:1: expected 'group: user1 user2'"):
        parse_group_file("radiology rad.lee")


def test_proxyauth_user_gets_groups_from_file(tmp_path: Path) -> None:
    gf = tmp_path / "groups"
    gf.write_text("radiology: rad.lee\n")
    r = IdentityResolver(IdentityConfig.parse(str(gf), "", "", ""))
    who = r.resolve("10.20.1.1", "rad.lee", host="API.OpenAI.com.")
    assert (who.user, who.groups, who.host) == ("rad.lee", ("radiology",), "api.openai.com")
    assert r.resolve("10.20.1.1", None).groups == ()  # anonymous: no groups


HEADERS = [("X-Auth-User", "dr.jones"), ("X-Auth-Groups", "staff, radiology")]


def test_identity_headers_only_from_trusted_proxies() -> None:
    r = IdentityResolver(IdentityConfig.parse("", "x-auth-user", "x-auth-groups", "10.0.0.5,192.168.0.0/24"))
    trusted = r.resolve("10.0.0.5", None, HEADERS)
    assert (trusted.user, trusted.groups) == ("dr.jones", ("radiology", "staff"))
    spoofed = r.resolve("10.0.0.6", None, HEADERS)
    assert (spoofed.user, spoofed.groups) == (None, ())
    # a proxyauth login wins over the header's user name
    assert r.resolve("192.168.0.9", "nurse.kim", HEADERS).user == "nurse.kim"


def test_bad_trusted_proxy_is_rejected() -> None:
    with pytest.raises(PolicyError, match="phiwall_trusted_proxies: 'ten.0.0.1' is not an IP address"):
        resolver_for("", "x-user", "", "ten.0.0.1")


def test_unreadable_group_file_means_no_groups(tmp_path: Path) -> None:
    r = IdentityResolver(IdentityConfig.parse(str(tmp_path / "missing"), "", "", ""))
    assert r.resolve("1.2.3.4", "rad.lee").groups == ()
