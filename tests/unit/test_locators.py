"""Each reversible step on its own: it reads the inner value and writes a new one back re-encoded the way it was
found (JSON escapes of the serialiser that wrote it, form encoding, base64 alphabet/padding/wrapping, data URL
header, JSON Lines endings, multipart headers, gRPC compression and varint lengths); every step and locator
pickles (envelopes cross to worker processes); conflicts, stale bodies and lossy text refuse clearly."""

from __future__ import annotations

import base64
import gzip
import json
import pickle
import zlib

import pytest
from hypothesis import given
from hypothesis import settings
from hypothesis import strategies as st
from phiwall.containers.archive import Gunzip
from phiwall.containers.archive import TarMember
from phiwall.containers.archive import ZipMember
from phiwall.containers.nifti import NiftiHeader
from phiwall.containers.textfile import TextFile
from phiwall.extractors.grpc import Field
from phiwall.extractors.grpc import GrpcChunks
from phiwall.extractors.grpc import GrpcFrame
from phiwall.extractors.grpc import parse_message
from phiwall.locators import Base64
from phiwall.locators import DataUrl
from phiwall.locators import Form
from phiwall.locators import FormKey
from phiwall.locators import Json
from phiwall.locators import Jsonl
from phiwall.locators import Multipart
from phiwall.locators import MultipartFilename
from phiwall.locators import NotRewritable
from phiwall.locators import Percent
from phiwall.locators import RewriteError
from phiwall.locators import Utf8
from phiwall.locators import apply
from phiwall.locators import json_span
from phiwall.locators import json_spans
from phiwall.locators import read
from phiwall.locators import rewrite_parts
from phiwall.model import Locator
from phiwall.model import Part
from phiwall.model import PartKind

from tests.support.samples import multipart

ALL_STEPS = [
    Json("messages", 0, "content"),
    Form("f.req", 3),
    FormKey(0),
    Multipart(2, "----b"),
    MultipartFilename(1, "----b"),
    Jsonl(7),
    Utf8(lossy=True),
    DataUrl(),
    Base64(urlsafe=True, padded=False, wrap=76, newline="\r\n", trailing="\n"),
    Percent(),
    NotRewritable("why"),
    GrpcFrame(1, "gzip"),
    Field(2, 1),
    GrpcChunks(2, ""),
    ZipMember(0, "CD/IM1"),
    TarMember(1, "a/b"),
    Gunzip(),
    TextFile("utf-16-be", b"\xfe\xff"),
    NiftiHeader(("descrip",)),
]


@pytest.mark.parametrize("step", ALL_STEPS, ids=lambda s: type(s).__name__)
def test_every_step_pickles_and_hashes(step: object) -> None:
    assert pickle.loads(pickle.dumps(step)) == step
    assert hash(step) == hash(pickle.loads(pickle.dumps(step)))


def test_locator_carries_its_chain_across_pickle_but_compares_by_place() -> None:
    loc = Locator("form", ("f.req", 1, 0, 0), "utf8", (Form("f.req", 3), Json(1), Json(0, 0)))
    back = pickle.loads(pickle.dumps(loc))
    assert back.steps == loc.steps
    assert loc == Locator("form", ("f.req", 1, 0, 0), "utf8")  # describe()/where: globs are unchanged
    assert loc.describe() == "form:f.req.1.0.0" and loc.audit_where() == "form:f.req.1.0.0"


# ---------------------------------------------------------------------------------------------------------------
# JSON


@pytest.mark.parametrize(
    "doc",
    [
        json.dumps({"a": ["x", {"b": 'Jöhn "Smith" / é'}]}),  # Python default: \u escapes
        json.dumps({"a": ["x", {"b": 'Jöhn "Smith" / é'}]}, ensure_ascii=False, separators=(",", ":")),  # JS/httpx
        '{ "a" : [ "x" , { "b" : "J\\u00f6hn \\"Smith\\" \\/ \\u00e9" } ] }\n',  # PHP-ish, slashes escaped
    ],
)
def test_json_string_is_spliced_in_the_style_of_its_serialiser(doc: str) -> None:
    step = Json("a", 1, "b")
    assert step.read(doc) == 'Jöhn "Smith" / é'
    # Written back unchanged, every byte is as it was (escapes, spacing, key order).
    assert step.write(doc, 'Jöhn "Smith" / é') == doc
    out = step.write(doc, "[PATIENT_1] ü/")
    assert isinstance(out, str) and json.loads(out) == {"a": ["x", {"b": "[PATIENT_1] ü/"}]}
    a, b = json_span(doc, ("a", 1, "b"))
    assert out[:a] == doc[:a] and out.endswith(doc[b:])  # only the literal changed


