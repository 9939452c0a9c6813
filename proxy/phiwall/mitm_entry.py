"""The script `phiwall run` hands to mitmdump (`-s`): mitmproxy loads addons from a file's `addons` list."""

import os
import sys

# mitmproxy puts a script's folder first on sys.path (and leaves it there): phiwall's own modules (request.py,
# errors.py, encoding.py...) would then shadow any top-level module of the same name in the proxy process.
_here = os.path.dirname(os.path.abspath(__file__))
sys.path[:] = [p for p in sys.path if os.path.abspath(p or os.curdir) != _here]

from phiwall.addon import PhiWall  # noqa: E402
from phiwall.addon_gateway import ExposureGuard  # noqa: E402
from phiwall.addon_gateway import Observability  # noqa: E402
from phiwall.addon_gateway import SharedState  # noqa: E402
from phiwall.bodylimit import BodyLimit  # noqa: E402
from phiwall.deadlines import Deadlines  # noqa: E402

_wall = PhiWall()
# Deadlines after PhiWall: it bounds the body and upstream waits of the flows PhiWall marked as guarded.
# ExposureGuard first: a proxy that would be open stops before anything else starts. SharedState and
# Observability after PhiWall: their configure wraps what PhiWall's configure built (store, audit sink).
# BodyLimit after PhiWall: bodies over the policy's limit are answered (413, service-shaped) before they are read.
addons = [ExposureGuard(), _wall, BodyLimit(_wall), Deadlines(_wall), SharedState(_wall), Observability(_wall)]
