"""The gateway addons' options through mitmproxy's own test context (taddons): upload caps reach the upload store,
bad values are refused at configure, the exposure guard refuses an open listener, the state URL is validated."""

from __future__ import annotations

import pytest
from mitmproxy import exceptions
from mitmproxy.test import taddons
from phiwall.addon_gateway import ExposureGuard
from phiwall.addon_gateway import SharedState
from phiwall.state import MemoryStore
from phiwall.uploads import UploadStore


class _Wall:
    def __init__(self) -> None:
        self.uploads = UploadStore()


def test_upload_caps_are_options() -> None:
    wall = _Wall()
    addon = SharedState(wall)
    with taddons.context(addon) as tctx:
        tctx.configure(addon, phiwall_upload_max_bytes=1000, phiwall_upload_total_bytes=5000)
        assert wall.uploads.max_session_bytes == 1000 and wall.uploads.max_total_bytes == 5000
        assert isinstance(wall.uploads.store, MemoryStore)
        with pytest.raises(exceptions.OptionsError, match="positive"):
            tctx.configure(addon, phiwall_upload_max_bytes=0)
        with pytest.raises(exceptions.OptionsError, match="redis://"):
            tctx.configure(addon, phiwall_state="postgres://db")


def test_exposure_guard_in_the_addon() -> None:
    guard = ExposureGuard()
    with taddons.context(guard) as tctx:
        tctx.configure(guard, listen_host="127.0.0.1")
        with pytest.raises(exceptions.OptionsError, match="open proxy"):
            tctx.configure(guard, listen_host="0.0.0.0")
        tctx.configure(guard, listen_host="0.0.0.0", phiwall_open_proxy=True)