def test_json_bytes_in_bytes_out_and_duplicate_keys_take_the_last() -> None:
    body = b'{"k": "first", "k": "second", "z": 1}'
    assert Json("k").read(body) == "second"  # as json.loads reads it
    assert Json("k").write(body, "new") == b'{"k": "first", "k": "new", "z": 1}'


def test_many_json_paths_are_found_in_one_walk_and_written_at_once() -> None:
    """`json_spans` (one pass for every edited path of a document) finds what `json_span` finds path by path, and
    one batched write equals the writes made one by one."""
    doc = (
        '\ufeff{"m": [{"c": "a", "k": "x", "k": "b"}, [], {"c": [ "d" , {"e": "f"}]}], "t": "g", '
        '"n": 1, "o": {"p": null, "q": "h"}}'
    )
    paths = [("m", 0, "c"), ("m", 0, "k"), ("m", 2, "c", 0), ("m", 2, "c", 1, "e"), ("t",), ("o", "q")]
    assert json_spans(doc, paths) == {p: json_span(doc, p) for p in paths}
    with pytest.raises(KeyError):
        json_spans(doc, [("t",), ("o", "p", "x")])
    with pytest.raises((KeyError, IndexError)):
        json_span(doc, ("m", 1, 0))
    with pytest.raises((KeyError, IndexError)):
        json_spans(doc, [("m", 1, 0)])
    edits = [((Json(*p),), f"[{i}]") for i, p in enumerate(paths)]
    one_by_one = doc
    for (step,), new in edits:
        one_by_one = str(step.write(one_by_one, new))
    assert apply(doc, edits) == one_by_one
    assert json.loads(str(apply(doc, edits)).lstrip("\ufeff"))["m"][0]["k"] == "[1]"


def test_json_body_with_a_byte_order_mark() -> None:
    body = '\ufeff{"a": "John"}'.encode()
    assert json.loads(body) == {"a": "John"} and Json("a").read(body) == "John"
    assert Json("a").write(body, "[P1]") == '\ufeff{"a": "[P1]"}'.encode()


def test_json_path_gone_or_not_a_string_is_stale() -> None:
    with pytest.raises(RewriteError) as e:
        Json("a", 5).read('{"a": [1]}')
    assert e.value.code == "stale"
    with pytest.raises(RewriteError):
        Json("a").read('{"a": 3}')
    with pytest.raises(RewriteError) as e:
        Json("a").write('{"a": "x"}', b"bytes")
    assert e.value.code == "bad_edit"


def test_json_string_holding_json_nests_one_more_json_step() -> None:
    """Gemini web: Form("f.req") → Json(1) → Json(0, 0), a JSON document inside a JSON string inside a form."""
    inner = json.dumps([["Patient John Smith", 0], None])
    body = ("f.req=" + __import__("urllib.parse").parse.quote_plus(json.dumps([None, inner])) + "&at=tok").encode()
    chain = (Form("f.req", 0), Json(1), Json(0, 0))
    assert read(body, chain) == "Patient John Smith"
    out = apply(body, [(chain, "Patient [PATIENT_1]")])
    assert isinstance(out, bytes) and out.endswith(b"&at=tok")
    assert read(out, chain) == "Patient [PATIENT_1]"
    assert apply(body, [(chain, "Patient John Smith")], force=True) == body


# ---------------------------------------------------------------------------------------------------------------
# forms, multipart, JSON Lines


@pytest.mark.parametrize(
    ("body", "new", "want"),
    [
        (b"a=1&q=John+Smith&b=2", "A B", b"a=1&q=A+B&b=2"),
        (b"a=1&q=John%20Smith&b=2", "A B", b"a=1&q=A%20B&b=2"),
        (b"q=x*y&&a=1", "p*q r", b"q=p*q+r&&a=1"),  # empty segments are not pairs, as in parse_qsl
    ],
)
def test_form_value_keeps_the_other_pairs_and_the_space_style(body: bytes, new: str, want: bytes) -> None:
    step = Form("q", 1) if body.startswith(b"a=") else Form("q", 0)
    out = step.write(body, new)
    assert out == want and step.read(out) == new
    assert step.write(body, str(step.read(body))) == body


