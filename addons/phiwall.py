"""Enforce mode for a plain mitmdump:

    mitmdump -s addons/phiwall.py --set flow_detail=0 --set phiwall_policy=policies/default.yaml

`phiwall run` does the same with the right mitmproxy options (allow_hosts, connection_strategy=lazy, confdir,
flow_detail=0). phiwall refuses mitmdump's default flow_detail=1: its flow dump prints URLs with their query
strings, which can hold PHI (phiwall_unsafe_logging overrides, for synthetic traffic only)."""

import os
import sys

# mitmproxy puts a script's folder first on sys.path (and leaves it there): this file, named phiwall.py, would
# then hide the `phiwall` package it imports.
_here = os.path.dirname(os.path.abspath(__file__))
sys.path[:] = [p for p in sys.path if os.path.abspath(p or os.curdir) != _here]

from phiwall.addon import PhiWall  # noqa: E402

addons = [PhiWall()]
