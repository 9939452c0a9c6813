"""A proxy auto-config (PAC) file built from the service table: chatbot hosts through phiwall, the rest DIRECT.

Generated, never hand-kept: a host added to `phiwall.extractors.SERVICES` is in the next PAC file (`phiwall pac`,
and `/proxy.pac` on the admin port). A PAC file is advice to the browser, not enforcement (docs/deployment.md).
"""

from __future__ import annotations

import json

from phiwall.extractors import SERVICES
from phiwall.extractors import Service


def guarded_hosts(services: tuple[Service, ...] = SERVICES) -> list[str]:
    """Every host glob of every service row, in table order, without duplicates."""
    return list(dict.fromkeys(g for s in services for g in s.hosts))


def pac_file(proxy: str, services: tuple[Service, ...] = SERVICES) -> str:
    """The PAC text for a proxy at HOST:PORT. Hosts are matched with shExpMatch, the PAC spelling of the table's
    globs; the list is wrapped at ~100 columns so the file reads (and diffs) well."""
    if not proxy or ":" not in proxy or any(c in proxy for c in "\"'\\;\n"):
        raise ValueError(f"--proxy must be HOST:PORT, not {proxy!r}")
    lines: list[str] = []
    cur = ""
    for h in guarded_hosts(services):
        item = json.dumps(h) + ", "
        if len(cur) + len(item) > 96:
            lines.append(cur.rstrip())
            cur = ""
        cur += item
    lines.append(cur.rstrip().rstrip(","))
    body = ("\n" + " " * 17).join(lines)
    return (
        "function FindProxyForURL(url, host) {\n"
        f"  var guarded = [{body}];\n"
        "  for (var i = 0; i < guarded.length; i++)\n"
        f'    if (shExpMatch(host, guarded[i])) return "PROXY {proxy}";\n'
        '  return "DIRECT";\n'
        "}\n"
    )
