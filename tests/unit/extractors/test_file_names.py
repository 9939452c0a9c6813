"""File names are text parts: multipart Content-Disposition names, upload-registration JSON names, a resumable
upload's name header. Each has role "filename", an id after every other part (content ids do not shift), and a
chain that renames the file in place (`MultipartFilename` → `NameWords`), the extension and separator kept."""

from __future__ import annotations

import json

import pytest
from phiwall.extractors import adapter_for
from phiwall.extractors import service_by_name
from phiwall.extractors.anthropic_api import AnthropicAdapter
from phiwall.extractors.base import parse_multipart
from phiwall.extractors.gemini_upload import GeminiUploadAdapter
from phiwall.extractors.openai_api import OpenAIAdapter
from phiwall.locators import NameWords
from phiwall.locators import RewriteError
from phiwall.model import PartKind

from tests.support.samples import PHI_PROMPT
from tests.support.samples import dicom_bytes
from tests.support.samples import multipart
from tests.support.samples import request

NAME = "Okafor_Margaret_CT.dcm"


def _upload(name: str = NAME) -> tuple[bytes, str]:
    return multipart(
        [
            ("purpose", None, None, b"user_data"),
            ("file", name, "application/dicom", dicom_bytes()),
            ("note", None, None, PHI_PROMPT.encode()),
        ]
    )


def test_multipart_file_name_is_a_text_part_after_every_other_part() -> None:
    body, ct = _upload()
    env = OpenAIAdapter().extract(request("POST", "api.openai.com", "/v1/files", body, ct), body)
    assert [(p.id, p.kind, p.role) for p in env.parts] == [
        ("p0", PartKind.FILE, "content"),
        ("p1", PartKind.TEXT, "content"),
        ("p2", PartKind.TEXT, "filename"),
    ]
    name = env.parts[2]
    assert name.text == "Okafor Margaret CT" and name.parent_id is None
    assert name.locator.describe() == "multipart:file.1.filename" == name.locator.audit_where()
    assert name.not_rewritable is None


def test_rewriting_the_name_renames_the_file_and_leaves_every_other_byte() -> None:
    body, ct = _upload()
    req = request("POST", "api.openai.com", "/v1/files", body, ct)
    a = OpenAIAdapter()
    env = a.extract(req, body)
    new = a.rewrite(req, body, {"p2": "[PATIENT_1] CT"}, env.parts)
    fields = parse_multipart(new, ct)
    assert [f.filename for f in fields] == [None, "[PATIENT_1]_CT.dcm", None]
    assert [f.data for f in fields] == [f.data for f in parse_multipart(body, ct)]
    assert new.replace(b"[PATIENT_1]_CT.dcm", NAME.encode()) == body
    # the file and its name in one request: both written (the DICOM bytes and the header are separate places)
    both = a.rewrite(req, body, {"p0": b"DICM-new", "p2": "scan"}, env.parts)
    assert [(f.filename, f.data) for f in parse_multipart(both, ct)][1] == ("scan.dcm", b"DICM-new")


def test_rfc5987_name_is_renamed_too() -> None:
    body, ct = _upload()
    body = body.replace(b'filename="Okafor_Margaret_CT.dcm"', b"filename=\"x.dcm\"; filename*=UTF-8''Okafor%C3%A9.dcm")
    req = request("POST", "api.anthropic.com", "/v1/files", body, ct)
    env = AnthropicAdapter().extract(req, body)
    (name,) = [p for p in env.parts if p.role == "filename"]
    new = AnthropicAdapter().rewrite(req, body, {name.id: "scan"}, env.parts)
    assert b"Okafor" not in new and b"filename=\"scan.dcm\"; filename*=UTF-8''scan.dcm" in new


def test_only_an_extended_name_is_inspected_but_not_renamed() -> None:
    body, ct = _upload()
    body = body.replace(b'filename="Okafor_Margaret_CT.dcm"', b"filename*=UTF-8''Okafor_Margaret_CT.dcm")
    env = AnthropicAdapter().extract(request("POST", "api.anthropic.com", "/v1/files", body, ct), body)
    (name,) = [p for p in env.parts if p.role == "filename"]
    assert "Okafor" in (name.text or "") and "rename it" in (name.not_rewritable or "")


@pytest.mark.parametrize(
    ("service", "host", "path", "doc", "text"),
    [
        ("openai_api", "api.openai.com", "/v1/uploads", {"filename": NAME, "bytes": 9, "purpose": "x"}, None),
        ("chatgpt_web", "chatgpt.com", "/backend-api/files", {"file_name": NAME, "file_size": 9}, None),
        ("openai_api", "api.openai.com", "/v1/chat/completions", None, None),
    ],
)
def test_json_names_are_marked_and_renamed_in_place(
    service: str, host: str, path: str, doc: dict[str, object] | None, text: None
) -> None:
    if doc is None:
        doc = {
            "model": "gpt-4o",
            "messages": [{"role": "user", "content": [{"type": "file", "file": {"filename": NAME, "file_id": "f"}}]}],
        }
    body = json.dumps(doc).encode()
    req = request("POST", host, path, body)
    a = adapter_for(service_by_name(service))  # type: ignore[arg-type]
    env = a.extract(req, body)
    (name,) = [p for p in env.parts if p.role == "filename"]
    assert name.text == "Okafor Margaret CT"
    new = a.rewrite(req, body, {name.id: "[PATIENT_1] CT"}, env.parts)
    assert new == body.replace(NAME.encode(), b"[PATIENT_1]_CT.dcm")


