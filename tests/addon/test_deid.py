"""De-identification through the real addon (inline pipeline): the request leaves with stand-ins, the reply comes back
with the originals (whole JSON and SSE, stand-ins cut across events), the same person keeps the same stand-in over
turns, the audit holds counts and places but never a value, and what cannot be rewritten is blocked with a reason."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from mitmproxy import http

from tests.addon.conftest import audit
from tests.addon.test_addon_uploads import flow
from tests.addon.test_addon_uploads import send

POLICY = """version: 1
id: deid-test
rules:
  - id: phi-text
    action: deidentify
    when: {entities: [PERSON, DATE_TIME, DATE_OF_BIRTH, MRN, PHONE_NUMBER, US_SSN]}
  - {id: dicom, action: block, when: {entities: [DICOM_FILE]}}
"""
NAME = "Margaret Okafor"
PROMPT = f"My patient {NAME}, MRN 4455667, born 03/14/1961, has chest pain. What should {NAME} do first?"
JSON = {"content-type": "application/json"}
OPENAI = "https://api.openai.com/v1/chat/completions"


@pytest.fixture
def deid_addon(phiwall_ctx, tmp_path: Path):
    addon, tctx = phiwall_ctx
    p = tmp_path / "deid.yaml"
    p.write_text(POLICY)
    tctx.configure(addon, phiwall_policy=str(p))
    return addon


def chat(*turns: str) -> bytes:
    msgs = [{"role": "user" if i % 2 == 0 else "assistant", "content": t} for i, t in enumerate(turns)]
    return json.dumps({"model": "gpt-4o", "messages": msgs}).encode()


def sent_text(f: http.HTTPFlow) -> list[str]:
    return [m["content"] for m in json.loads(f.request.content or b"")["messages"]]


async def test_request_leaves_with_stand_ins_and_the_json_reply_comes_back_with_originals(
    deid_addon, tmp_path: Path
) -> None:
    f = flow("POST", OPENAI, chat(PROMPT), JSON)
    await send(deid_addon, f)
    assert f.response is None  # forwarded, rewritten
    (text,) = sent_text(f)
    assert NAME not in text and "4455667" not in text and "03/14/1961" not in text
    assert text.count("[PATIENT_1]") == 2 and "[MRN_1]" in text and "[DATE_1]" in text
    reply = {
        "id": "c1",
        "object": "chat.completion",
        "choices": [
            {
                "index": 0,
                "message": {
                    "role": "assistant",
                    "content": "[PATIENT_1] (MRN [MRN_1]) needs an ECG now.",
                    "tool_calls": [
                        {
                            "id": "t",
                            "type": "function",
                            "function": {"name": "page", "arguments": '{"who": "[PATIENT_1]"}'},
                        }
                    ],
                },
                "finish_reason": "stop",
            }
        ],
    }
    f.response = http.Response.make(200, json.dumps(reply).encode(), JSON)
    deid_addon.responseheaders(f)
    await deid_addon.response(f)
    got = f.response.json()["choices"][0]["message"]
    assert got["content"] == f"{NAME} (MRN 4455667) needs an ECG now."
    assert json.loads(got["tool_calls"][0]["function"]["arguments"]) == {"who": NAME}  # tool arguments count
    assert f.response.headers["x-phiwall-verdict"] == "deidentify"
    ev = audit(tmp_path)[-1]
    assert ev["verdict"] == "deidentify" and ev["applied"] == "deidentify" and ev["rule_ids"] == ["phi-text"]
    assert ev["deidentified"]["entity_counts"] == {"DATE_OF_BIRTH": 1, "MRN": 1, "PERSON": 2}
    assert ev["deidentified"]["parts"] == ["json:messages.0.content"] and ev["deidentified"]["verified"] is True
    on_disk = (tmp_path / "audit.jsonl").read_text()
    assert NAME not in on_disk and "4455667" not in on_disk and "Okafor" not in on_disk


async def test_three_turns_keep_one_stand_in_per_person(deid_addon) -> None:
    """API clients resend the whole history with the real names (the person read the restored reply)."""
    a1 = f"{NAME} should have an ECG."
    turns = [
        chat(PROMPT),
        chat(PROMPT, a1, "And if John Smith, her husband, asks?"),
        chat(PROMPT, a1, "And if John Smith, her husband, asks?", "Tell John Smith.", f"Thanks. Dose for {NAME}?"),
    ]
    sent = []
    for body in turns:
        f = flow("POST", OPENAI, body, JSON)
        await send(deid_addon, f)
        assert f.response is None
        sent.append(sent_text(f))
    assert all(NAME not in t and "John Smith" not in t for turn in sent for t in turn)
    assert sent[1][0] == sent[0][0] == sent[2][0]  # the same first message, the same stand-ins every turn
    assert sent[1][1] == "[PATIENT_1] should have an ECG."
    assert "[PATIENT_2]" in sent[1][2] and sent[2][2] == sent[1][2] and sent[2][3] == "Tell [PATIENT_2]."
    assert sent[2][4] == "Thanks. Dose for [PATIENT_1]?"


def sse(events: list[dict | str]) -> bytes:
    return b"".join(
        b"data: " + (e.encode() if isinstance(e, str) else json.dumps(e).encode()) + b"\n\n" for e in events
    )


def three(text: str) -> list[str]:
    return [text[i : i + 3] for i in range(0, len(text), 3)]


async def test_sse_reply_is_restored_across_events_split_three_characters_each(deid_addon) -> None:
    f = flow("POST", OPENAI, chat(PROMPT), JSON)
    await send(deid_addon, f)
    answer = "[PATIENT_1], born [DATE_1]: give aspirin to [PATIENT_1]."
    events: list[dict | str] = [
        {"id": "x", "object": "chat.completion.chunk", "choices": [{"index": 0, "delta": {"content": c}}]}
        for c in three(answer)
    ]
    events.append(
        {"id": "x", "object": "chat.completion.chunk", "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]}
    )
    events.append("[DONE]")
    wire = sse(events)
    f.response = http.Response.make(200, b"", {"content-type": "text/event-stream"})
    deid_addon.responseheaders(f)
    stream = f.response.stream
    assert callable(stream)
    out = b"".join(stream(wire[i : i + 5]) for i in range(0, len(wire), 5)) + stream(b"")
    text = ""
    for line in out.split(b"\n"):
        if line.startswith(b"data: {"):
            text += json.loads(line[6:])["choices"][0]["delta"].get("content", "")
    assert text == f"{NAME}, born 03/14/1961: give aspirin to {NAME}."
    assert out.endswith(b"data: [DONE]\n\n")
    assert "content-length" not in f.response.headers


async def test_grok_web_json_lines_reply_is_restored_as_it_streams(deid_addon) -> None:
    """grok.com: the prompt in `message` leaves with stand-ins; the NDJSON token stream comes back with the
    originals, stand-ins cut across token lines included, and so does the closing whole message."""
    body = json.dumps({"temporary": False, "modelName": "grok-3", "message": PROMPT, "fileAttachments": []}).encode()
    f = flow("POST", "https://grok.com/rest/app-chat/conversations/new", body, JSON)
    await send(deid_addon, f)
    assert f.response is None
    sent = json.loads(f.request.content or b"")["message"]
    assert NAME not in sent and "[PATIENT_1]" in sent
    answer = "[PATIENT_1], born [DATE_1]: give aspirin to [PATIENT_1]."
    lines = [{"result": {"response": {"token": c, "isThinking": False, "responseId": "r"}}} for c in three(answer)]
    lines.append({"result": {"response": {"modelResponse": {"responseId": "r", "message": answer}}}})
    wire = b"".join(json.dumps(ln).encode() + b"\n" for ln in lines)
    f.response = http.Response.make(200, b"", {"content-type": "application/json", "content-length": "1"})
    deid_addon.responseheaders(f)
    stream = f.response.stream
    assert callable(stream) and "content-length" not in f.response.headers
    out = b"".join(stream(wire[i : i + 5]) for i in range(0, len(wire), 5)) + stream(b"")
    docs = [json.loads(ln)["result"]["response"] for ln in out.splitlines()]
    want = f"{NAME}, born 03/14/1961: give aspirin to {NAME}."
    assert "".join(d.get("token", "") for d in docs) == want
    assert docs[-1]["modelResponse"]["message"] == want


async def test_a_part_that_cannot_be_rewritten_is_blocked_with_the_reason(deid_addon, tmp_path: Path) -> None:
    """A PDF's text cannot be written back: the request is blocked, and the answer says why."""
    import base64

    from tests.factories import make_text_pdf

    pdf = base64.b64encode(make_text_pdf([[PROMPT]])).decode()
    body = json.dumps(
        {
            "model": "gpt-4o",
            "messages": [
                {
                    "role": "user",
                    "content": [
                        {"type": "text", "text": "Summarise this."},
                        {
                            "type": "file",
                            "file": {"filename": "note.pdf", "file_data": "data:application/pdf;base64," + pdf},
                        },
                    ],
                }
            ],
        }
    ).encode()
    f = flow("POST", OPENAI, body, JSON)
    await send(deid_addon, f)
    assert f.response is not None and f.response.status_code == 403
    msg = f.response.json()["error"]["message"]
    assert "de-identify" in msg and NAME not in msg
    ev = audit(tmp_path)[-1]
    assert ev["verdict"] == "block" and "deidentify-failed" in ev["rule_ids"]


