"""Issue 3 acceptance, xAI native API: the real `xai-sdk` (gRPC over HTTP/2) through a real `phiwall run` process
to a fake gRPC server. PHI (a prompt, a text file), DICOM and X-ray images (inline and via Files/UploadFile) are
stopped with the SDK raising its normal PERMISSION_DENIED error carrying phiwall's message; a benign request reaches
the server unchanged."""

from __future__ import annotations

import base64
from collections.abc import Iterator
from pathlib import Path

import grpc
import pytest

from tests.factories import make_dicom
from tests.support.fake_upstream import FakeUpstream
from tests.support.samples import BENIGN
from tests.support.samples import PHI_NOTE
from tests.support.samples import PHI_PROMPT
from tests.support.samples import xray_png
from tests.support.special_upstreams import Specials
from tests.support.special_upstreams import special_proxy

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def specials(
    tmp_path_factory: pytest.TempPathFactory, pki: tuple[Path, Path, Path], upstream: FakeUpstream
) -> Specials:
    return special_proxy(tmp_path_factory.mktemp("phiwall-special"), pki, upstream.port)


@pytest.fixture
def xai(specials: Specials, monkeypatch: pytest.MonkeyPatch) -> Iterator[object]:
    from xai_sdk import Client

    monkeypatch.setenv("GRPC_DEFAULT_SSL_ROOTS_FILE_PATH", str(specials.proxy.ca))
    monkeypatch.setenv("https_proxy", specials.proxy.url)
    monkeypatch.setenv("no_proxy", "")
    for k in ("HTTPS_PROXY", "grpc_proxy"):
        monkeypatch.delenv(k, raising=False)
    specials.xai.clear()
    client = Client(api_key="xai-test", timeout=60)
    yield client
    client.close() if hasattr(client, "close") else None


def ask(client: object, *content: object) -> object:
    from xai_sdk.chat import user

    chat = client.chat.create(model="grok-4")  # type: ignore[attr-defined]
    chat.append(user(*content))
    return chat.sample()


def test_benign_prompt_reaches_server(xai: object, specials: Specials) -> None:
    r = ask(xai, BENIGN)
    assert r.content == "Fake answer."  # type: ignore[attr-defined]
    assert len(specials.xai.calls) == 1
    assert BENIGN.encode() in specials.xai.calls[0][1][0]
    ev = specials.proxy.audit_events()[-1]
    assert ev["verdict"] == "allow" and ev["endpoint"] == "chat.get_completion" and ev["service"] == "xai_api"


def test_phi_prompt_is_blocked_with_permission_denied(xai: object, specials: Specials) -> None:
    with pytest.raises(grpc.RpcError) as ei:
        ask(xai, PHI_PROMPT)
    err = ei.value
    assert err.code() == grpc.StatusCode.PERMISSION_DENIED  # type: ignore[attr-defined]
    assert "phiwall blocked" in err.details() and "John" not in err.details()  # type: ignore[attr-defined]
    assert specials.xai.calls == []


def test_dicom_as_image_data_url_is_blocked(xai: object, specials: Specials) -> None:
    from xai_sdk.chat import image

    url = "data:image/png;base64," + base64.b64encode(make_dicom()).decode()
    with pytest.raises(grpc.RpcError) as ei:
        ask(xai, "What does this show?", image(url))
    assert ei.value.code() == grpc.StatusCode.PERMISSION_DENIED  # type: ignore[attr-defined]
    assert "DICOM" in ei.value.details()  # type: ignore[attr-defined]
    assert specials.xai.calls == []


def test_xray_png_as_image_is_blocked(xai: object, specials: Specials) -> None:
    from xai_sdk.chat import image

    url = "data:image/png;base64," + base64.b64encode(xray_png()).decode()
    with pytest.raises(grpc.RpcError) as ei:
        ask(xai, "Is this normal?", image(url))
    assert ei.value.code() == grpc.StatusCode.PERMISSION_DENIED  # type: ignore[attr-defined]
    assert "phiwall blocked" in ei.value.details()  # type: ignore[attr-defined]
    assert specials.xai.calls == []
    assert "medical-image" in specials.proxy.audit_events()[-1]["rule_ids"]


def test_dicom_file_upload_is_blocked(xai: object, specials: Specials) -> None:
    with pytest.raises(grpc.RpcError) as ei:
        xai.files.upload(make_dicom(), filename="scan.dcm")  # type: ignore[attr-defined]
    assert ei.value.code() == grpc.StatusCode.PERMISSION_DENIED  # type: ignore[attr-defined]
    assert "DICOM" in ei.value.details()  # type: ignore[attr-defined]
    assert specials.xai.calls == []


def test_xray_png_file_upload_is_blocked(xai: object, specials: Specials) -> None:
    with pytest.raises(grpc.RpcError) as ei:
        xai.files.upload(xray_png(), filename="chest.png")  # type: ignore[attr-defined]
    assert ei.value.code() == grpc.StatusCode.PERMISSION_DENIED  # type: ignore[attr-defined]
    assert "phiwall blocked" in ei.value.details()  # type: ignore[attr-defined]
    assert specials.xai.calls == []
    ev = specials.proxy.audit_events()[-1]
    assert ev["endpoint"] == "files.upload" and "medical-image" in ev["rule_ids"]


def test_text_file_with_phi_upload_is_blocked(xai: object, specials: Specials) -> None:
    with pytest.raises(grpc.RpcError) as ei:
        xai.files.upload(PHI_NOTE.encode(), filename="discharge.txt")  # type: ignore[attr-defined]
    assert ei.value.code() == grpc.StatusCode.PERMISSION_DENIED  # type: ignore[attr-defined]
    assert "phiwall blocked" in ei.value.details() and "Jane" not in ei.value.details()  # type: ignore[attr-defined]
    assert specials.xai.calls == []


def test_benign_file_upload_reaches_server(xai: object, specials: Specials) -> None:
    from xai_sdk.proto.v6 import files_pb2

    data = b"Shopping list: eggs, milk, bread.\n"
    f = xai.files.upload(data, filename="list.txt")  # type: ignore[attr-defined]
    assert f.id == "file_fake0001"
    method, msgs = specials.xai.calls[0]
    assert method == "/xai_api.Files/UploadFile"
    assert b"".join(files_pb2.UploadFileChunk.FromString(m).data for m in msgs) == data  # unchanged