def test_lossy_form_value_and_lone_surrogates() -> None:
    with pytest.raises(RewriteError) as e:
        Form("q", 0).write(b"q=caf%E9", "cafe")
    assert e.value.code == "not_rewritable"
    body = b'{"a": "x\\ud83d", "b": "\xc3\xa9"}'  # raw UTF-8 style, and a lone surrogate escape
    assert Json("a").read(body) == "x\ud83d"
    out = Json("a").write(body, "y\ud83d")
    assert isinstance(out, bytes) and json.loads(out) == {"a": "y\ud83d", "b": "é"}


def test_form_key_and_renamed_pair() -> None:
    body = b"File+name%3A+John+Smith.png="
    assert FormKey(0).read(body) == "File name: John Smith.png"
    assert FormKey(0).write(body, "File name: scan.png") == b"File+name%3A+scan.png="
    with pytest.raises(RewriteError) as e:
        Form("other", 0).read(b"q=1")
    assert e.value.code == "stale"


def test_multipart_part_body_is_spliced_between_its_own_headers() -> None:
    body, _ = multipart(
        [("purpose", None, None, b"batch"), ("file", "John Smith.dcm", "application/dicom", b"\x00DICOM\r\n")],
        boundary="XyZ",
    )
    step = Multipart(1, "XyZ")
    assert step.read(body) == b"\x00DICOM\r\n"
    out = step.write(body, b"clean")
    assert out == body.replace(b"\x00DICOM\r\n", b"clean")  # headers, filename and the other part as sent
    with pytest.raises(RewriteError) as e:
        step.write(body, b"evil\r\n--XyZ\r\nContent-Disposition: form-data; name=x\r\n\r\n")
    assert e.value.code == "boundary_collision"


def test_multipart_filename_is_renamed_in_its_header_only() -> None:
    body, _ = multipart([("file", 'Okafor \\"Margaret\\" CT.dcm', "application/dicom", b"DATA")], boundary="XyZ")
    body = body.replace(b'.dcm"', b".dcm\"; filename*=UTF-8''Okafor%20Margaret.dcm")
    step = MultipartFilename(0, "XyZ")
    assert step.read(body) == 'Okafor "Margaret" CT.dcm'
    out = step.write(body, "scan-1.dcm")
    assert b"Okafor" not in out and step.read(out) == "scan-1.dcm"
    assert Multipart(0, "XyZ").read(out) == b"DATA"
    assert b"filename*=UTF-8''scan-1.dcm" in out


@pytest.mark.parametrize("nl", [b"\n", b"\r\n"])
def test_jsonl_line_keeps_its_ending(nl: bytes) -> None:
    data = nl.join([b'{"a": "1"}', b'{"a": "John"}', b'{"a": "3"}']) + nl
    chain = (Jsonl(1), Json("a"))
    out = apply(data, [(chain, "[P1]")])
    assert out == data.replace(b'"John"', b'"[P1]"')


# ---------------------------------------------------------------------------------------------------------------
# text, data URLs, base64


def test_base64_is_written_in_the_alphabet_padding_and_wrapping_found() -> None:
    raw = bytes(range(250)) * 3
    for s in [
        base64.b64encode(raw).decode(),
        base64.urlsafe_b64encode(raw).decode().rstrip("="),
        base64.encodebytes(raw).decode(),  # MIME: 76-character lines, trailing newline
        base64.b64encode(raw).decode().replace("\n", ""),
    ]:
        step = Base64.like(s)
        assert step.read(s) == raw
        assert step.write(s, raw) == s
        out = step.write(s, raw[::-1])
        assert Base64.like(str(out)) == step and step.read(out) == raw[::-1]


def test_data_url_header_is_kept_and_percent_payloads_work() -> None:
    s = "data:image/png;name=scan.png;base64," + base64.b64encode(b"\x89PNG old").decode()
    chain = (DataUrl(), Base64.like(s.split(",", 1)[1]))
    out = apply(s, [(chain, b"\x89PNG new")])
    assert out == "data:image/png;name=scan.png;base64," + base64.b64encode(b"\x89PNG new").decode()
    p = "data:text/plain,John%20Smith"
    assert apply(p, [((DataUrl(), Percent()), b"[P1] x")]) == "data:text/plain,%5BP1%5D%20x"