def test_gemini_display_name_and_name_header() -> None:
    body = json.dumps({"file": {"displayName": NAME, "mimeType": "application/dicom"}}).encode()
    headers = (("x-goog-upload-command", "start"), ("x-goog-upload-file-name", "Doe_Jane.dcm"))
    req = request("POST", "generativelanguage.googleapis.com", "/upload/v1beta/files", body, headers=headers)
    env = GeminiUploadAdapter().extract(req, body)
    assert [(p.id, p.text, p.role) for p in env.parts] == [
        ("p0", "Okafor Margaret CT", "filename"),
        ("p1", "Doe Jane", "filename"),
    ]
    assert env.parts[1].locator.describe() == "header:x-goog-upload-file-name"
    assert "rename the file" in (env.parts[1].not_rewritable or "")
    with pytest.raises(RewriteError) as e:
        GeminiUploadAdapter().rewrite(req, body, {"p1": "x"}, env.parts)
    assert e.value.code == "not_rewritable"


@pytest.mark.parametrize(
    ("name", "text", "new", "out"),
    [
        ("Okafor_Margaret_CT.dcm", "Okafor Margaret CT", "[P1] CT", "[P1]_CT.dcm"),
        ("Margaret Okafor.dcm", "Margaret Okafor", "[P1]", "[P1].dcm"),
        ("okafor-margaret.nii.gz", "okafor margaret", "[P1]", "[P1].nii.gz"),
        ("J.Smith", "J Smith", "[P1]", "[P1]"),  # ".Smith" is no extension
        ("Doe.A", "Doe A", "x y", "x.y"),  # nor a one-letter one (an initial)
        ("plain", "plain", "[P1]", "[P1]"),
    ],
)
def test_name_words(name: str, text: str, new: str, out: str) -> None:
    steps = NameWords.of(name)
    step = steps[0] if steps else None
    assert (step.read(name) if step else name) == text
    assert (step.write(name, text) if step else text) == name  # exact inverse
    assert (step.write(name, new) if step else new) == out


def test_names_do_not_shift_content_ids_of_any_multipart_adapter() -> None:
    """Grok, Claude web, Gemini web uploads and ChatGPT storage all parse multipart through collect_multipart."""
    body, ct = multipart([("file", NAME, "application/dicom", dicom_bytes()), ("x", None, None, b"hello there")])
    for service, host, path in (
        ("grok_web", "grok.com", "/rest/app-chat/upload-file"),
        ("gemini_upload", "content-push.googleapis.com", "/upload"),
        ("anthropic_api", "api.anthropic.com", "/v1/files"),
    ):
        req = request("POST", host, path, body, ct)
        env = adapter_for(service_by_name(service)).extract(req, body)  # type: ignore[arg-type]
        roles = [(p.id, p.role) for p in env.parts]
        assert roles[-1] == (f"p{len(roles) - 1}", "filename") and all(r == "content" for _, r in roles[:-1]), service


def test_zip_member_names_and_bytes_are_rewritten_together() -> None:
    """A zipped folder named after the patient, inside a multipart upload: the names part (after the members)
    renames the folder and file in every member path; a member's new bytes go in the same rebuild."""
    import io
    import zipfile

    from phiwall import containers

    from tests import factories as F

    zbuf = io.BytesIO()
    with zipfile.ZipFile(zbuf, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("Okafor_Margaret/", b"")
        z.writestr("Okafor_Margaret/Okafor_Margaret_CT.dcm", F.make_dicom())
        z.writestr("Okafor_Margaret/notes.txt", b"follow-up in 2 weeks")
    body, ct = multipart([("file", "study.zip", "application/zip", zbuf.getvalue())])
    req = request("POST", "api.anthropic.com", "/v1/files", body, ct)
    a = AnthropicAdapter()
    top = list(a.extract(req, body).parts)
    kids = containers.expand(top[0])
    parts = top + kids
    (names,) = [k for k in kids if k.role == "filename"]
    assert names.id == f"p0.{len(kids) - 1}" and names.text == "Okafor Margaret\nOkafor Margaret CT\nnotes"
    dicom = next(k for k in kids if k.media_type == "application/dicom")
    new_text = "[PATIENT_1]\n[PATIENT_1] CT\nnotes"
    out = a.rewrite(req, body, {names.id: new_text, dicom.id: b"DICM-deidentified"}, parts)
    (field,) = parse_multipart(out, ct)
    z = zipfile.ZipFile(io.BytesIO(field.data))
    assert z.namelist() == ["[PATIENT_1]/", "[PATIENT_1]/[PATIENT_1]_CT.dcm", "[PATIENT_1]/notes.txt"]
    assert z.read("[PATIENT_1]/[PATIENT_1]_CT.dcm") == b"DICM-deidentified"
    assert z.read("[PATIENT_1]/notes.txt") == b"follow-up in 2 weeks" and b"Okafor" not in out
    with pytest.raises(RewriteError) as e:
        a.rewrite(req, body, {names.id: "one line"}, parts)
    assert e.value.code == "bad_edit"
