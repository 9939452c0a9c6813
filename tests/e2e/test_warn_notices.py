"""Issue 13 item 5: a warning never breaks a reply. Real openai and anthropic SDKs through a real `phiwall run` on
a warn policy: structured replies (JSON mode, JSON schema, tool calls) keep their content as the service sent it
(the warning is in the header and the audit), and Responses-API and Anthropic streams carry the notice as the
first text, in events the SDKs parse."""

from __future__ import annotations

import json
import ssl
from collections.abc import Callable
from collections.abc import Iterator
from pathlib import Path

import anthropic
import openai
import pytest

from tests.support import fake_replies
from tests.support.fake_upstream import FakeUpstream
from tests.support.proxy import ProxyProcess

pytestmark = pytest.mark.e2e

PHI_PROMPT = "Patient John Smith, DOB 03/14/1961, MRN 48213977, has a cough. What could it be?"
POLICIES = Path(__file__).with_name("policies")
NOTICE = "⚠️ phiwall"


@pytest.fixture
def up(fresh_upstream: FakeUpstream) -> Iterator[FakeUpstream]:
    uninstall = fake_replies.install(fresh_upstream)
    yield fresh_upstream
    uninstall()


@pytest.fixture
def warn(proxy_factory: Callable[..., ProxyProcess]) -> ProxyProcess:
    return proxy_factory(POLICIES / "warn.yaml")


def oa(proxy: ProxyProcess) -> openai.OpenAI:
    http = openai.DefaultHttpxClient(proxy=proxy.url, verify=str(proxy.ca), timeout=60)
    return openai.OpenAI(api_key="sk-test", base_url="https://api.openai.com/v1", http_client=http, max_retries=0)


def an(proxy: ProxyProcess) -> anthropic.Anthropic:
    http = anthropic.DefaultHttpxClient(
        proxy=proxy.url, verify=ssl.create_default_context(cafile=str(proxy.ca)), timeout=60
    )
    return anthropic.Anthropic(api_key="sk-ant", base_url="https://api.anthropic.com", http_client=http, max_retries=0)


def _warned(proxy: ProxyProcess, headers: object) -> None:
    assert headers["x-phiwall-verdict"] == "warn"  # type: ignore[index]
    assert headers["x-phiwall-warning"].startswith("phiwall")  # type: ignore[index]
    ev = proxy.audit_events()[-1]
    assert ev["verdict"] == "warn" and ev["applied"] == "warn"


def test_json_mode_reply_stays_json(warn: ProxyProcess, up: FakeUpstream) -> None:
    raw = oa(warn).chat.completions.with_raw_response.create(
        model="gpt-4o",
        messages=[{"role": "user", "content": PHI_PROMPT}],
        response_format={"type": "json_object"},
    )
    assert json.loads(raw.parse().choices[0].message.content or "") == fake_replies.JSON_ANSWER
    _warned(warn, raw.headers)


def test_json_schema_reply_parses_with_the_sdk(warn: ProxyProcess, up: FakeUpstream) -> None:
    schema = {
        "type": "object",
        "properties": {"diagnosis": {"type": "string"}, "confidence": {"type": "number"}},
        "required": ["diagnosis", "confidence"],
        "additionalProperties": False,
    }
    r = oa(warn).chat.completions.create(
        model="gpt-4o",
        messages=[{"role": "user", "content": PHI_PROMPT}],
        response_format={"type": "json_schema", "json_schema": {"name": "dx", "schema": schema, "strict": True}},
    )
    assert json.loads(r.choices[0].message.content or "") == fake_replies.JSON_ANSWER


def test_responses_text_format_json_stays_json(warn: ProxyProcess, up: FakeUpstream) -> None:
    r = oa(warn).responses.create(model="gpt-4o", input=PHI_PROMPT, text={"format": {"type": "json_object"}})
    assert json.loads(r.output_text) == fake_replies.JSON_ANSWER


