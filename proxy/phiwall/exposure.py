"""Never an open proxy: the check `phiwall run` makes before it listens on anything but loopback.

A forward proxy that listens on a routable address and asks nobody for credentials relays anyone's traffic
(anyone on the network, or the internet, can use the hospital's egress as theirs). `phiwall run --host 0.0.0.0`
therefore refuses to start unless the proxy authenticates its users — mitmproxy's `proxyauth` (an htpasswd file,
LDAP, or a single user:password), or an identity header that phiwall trusts only from the authenticating proxies
named in `phiwall_trusted_proxies` — or the operator passed the loudly named `--i-know-this-is-an-open-proxy`.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence
from dataclasses import dataclass

OPEN_PROXY_FLAG = "--i-know-this-is-an-open-proxy"


@dataclass(frozen=True, slots=True)
class ListenAuth:
    """What the command line says about who may use the proxy."""

    host: str
    proxyauth: str = ""
    user_header: str = ""
    trusted_proxies: str = ""
    open_proxy_ok: bool = False


def is_loopback(host: str) -> bool:
    """True for 127.0.0.0/8, ::1 and `localhost`; an empty host means every address (mitmproxy's default)."""
    h = host.strip().strip("[]")
    if h == "localhost":
        return True
    try:
        return ipaddress.ip_address(h).is_loopback
    except ValueError:
        return False  # a host name or "": it may resolve to, or mean, a routable address


def option_from_extra(extra: Sequence[str], name: str) -> str | None:
    """The last value of mitmproxy option `name` among `--set name=value` (or `--set=name=value`) arguments."""
    found: str | None = None
    args = list(extra)
    for i, a in enumerate(args):
        item = None
        if a == "--set" and i + 1 < len(args):
            item = args[i + 1]
        elif a.startswith("--set="):
            item = a[len("--set=") :]
        if item is not None and item.startswith(name + "="):
            found = item.split("=", 1)[1]
    return found


def listen_host_from_extra(extra: Sequence[str]) -> str | None:
    """A listen address given to mitmdump directly (`--listen-host H` or `--set listen_host=H`) overrides --host."""
    args = list(extra)
    found = option_from_extra(args, "listen_host")
    for i, a in enumerate(args):
        if a == "--listen-host" and i + 1 < len(args):
            found = args[i + 1]
        elif a.startswith("--listen-host="):
            found = a.split("=", 1)[1]
    return found


def refusal(auth: ListenAuth) -> str | None:
    """Why `phiwall run` must not start with these settings, and what to do; None when it may start."""
    if is_loopback(auth.host) or auth.open_proxy_ok:
        return None
    if auth.proxyauth.strip():
        return None
    if auth.user_header.strip() and auth.trusted_proxies.strip():
        return None
    where = auth.host or "every address"
    return (
        f"phiwall: refusing to listen on {where} without proxy authentication: anyone who can reach that address "
        "could use this proxy as their own (an open proxy).\n"
        "Do one of these:\n"
        "  - require a login:       phiwall run --host ... --htpasswd /etc/phiwall/htpasswd   (htpasswd -B or -s)\n"
        "                           (or --proxyauth SPEC, any mitmproxy proxyauth spec: @FILE, ldap:..., user:pass)\n"
        "  - trust an authenticating proxy in front:\n"
        "                           phiwall run --host ... --user-header X-Auth-User --trusted-proxies 10.0.0.5\n"
        "  - listen on loopback only: phiwall run --host 127.0.0.1\n"
        f"  - or, knowing every client on that network may use it: {OPEN_PROXY_FLAG}"
    )