async def test_websocket_message_is_rewritten_and_the_server_reply_restored(deid_addon, tmp_path: Path) -> None:
    from tests.addon.test_addon_hooks import ws_flow

    frame = json.dumps({"type": "response.create", "input": PROMPT}).encode()
    f = ws_flow("api.openai.com", "/v1/responses", [frame])
    await deid_addon.websocket_message(f)
    msg = f.websocket.messages[-1]
    assert not msg.dropped
    sent = json.loads(msg.content)["input"]
    assert NAME not in sent and "[PATIENT_1]" in sent
    ev = audit(tmp_path)[-1]
    assert ev["websocket"] is True and ev["verdict"] == "deidentify" and ev["applied"] == "deidentify"
    # the next client message of the same person keeps the stand-in
    f.websocket.messages.append(type(msg)(msg.type, True, json.dumps({"type": "x", "input": f"And {NAME}?"}).encode()))
    await deid_addon.websocket_message(f)
    assert json.loads(f.websocket.messages[-1].content)["input"] == "And [PATIENT_1]?"
    # a message where no detector finds her (lower case, no context) is still caught: the vault knows the value
    late = json.dumps({"type": "x", "input": "ok. margaret okafor"}).encode()
    f.websocket.messages.append(type(msg)(msg.type, True, late))
    await deid_addon.websocket_message(f)
    assert json.loads(f.websocket.messages[-1].content)["input"] == "ok. [PATIENT_1]"
    reply = json.dumps({"type": "response.output_text.delta", "delta": "[PATIENT_1] is stable."}).encode()
    f.websocket.messages.append(type(msg)(msg.type, False, reply))
    await deid_addon.websocket_message(f)
    assert json.loads(f.websocket.messages[-1].content)["delta"] == f"{NAME} is stable."


async def test_restore_false_keeps_stand_ins_in_the_reply(phiwall_ctx, tmp_path: Path) -> None:
    addon, tctx = phiwall_ctx
    p = tmp_path / "norestore.yaml"
    p.write_text(
        POLICY.replace(
            "DATE_OF_BIRTH, MRN, PHONE_NUMBER, US_SSN]}",
            "DATE_OF_BIRTH, MRN, PHONE_NUMBER, US_SSN]}\n    with: {text: {restore: false}}",
        )
    )
    tctx.configure(addon, phiwall_policy=str(p))
    f = flow("POST", OPENAI, chat(PROMPT), JSON)
    await send(addon, f)
    assert "[PATIENT_1]" in sent_text(f)[0]
    reply = {"choices": [{"index": 0, "message": {"role": "assistant", "content": "[PATIENT_1] is fine."}}]}
    f.response = http.Response.make(200, json.dumps(reply).encode(), JSON)
    addon.responseheaders(f)
    await addon.response(f)
    assert f.response.json()["choices"][0]["message"]["content"] == "[PATIENT_1] is fine."
    g = flow("POST", OPENAI, chat(PROMPT), JSON)  # still consistent next turn
    await send(addon, g)
    assert sent_text(g) == sent_text(f)
