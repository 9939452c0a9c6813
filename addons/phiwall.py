"""Enforce mode for a plain mitmdump:

    mitmdump -s addons/phiwall.py --set phiwall_policy=policies/default.yaml

The same addons as `phiwall run` (ExposureGuard, PhiWall, shared state, observability), preceded by
`PlainMitmdump`, which applies the mitmproxy options `phiwall run` sets wherever the user left mitmdump's default:
allow_hosts = the guarded chatbot hosts (every other host is tunnelled, its TLS untouched),
connection_strategy=lazy, flow_detail=0, and listen_host=127.0.0.1 unless proxyauth is set. Options the user sets
explicitly are kept and judged: a non-loopback listener without authentication is refused (ExposureGuard), and so
are flow_detail > 0, proxy_debug and -w unless phiwall_unsafe_logging is set (their output holds PHI)."""

import os
import sys

# mitmproxy puts a script's folder first on sys.path (and leaves it there): this file, named phiwall.py, would
# then hide the `phiwall` package it imports.
_here = os.path.dirname(os.path.abspath(__file__))
sys.path[:] = [p for p in sys.path if os.path.abspath(p or os.curdir) != _here]

from phiwall import mitm_entry  # noqa: E402
from phiwall.mitm_plain import PlainMitmdump  # noqa: E402

addons = [PlainMitmdump(), *mitm_entry.addons]