def test_lossy_text_is_read_but_not_written() -> None:
    assert Utf8().write(b"", "é") == "é".encode()
    with pytest.raises(RewriteError) as e:
        Utf8(lossy=True).write(b"caf\xe9", "cafe")
    assert e.value.code == "not_rewritable" and "UTF-8" in str(e.value)
    part = Part("p0", PartKind.TEXT, Locator("body", (), "utf8", (Utf8(True),)), text="caf\ufffd")
    assert part.not_rewritable and "UTF-8" in part.not_rewritable
    assert Part("p1", PartKind.TEXT, Locator("body", (), "utf8", (Utf8(),)), text="x").not_rewritable is None
    # A place recorded without a chain (old call sites) is refused, not guessed.
    assert Part("p2", PartKind.TEXT, Locator("json", ("a",), "utf8"), text="x").not_rewritable


# ---------------------------------------------------------------------------------------------------------------
# gRPC


def _pb(num: int, value: bytes) -> bytes:
    n, out = len(value), bytearray([(num << 3) | 2])
    while True:
        out.append((n & 0x7F) | (0x80 if n > 0x7F else 0))
        n >>= 7
        if not n:
            return bytes(out) + value


def _frame(msg: bytes, *, compressed: bool = False) -> bytes:
    if compressed:
        co = zlib.compressobj(wbits=zlib.MAX_WBITS | 16)
        msg = co.compress(msg) + co.flush()
    return bytes([1 if compressed else 0]) + len(msg).to_bytes(4, "big") + msg


def test_grpc_field_length_grows_past_a_varint_byte_and_frames_stay_valid() -> None:
    msg = _pb(1, _pb(1, b"x" * 100) + _pb(3, b"keep")) + _pb(2, b"model")
    body = _frame(msg) + _frame(_pb(1, b"second"))
    chain = (GrpcFrame(0), Field(0, 1), Field(0, 1))
    out = apply(body, [(chain, b"y" * 300)])  # 100 -> 300: the length varints gain a byte at two levels
    assert read(out, chain) == b"y" * 300
    assert read(out, (GrpcFrame(0), Field(0, 1), Field(1, 3))) == b"keep"
    assert read(out, (GrpcFrame(0), Field(1, 2))) == b"model"
    assert out.endswith(_frame(_pb(1, b"second")))
    assert apply(body, [(chain, b"x" * 100)], force=True) == body


def test_grpc_compressed_frame_stays_compressed() -> None:
    body = _frame(_pb(1, b"Patient John Smith"), compressed=True)
    chain = (GrpcFrame(0, "gzip"), Field(0, 1))
    out = apply(body, [(chain, b"Patient [P1]")])
    assert isinstance(out, bytes) and out[0] == 1
    assert parse_message(gzip.decompress(out[5:])) == [(1, 2, b"Patient [P1]")]


def test_grpc_upload_chunks_keep_their_sizes() -> None:
    data = bytes(range(256)) * 4
    body = _frame(_pb(1, _pb(1, b"name"))) + _frame(_pb(2, data[:600])) + _frame(_pb(2, data[600:]))
    step = GrpcChunks(2)
    assert step.read(body) == data
    out = step.write(body, b"A" * 700)
    assert step.read(out) == b"A" * 700
    assert read(out, (GrpcFrame(1), Field(0, 2))) == b"A" * 600  # first chunk keeps its size
    shorter = step.write(body, b"B" * 10)
    assert step.read(shorter) == b"B" * 10


# ---------------------------------------------------------------------------------------------------------------
# the engine


def test_edits_sharing_a_prefix_and_conflicts() -> None:
    doc = '{"m": [{"c": "one"}, {"c": "two"}]}'
    out = apply(doc, [((Json("m", 0, "c"),), "1"), ((Json("m", 1, "c"),), "2")])
    assert out == '{"m": [{"c": "1"}, {"c": "2"}]}'
    s = "data:x;base64," + base64.b64encode(b"abc").decode()
    with pytest.raises(RewriteError) as e:
        apply(s, [((DataUrl(),), "QUJD"), ((DataUrl(), Base64()), b"x")])
    assert e.value.code == "conflict"
    with pytest.raises(RewriteError) as e:
        apply(b"x", [((NotRewritable("a PDF"),), b"y")])
    assert e.value.code == "not_rewritable" and str(e.value) == "a PDF"


