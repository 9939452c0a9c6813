"""Issue 9 acceptance, text: through a real `phiwall run` on policies/deidentify.yaml, with the real openai, anthropic
and google-genai SDKs against the fake upstream. A question naming a patient reaches the server with stand-ins only;
the SDK's reply carries the real values, plain and streamed (the fake server cuts every stand-in across SSE events,
3 characters per event); a three-turn conversation uses the same stand-in for the same person in every turn."""

from __future__ import annotations

import json
import re
import ssl
from collections.abc import Callable
from collections.abc import Iterator
from pathlib import Path

import anthropic
import openai
import pytest
from google import genai
from google.genai import types

from tests.support.fake_upstream import FakeUpstream
from tests.support.fake_upstream import route_echo
from tests.support.fake_upstream import unroute_echo
from tests.support.proxy import ProxyProcess

pytestmark = pytest.mark.e2e

POLICY = Path(__file__).parents[2] / "policies" / "deidentify.yaml"
NAME = "Margaret Okafor"
MRN = "4455667"
DOB = "03/14/1961"
QUESTION = f"My patient {NAME}, MRN {MRN}, born {DOB}, has new chest pain. What should I check first?"
REAL = (NAME, MRN, DOB)
STAND_IN = re.compile(r"\[[A-Z_]+_\d+\]")
# What the echoing fake model says about the stand-ins it got: "About [PATIENT_1]: [PATIENT_1], [MRN_1], [DATE_1]..."
EXPECTED = f"About {NAME}: {NAME}, {MRN}, {DOB}. Follow up with {NAME} next week."


@pytest.fixture
def echo(upstream: FakeUpstream) -> Iterator[FakeUpstream]:
    upstream.clear()
    route_echo(upstream)
    yield upstream
    unroute_echo(upstream)


@pytest.fixture(scope="module")
def deid_proxy(proxy_factory: Callable[..., ProxyProcess]) -> ProxyProcess:
    return proxy_factory(POLICY)


def arrived(up: FakeUpstream) -> str:
    assert up.requests, "nothing reached the server"
    return up.requests[-1].body.decode("utf-8")


def assert_only_stand_ins(body: str) -> None:
    for v in REAL:
        assert v not in body and json.dumps(v)[1:-1] not in body, f"{v!r} reached the server"
    assert {"[PATIENT_1]", "[MRN_1]", "[DATE_1]"} <= set(STAND_IN.findall(body)), body


def oai(proxy: ProxyProcess) -> openai.OpenAI:
    http = openai.DefaultHttpxClient(proxy=proxy.url, verify=str(proxy.ca), timeout=60)
    return openai.OpenAI(api_key="sk-test", base_url="https://api.openai.com/v1", http_client=http, max_retries=0)


def claude(proxy: ProxyProcess) -> anthropic.Anthropic:
    ctx = ssl.create_default_context(cafile=str(proxy.ca))
    http = anthropic.DefaultHttpxClient(proxy=proxy.url, verify=ctx, timeout=60)
    return anthropic.Anthropic(
        api_key="sk-ant-test", base_url="https://api.anthropic.com", http_client=http, max_retries=0
    )


_KEEP: list[genai.Client] = []


def gemini(proxy: ProxyProcess) -> genai.Client:
    ctx = ssl.create_default_context(cafile=str(proxy.ca))
    opts = types.HttpOptions(client_args={"proxy": proxy.url, "verify": ctx}, timeout=60_000)
    c = genai.Client(api_key="test-key", http_options=opts)
    _KEEP.append(c)
    return c


# -- OpenAI ---------------------------------------------------------------------------------------------------------


def test_openai_chat_plain(deid_proxy: ProxyProcess, echo: FakeUpstream) -> None:
    r = oai(deid_proxy).chat.completions.create(model="gpt-4o", messages=[{"role": "user", "content": QUESTION}])
    assert_only_stand_ins(arrived(echo))
    assert r.choices[0].message.content == EXPECTED
    ev = [e for e in deid_proxy.audit_events() if e.get("event") == "inspection"][-1]
    assert ev["verdict"] == "deidentify" and ev["applied"] == "deidentify" and "phi-text" in ev["rule_ids"]
    assert ev["deidentified"]["parts"] == ["json:messages.0.content"]
    assert {"PERSON", "MRN"} <= set(ev["deidentified"]["entity_counts"])
    assert NAME not in json.dumps(ev) and MRN not in json.dumps(ev)


