"""Gemini web adapter: StreamGenerate `f.req` (JSON in a form field, JSON string inside), file references at
inner[0][3], batchexecute RPC payloads, generic scan of the rest, and changed inner shapes → ExtractionError."""

from __future__ import annotations

import json
from urllib.parse import urlencode

import pytest
from phiwall.errors import ExtractionError
from phiwall.extractors.gemini_web import GeminiWebAdapter
from phiwall.model import PartKind

from tests.support.samples import BENIGN
from tests.support.samples import PHI_PROMPT
from tests.support.samples import request

A = GeminiWebAdapter()
SG = "/_/BardChatUi/data/assistant.lamda.BardFrontendService/StreamGenerate?bl=boq_x&f.sid=1&hl=en&_reqid=12345&rt=c"
FORM = "application/x-www-form-urlencoded;charset=utf-8"
REF = "/contrib_service/ttl_1d/1709764705i7wdlyx3mdzndme3a767pluckv4flj"


def stream_generate_body(prompt: str, files: list | None = None, extra_slot: str | None = None) -> bytes:
    """The spec §3.3 shape: f.req=[null, "<inner JSON>"], inner[0] = [prompt, 0, null, files, null, null, 0]."""
    inner: list = [[prompt, 0, None, files, None, None, 0], ["en"], ["c_abc", "r_def", "rc_ghi"]] + [None] * 66
    if extra_slot is not None:
        inner[45] = [extra_slot]
    return urlencode({"f.req": json.dumps([None, json.dumps(inner)]), "at": "SNlM0e-token:123"}).encode()


def _run(body: bytes, path: str = SG):  # noqa: ANN202
    return A.extract(request("POST", "gemini.google.com", path, body, FORM), body)


def _texts(env):  # noqa: ANN001, ANN202
    return [p.text for p in env.parts if p.kind == PartKind.TEXT]


def test_prompt_at_inner_0_0() -> None:
    env = _run(stream_generate_body(PHI_PROMPT))
    assert env.endpoint == "StreamGenerate" and env.kind == "chat"
    prompt = next(p for p in env.parts if p.text == PHI_PROMPT)
    assert prompt.locator.describe() == "form:f.req.1.0.0"
    assert "SNlM0e-token:123" not in _texts(env)  # the `at` token is not content


@pytest.mark.parametrize(
    "files",
    [
        [[[REF, 1, None, "image/png"], "Smith_John_chest.png"]],  # browser shape
        [[[REF], "Smith_John_chest.png"]],  # gemini_webapi's shorter tuple
    ],
)
def test_file_references_and_file_names(files: list) -> None:
    env = _run(stream_generate_body(BENIGN, files))
    assert f"file_ref:{REF}" in env.notes
    assert "Smith_John_chest.png" in _texts(env)
    assert REF not in _texts(env)


def test_text_in_an_unknown_slot_is_still_inspected() -> None:
    env = _run(stream_generate_body(BENIGN, extra_slot=PHI_PROMPT))
    assert PHI_PROMPT in _texts(env)


def test_multi_account_prefix() -> None:
    env = _run(stream_generate_body(PHI_PROMPT), "/u/1" + SG)
    assert env.endpoint == "StreamGenerate"


@pytest.mark.parametrize(
    "freq,what",
    [
        ("not json", "f.req is not JSON"),
        (json.dumps([None, "not json either"]), r"f.req\[1\] is not JSON"),
        (json.dumps([None, json.dumps({"a": 1})]), "inner"),
        (json.dumps([None, json.dumps([[5, 0]])]), "prompt"),
        (json.dumps([None, json.dumps([["hi", 0, None, "files?"]])]), "attachments"),
        (json.dumps({"new": "shape"}), "f.req is not"),
    ],
)
def test_changed_inner_shape_raises_naming_the_endpoint(freq: str, what: str) -> None:
    with pytest.raises(ExtractionError, match=what) as ei:
        _run(urlencode({"f.req": freq}).encode())
    assert "StreamGenerate" in str(ei.value)


def test_missing_f_req_raises() -> None:
    with pytest.raises(ExtractionError, match="f.req"):
        _run(b"at=token")


def test_batchexecute_gem_instructions() -> None:
    payload = json.dumps([["My gem", "Always address the patient " + PHI_PROMPT]])
    body = urlencode({"f.req": json.dumps([[["oMH3Zd", payload, None, "generic"]]]), "at": "tok"}).encode()
    env = _run(body, "/_/BardChatUi/data/batchexecute?rpcids=oMH3Zd")
    assert env.endpoint == "batchexecute" and "rpc:oMH3Zd" in env.notes
    assert any(PHI_PROMPT in t for t in _texts(env))


def test_batchexecute_wrong_shape() -> None:
    with pytest.raises(ExtractionError, match="batchexecute"):
        _run(urlencode({"f.req": json.dumps({"x": 1})}).encode(), "/_/BardChatUi/data/batchexecute")


def test_other_paths_generic() -> None:
    env = A.extract(request("POST", "gemini.google.com", "/_/BardChatUi/jserror", b"error=x"), b"error=x")
    assert env.endpoint == "generic"