def test_rewrite_parts_checks_ids_and_types() -> None:
    body = b'{"a": "John"}'
    parts = [Part("p0", PartKind.TEXT, Locator("json", ("a",), "utf8", (Json("a"),)), text="John")]
    assert rewrite_parts(body, parts, {}) is body
    assert rewrite_parts(body, parts, {"p0": "[P1]"}) == b'{"a": "[P1]"}'
    with pytest.raises(RewriteError) as e:
        rewrite_parts(body, parts, {"p0": b"bytes"})
    assert e.value.code == "bad_edit"
    with pytest.raises(RewriteError) as e:
        rewrite_parts(body, parts, {"p7": "x"})
    assert e.value.code == "unknown_part" and RewriteError.status == 403


# ---------------------------------------------------------------------------------------------------------------
# properties: any JSON document, any serialiser style, any string leaf


def _string_paths(v: object, path: tuple[str | int, ...] = ()) -> list[tuple[str | int, ...]]:
    if isinstance(v, str):
        return [path]
    if isinstance(v, dict):
        return [p for k, x in v.items() for p in _string_paths(x, (*path, k))]
    if isinstance(v, list):
        return [p for i, x in enumerate(v) for p in _string_paths(x, (*path, i))]
    return []


def _set(v: object, path: tuple[str | int, ...], new: str) -> object:
    if not path:
        return new
    if isinstance(v, dict):
        return {k: (_set(x, path[1:], new) if k == path[0] else x) for k, x in v.items()}
    assert isinstance(v, list)
    return [(_set(x, path[1:], new) if i == path[0] else x) for i, x in enumerate(v)]


_json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False) | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=6), inner, max_size=4),
    max_leaves=12,
)


@settings(max_examples=300, deadline=None)
@given(
    doc=_json_values,
    new=st.text(),
    style=st.sampled_from([{}, {"ensure_ascii": False}, {"separators": (",", ":")}, {"indent": 2}]),
    pick=st.integers(min_value=0),
)
def test_json_splice_property(doc: object, new: str, style: dict[str, object], pick: int) -> None:
    wrapped = {"doc": doc, "s": "x"}  # at least one string leaf
    text = json.dumps(wrapped, **style)  # type: ignore[arg-type]
    paths = _string_paths(wrapped)
    path = paths[pick % len(paths)]
    step = Json(*path)
    old = step.read(text)
    assert step.write(text, str(old)) == text or json.loads(step.write(text, str(old))) == wrapped
    out = step.write(text, new)
    assert json.loads(str(out)) == _set(wrapped, path, new)
    a, b = json_span(text, path)
    assert str(out)[:a] == text[:a] and str(out).endswith(text[b:])
    if style.get("ensure_ascii", True) and not style.get("indent"):
        assert str(out).isascii()  # the document's escape style is kept


@settings(max_examples=200, deadline=None)
@given(
    pairs=st.lists(st.tuples(st.text(min_size=1, max_size=8), st.text(max_size=12)), min_size=1, max_size=5),
    new=st.text(max_size=20),
    pick=st.integers(min_value=0),
    spaces=st.sampled_from(["+", "%20"]),
)
def test_form_property(pairs: list[tuple[str, str]], new: str, pick: int, spaces: str) -> None:
    from urllib.parse import parse_qsl
    from urllib.parse import quote

    body = "&".join(quote(k, safe="") + "=" + quote(v, safe="").replace("%20", spaces) for k, v in pairs).encode()
    i = pick % len(pairs)
    step = Form(pairs[i][0], i)
    assert step.read(body) == pairs[i][1]
    out = step.write(body, new)
    want = [(k, new if n == i else v) for n, (k, v) in enumerate(pairs)]
    assert parse_qsl(bytes(out).decode(), keep_blank_values=True) == want


@settings(max_examples=200, deadline=None)
@given(
    datas=st.lists(st.binary(max_size=40), min_size=1, max_size=4),
    new=st.binary(max_size=60),
    pick=st.integers(min_value=0),
)
def test_multipart_property(datas: list[bytes], new: bytes, pick: int) -> None:
    from phiwall.extractors.base import parse_multipart

    fields = [(f"f{n}", f"n{n}.bin", "application/octet-stream", d) for n, d in enumerate(datas)]
    body, ctype = multipart(fields, boundary="b0undary")
    i = pick % len(datas)
    try:
        out = Multipart(i, "b0undary").write(body, new)
    except RewriteError as e:
        assert e.code == "boundary_collision"
        return
    got = [f.data for f in parse_multipart(bytes(out), ctype)]
    assert got == [new if n == i else d for n, d in enumerate(datas)]
