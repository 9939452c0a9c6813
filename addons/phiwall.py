"""Enforce mode for a plain mitmdump: `mitmdump -s addons/phiwall.py --set phiwall_policy=policies/default.yaml`.

`phiwall run` does the same with the right mitmproxy options (allow_hosts, connection_strategy=lazy, confdir)."""

from phiwall.addon import PhiWall

addons = [PhiWall()]
