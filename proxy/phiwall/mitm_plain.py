"""Plain `mitmdump -s addons/phiwall.py` behaves like `phiwall run`.

`phiwall run` starts mitmdump with the options phiwall needs: `allow_hosts` limited to the guarded chatbot hosts
(every other host is tunnelled untouched: its TLS is not intercepted), `connection_strategy=lazy` (no upstream
connection before phiwall has judged the request), `flow_detail=0` (mitmproxy's flow dump prints URLs, PHI
included), and a loopback listener. Plain mitmdump defaults to intercepting every host and listening on every
interface. This addon, first in `addons/phiwall.py`, applies the same settings where the user left mitmproxy's
default in place, and says so in the log; what the user set explicitly is kept (and the other addons judge it:
`ExposureGuard` refuses a non-loopback listener without authentication, `PhiWall` refuses traffic logging).

The listener is the exception: mitmproxy loads `-s` scripts while it binds its listening socket, so a script
cannot move the listener to loopback in time. Left at mitmdump's default (every interface) with no
authentication, it is refused with the command line to use instead (`--listen-host 127.0.0.1`).
"""

from __future__ import annotations

import logging
from typing import Any

from mitmproxy.addonmanager import Loader

from phiwall.extractors import allow_hosts_pattern

log = logging.getLogger("phiwall")

LOOPBACK = "127.0.0.1"


def plain_defaults(opts: Any) -> dict[str, Any]:
    """The option updates that make mitmdump's defaults phiwall's (only for options still at mitmproxy's default)."""
    out: dict[str, Any] = {}

    def default(name: str) -> bool:
        return name in opts and not opts.has_changed(name)

    if default("allow_hosts") and default("ignore_hosts"):
        out["allow_hosts"] = [allow_hosts_pattern()]
    if default("connection_strategy"):
        out["connection_strategy"] = "lazy"
    if default("flow_detail"):
        out["flow_detail"] = 0
    return out


def listener_problem(opts: Any) -> str | None:
    """Why this mitmdump must not run as configured (every interface, nobody authenticated), or None."""
    if "listen_host" not in opts or opts.listen_host or getattr(opts, "proxyauth", None):
        return None
    if getattr(opts, "phiwall_open_proxy", False):
        return None
    if getattr(opts, "phiwall_user_header", "") and getattr(opts, "phiwall_trusted_proxies", ""):
        return None
    return (
        "phiwall: plain mitmdump listens on every network interface by default, and without proxy "
        "authentication anyone who reaches this machine could use it as an open proxy. Add "
        f"--listen-host {LOOPBACK} (or require a login: --set proxyauth=@/path/to/htpasswd), or use "
        "`phiwall run`, which sets this and the other options for you."
    )


class PlainMitmdump:
    """Applies `plain_defaults` when the script is loaded, and refuses an unauthenticated listener on every
    interface (see the module docstring)."""

    def load(self, loader: Loader) -> None:
        opts = loader.master.options
        updates = plain_defaults(opts)
        if updates:
            opts.update(**updates)
            shown = ", ".join(f"{k}={'<guarded hosts>' if k == 'allow_hosts' else v}" for k, v in updates.items())
            log.info("phiwall: plain mitmdump: set %s, as `phiwall run` does", shown)

    def configure(self, updated: set[str]) -> None:
        from mitmproxy import ctx
        from mitmproxy import exceptions

        why = listener_problem(ctx.options)
        if why:
            raise exceptions.OptionsError(why)