def test_openai_chat_streamed(deid_proxy: ProxyProcess, echo: FakeUpstream) -> None:
    stream = oai(deid_proxy).chat.completions.create(
        model="gpt-4o", messages=[{"role": "user", "content": QUESTION}], stream=True
    )
    deltas = [c.choices[0].delta.content or "" for c in stream if c.choices]
    assert_only_stand_ins(arrived(echo))
    assert "".join(deltas) == EXPECTED
    # Streamed event by event, not buffered: an event carries at most one restored value and the 3 characters sent
    # with the stand-in's last piece (the carry-over holds back less than one stand-in).
    assert len(deltas) >= len(EXPECTED) // 3 - 6
    assert max(len(d) for d in deltas) <= len(NAME) + 3


def test_openai_responses_plain_and_streamed(deid_proxy: ProxyProcess, echo: FakeUpstream) -> None:
    c = oai(deid_proxy)
    r = c.responses.create(model="gpt-4o", input=QUESTION)
    assert_only_stand_ins(arrived(echo))
    assert r.output_text == EXPECTED
    text = ""
    final = None
    for ev in c.responses.create(model="gpt-4o", input=QUESTION, stream=True):
        if ev.type == "response.output_text.delta":
            text += ev.delta
        elif ev.type == "response.completed":
            final = ev.response.output_text
    assert_only_stand_ins(arrived(echo))
    assert text == EXPECTED and final == EXPECTED


def test_openai_three_turns_keep_one_stand_in_per_person(deid_proxy: ProxyProcess, echo: FakeUpstream) -> None:
    c = oai(deid_proxy)
    history: list[dict[str, str]] = [{"role": "user", "content": QUESTION}]
    bodies = []
    for follow_up in (f"Should {NAME} stop metformin?", f"And her husband John Adeyemi, can he drive {NAME} home?"):
        r = c.chat.completions.create(model="gpt-4o", messages=history)  # type: ignore[arg-type]
        bodies.append(json.loads(arrived(echo))["messages"])
        history += [{"role": "assistant", "content": r.choices[0].message.content or ""}]
        assert NAME in history[-1]["content"]  # the person reads the real name ...
        history += [{"role": "user", "content": follow_up}]  # ... and the SDK resends it next turn
    c.chat.completions.create(model="gpt-4o", messages=history)  # type: ignore[arg-type]
    bodies.append(json.loads(arrived(echo))["messages"])
    for msgs in bodies:
        flat = json.dumps(msgs)
        assert NAME not in flat and MRN not in flat and "Adeyemi" not in flat
    first = bodies[0][0]["content"]
    assert all(b[0]["content"] == first for b in bodies)  # the first question reads the same every turn
    assert bodies[1][2]["content"] == "Should [PATIENT_1] stop metformin?"
    assert bodies[2][2]["content"] == bodies[1][2]["content"]
    assert "[PATIENT_1] home?" in bodies[2][4]["content"] and "[PATIENT_2]" in bodies[2][4]["content"]


# -- Anthropic ------------------------------------------------------------------------------------------------------


def test_anthropic_plain_and_streamed(deid_proxy: ProxyProcess, echo: FakeUpstream) -> None:
    c = claude(deid_proxy)
    msg = c.messages.create(model="claude-x", max_tokens=100, messages=[{"role": "user", "content": QUESTION}])
    assert_only_stand_ins(arrived(echo))
    assert msg.content[0].text == EXPECTED  # type: ignore[union-attr]
    with c.messages.stream(model="claude-x", max_tokens=100, messages=[{"role": "user", "content": QUESTION}]) as s:
        text = "".join(s.text_stream)
        final = s.get_final_message()
    assert_only_stand_ins(arrived(echo))
    assert text == EXPECTED and final.content[0].text == EXPECTED  # type: ignore[union-attr]


# -- Gemini ---------------------------------------------------------------------------------------------------------


def test_gemini_plain_and_streamed(deid_proxy: ProxyProcess, echo: FakeUpstream) -> None:
    c = gemini(deid_proxy)
    r = c.models.generate_content(model="gemini-2.0-flash", contents=QUESTION)
    assert_only_stand_ins(arrived(echo))
    assert r.text == EXPECTED
    text = "".join(
        ch.text or "" for ch in c.models.generate_content_stream(model="gemini-2.0-flash", contents=QUESTION)
    )
    assert_only_stand_ins(arrived(echo))
    assert "alt=sse" in echo.requests[-1].path
    assert text == EXPECTED
