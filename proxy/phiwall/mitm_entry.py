"""The script `phiwall run` hands to mitmdump (`-s`): mitmproxy loads addons from a file's `addons` list."""

from phiwall.addon import PhiWall

addons = [PhiWall()]