def test_tool_call_reply_is_left_alone(warn: ProxyProcess, up: FakeUpstream) -> None:
    tools = [{"type": "function", "function": {"name": "weather", "parameters": {"type": "object"}}}]
    r = oa(warn).chat.completions.create(
        model="gpt-4o",
        messages=[{"role": "user", "content": PHI_PROMPT}],
        tools=tools,  # type: ignore[list-item]
    )
    msg = r.choices[0].message
    assert msg.content == ""
    assert msg.tool_calls and json.loads(msg.tool_calls[0].function.arguments) == fake_replies.TOOL_ARGS  # type: ignore[union-attr]


def test_plain_chat_still_gets_the_notice(warn: ProxyProcess, up: FakeUpstream) -> None:
    r = oa(warn).chat.completions.create(model="gpt-4o", messages=[{"role": "user", "content": PHI_PROMPT}])
    text = r.choices[0].message.content or ""
    assert text.startswith(NOTICE) and text.endswith(fake_replies.TEXT)


def test_responses_stream_carries_the_notice(warn: ProxyProcess, up: FakeUpstream) -> None:
    with oa(warn).responses.stream(model="gpt-4o", input=PHI_PROMPT) as stream:
        deltas = [ev.delta for ev in stream if ev.type == "response.output_text.delta"]
        final = stream.get_final_response()
    assert deltas[0].startswith(NOTICE)
    assert "".join(deltas).endswith(fake_replies.TEXT)
    assert final.output_text == "".join(deltas)  # the final response says what the deltas said


def test_responses_raw_stream_events_parse(warn: ProxyProcess, up: FakeUpstream) -> None:
    events = list(oa(warn).responses.create(model="gpt-4o", input=PHI_PROMPT, stream=True))
    kinds = [e.type for e in events]
    assert kinds[0] == "response.created" and kinds[-1] == "response.completed"
    done = [e for e in events if e.type == "response.output_text.done"]
    assert done and done[0].text.startswith(NOTICE)  # type: ignore[union-attr]


def test_responses_stream_json_format_has_no_notice(warn: ProxyProcess, up: FakeUpstream) -> None:
    with oa(warn).responses.stream(
        model="gpt-4o", input=PHI_PROMPT, text={"format": {"type": "json_object"}}
    ) as stream:
        final = stream.get_final_response()
    assert json.loads(final.output_text) == fake_replies.JSON_ANSWER


def test_anthropic_stream_carries_the_notice(warn: ProxyProcess, up: FakeUpstream) -> None:
    with an(warn).messages.stream(
        model="claude-sonnet-4-5", max_tokens=64, messages=[{"role": "user", "content": PHI_PROMPT}]
    ) as stream:
        pieces = list(stream.text_stream)
        final = stream.get_final_message()
    assert pieces[0].startswith(NOTICE)
    text = final.content[0].text  # type: ignore[union-attr]
    assert text.startswith(NOTICE) and text.endswith(fake_replies.TEXT)


def test_anthropic_tool_use_reply_is_left_alone(warn: ProxyProcess, up: FakeUpstream) -> None:
    raw = an(warn).messages.with_raw_response.create(
        model="claude-sonnet-4-5",
        max_tokens=64,
        messages=[{"role": "user", "content": PHI_PROMPT}],
        tools=[{"name": "weather", "input_schema": {"type": "object"}}],
    )
    block = raw.parse().content[0]
    assert block.type == "tool_use" and block.input == fake_replies.TOOL_ARGS  # type: ignore[union-attr]
    _warned(warn, raw.headers)


def test_warned_file_upload_notice_is_worded_for_the_file(warn: ProxyProcess, up: FakeUpstream) -> None:
    """The file object an upload returns has no place a person reads: the warning shows in the reply of the
    message that uses the file, worded as being about that file."""
    client = oa(warn)
    raw = client.files.with_raw_response.create(
        file=("note.txt", PHI_PROMPT.encode(), "text/plain"), purpose="user_data"
    )
    assert raw.headers["x-phiwall-verdict"] == "warn"
    fid = raw.parse().id
    r = client.chat.completions.create(
        model="gpt-4o",
        messages=[
            {
                "role": "user",
                "content": [{"type": "text", "text": "Summarise it."}, {"type": "file", "file": {"file_id": fid}}],
            }
        ],
    )
    text = r.choices[0].message.content or ""
    assert text.startswith("⚠️ phiwall warning: a file this message refers to was uploaded to the OpenAI API"), text
    assert text.endswith(fake_replies.TEXT)
