"""Who is sending a request: client address, proxy-authenticated user, and the user's groups.

Policies treat a radiology VLAN, students and anonymous users differently, so identity has to be resolved the
same way in the live proxy, in `phiwall replay` and in `phiwall policy test`. Sources, in order:

1. **User**: mitmproxy's own `proxyauth` option (e.g. `--set proxyauth=@/etc/phiwall/htpasswd`) authenticates the
   client and puts the user name in `flow.metadata["proxyauth"]`. Behind an upstream authenticating proxy
   (a corporate SSO gateway), a header it sets (`phiwall_user_header`, e.g. `X-Authenticated-User`) names the user,
   but **only** when the request comes from an address in `phiwall_trusted_proxies`: anyone else could type the
   header themselves.
2. **Groups**: a group file (`phiwall_groups_file`, Apache `AuthGroupFile` format: `group: user1 user2`) maps users
   to groups, and a trusted upstream may add groups in `phiwall_groups_header` (comma-separated).

A misconfiguration never widens access: headers from untrusted clients are ignored, and an unreadable group file
means "no groups" (rules for named groups then do not relax anything), with an error in the log.
"""

from __future__ import annotations

import ipaddress
import logging
import os
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass
from ipaddress import IPv4Network
from ipaddress import IPv6Address
from ipaddress import IPv6Network
from pathlib import Path

from phiwall.errors import PolicyError
from phiwall.request import Who

log = logging.getLogger("phiwall")

GROUP_FILE_RECHECK_SECONDS = 2.0


@dataclass(frozen=True, slots=True)
class Requester(Who):
    """A Who that also knows the destination host, so host conditions in rules and exceptions can be evaluated
    wherever `Policy.evaluate` receives only `who` (the pipeline passes `RequestData.who` through unchanged)."""

    host: str = ""


@dataclass(frozen=True, slots=True)
class IdentityConfig:
    """Identity settings, as mitmproxy options (`phiwall_groups_file`, `phiwall_user_header`,
    `phiwall_groups_header`, `phiwall_trusted_proxies`)."""

    groups_file: str = ""
    user_header: str = ""
    groups_header: str = ""
    trusted_proxies: tuple[IPv4Network | IPv6Network, ...] = ()

    @classmethod
    def parse(cls, groups_file: str, user_header: str, groups_header: str, trusted_proxies: str) -> IdentityConfig:
        """Build from option strings. Raises PolicyError naming the bad option and how to write it."""
        nets = []
        for item in (x.strip() for x in trusted_proxies.split(",")):
            if not item:
                continue
            try:
                nets.append(ipaddress.ip_network(item, strict=False))
            except ValueError:
                raise PolicyError(
                    f"phiwall_trusted_proxies: {item!r} is not an IP address or CIDR range; "
                    "write a comma-separated list such as 10.0.0.5,10.1.0.0/16"
                ) from None
        if (user_header or groups_header) and not nets:
            log.warning(
                "phiwall: identity headers are configured but phiwall_trusted_proxies is empty, so they are ignored"
            )
        return cls(groups_file.strip(), user_header.strip(), groups_header.strip(), tuple(nets))


def parse_group_file(text: str, path: str = "<groups>") -> dict[str, frozenset[str]]:
    """Parse `group: user1 user2` lines (commas also separate users; `#` starts a comment) into user → groups."""
    users: dict[str, set[str]] = {}
    for n, raw in enumerate(text.splitlines(), 1):
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        if ":" not in line:
            raise PolicyError(f"{path}:{n}: expected 'group: user1 user2', found no ':'")
        group, members = line.split(":", 1)
        group = group.strip()
        if not group:
            raise PolicyError(f"{path}:{n}: the group name before ':' is empty")
        for user in members.replace(",", " ").split():
            users.setdefault(user, set()).add(group)
    return {u: frozenset(g) for u, g in users.items()}


class IdentityResolver:
    """Resolves a Requester from the facts the proxy has. Thread-safe; the group file is re-read when it changes."""

    def __init__(self, config: IdentityConfig) -> None:
        self.config = config
        self._groups: dict[str, frozenset[str]] = {}
        self._mtime: float | None = None
        self._checked = 0.0
        self._lock = threading.Lock()
        if config.groups_file:
            self._reload(force=True)

    def _reload(self, force: bool = False) -> None:
        now = time.monotonic()
        if not force and now - self._checked < GROUP_FILE_RECHECK_SECONDS:
            return
        with self._lock:
            self._checked = now
            path = self.config.groups_file
            try:
                mtime = os.stat(path).st_mtime
            except OSError as e:
                if self._mtime is not None or force:
                    log.error(
                        "phiwall: cannot read phiwall_groups_file %s (%s); users have no groups", path, e.strerror
                    )
                self._groups, self._mtime = {}, None
                return
            if mtime == self._mtime:
                return
            try:
                self._groups = parse_group_file(Path(path).read_text(encoding="utf-8"), path)
            except (OSError, UnicodeDecodeError, PolicyError) as e:
                log.error("phiwall: invalid phiwall_groups_file, users have no groups: %s", e)
                self._groups = {}
            self._mtime = mtime

    def trusted(self, client: str) -> bool:
        """Whether identity headers from this client address are believed."""
        addr = _address(client)
        return addr is not None and any(addr in n for n in self.config.trusted_proxies if n.version == addr.version)

    def resolve(
        self,
        client: str,
        proxyauth_user: str | None,
        headers: Iterable[tuple[str, str]] = (),
        host: str = "",
    ) -> Requester:
        """The requester: proxyauth wins; trusted headers fill in; groups from the file and trusted headers."""
        user = proxyauth_user or None
        header_groups: list[str] = []
        cfg = self.config
        if (cfg.user_header or cfg.groups_header) and self.trusted(client):
            lu, lg = cfg.user_header.lower(), cfg.groups_header.lower()
            for k, v in headers:
                kl = k.lower()
                if lu and kl == lu and user is None and v.strip():
                    user = v.strip()
                elif lg and kl == lg:
                    header_groups += [g.strip() for g in v.split(",") if g.strip()]
        groups: set[str] = set(header_groups)
        if cfg.groups_file and user is not None:
            self._reload()
            groups |= self._groups.get(user, frozenset())
        return Requester(client=client, user=user, groups=tuple(sorted(groups)), host=host.rstrip(".").lower())


def _address(client: str) -> ipaddress.IPv4Address | IPv6Address | None:
    try:
        addr = ipaddress.ip_address(client.split("%", 1)[0]) if client else None
    except ValueError:
        return None
    if isinstance(addr, IPv6Address) and addr.ipv4_mapped is not None:
        return addr.ipv4_mapped
    return addr


_cache: dict[tuple[str, str, str, str], IdentityResolver] = {}
_cache_lock = threading.Lock()


def resolver_for(groups_file: str, user_header: str, groups_header: str, trusted_proxies: str) -> IdentityResolver:
    """The resolver for these option values, built once (the addon calls this per request).

    Raises:
        PolicyError: an option is malformed (a bad CIDR); callers must fail safe (no header trust).
    """
    key = (groups_file, user_header, groups_header, trusted_proxies)
    r = _cache.get(key)
    if r is None:
        with _cache_lock:
            r = _cache.get(key)
            if r is None:
                r = IdentityResolver(IdentityConfig.parse(*key))
                _cache.clear()  # options changed: the old resolver is stale
                _cache[key] = r
    return r
