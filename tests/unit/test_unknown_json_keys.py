"""Issue 13 (smaller gaps): in a known endpoint of every JSON chat API, a string under an unknown top-level key or
inside `metadata` is inspected (becomes a text part), so a field a service adds later is not a way around phiwall."""

from __future__ import annotations

import copy
import json

import pytest
from phiwall.extractors import adapter_for
from phiwall.extractors import route_request
from phiwall.request import RequestData
from phiwall.request import Who

PHI = "Patient John Smith MRN 48213977"
CASES = {
    ("api.openai.com", "/v1/chat/completions"): {"model": "m", "messages": [{"role": "user", "content": "hi"}]},
    ("api.openai.com", "/v1/responses"): {"model": "m", "input": "hi"},
    ("api.anthropic.com", "/v1/messages"): {
        "model": "m",
        "max_tokens": 5,
        "messages": [{"role": "user", "content": "hi"}],
    },
    ("generativelanguage.googleapis.com", "/v1beta/models/gemini-2.0-flash:generateContent"): {
        "contents": [{"parts": [{"text": "hi"}]}]
    },
    ("chatgpt.com", "/backend-api/conversation"): {
        "action": "next",
        "messages": [{"id": "1", "author": {"role": "user"}, "content": {"content_type": "text", "parts": ["hi"]}}],
    },
    ("claude.ai", "/api/organizations/o/chat_conversations/c/completion"): {"prompt": "hi", "attachments": []},
    ("grok.com", "/rest/app-chat/conversations/new"): {"message": "hi", "fileAttachments": []},
}


@pytest.mark.parametrize("where", ["top", "metadata"])
@pytest.mark.parametrize(("host", "path"), list(CASES))
def test_unknown_key_is_inspected(host: str, path: str, where: str) -> None:
    doc = copy.deepcopy(CASES[(host, path)])
    if where == "top":
        doc["x_patient_note"] = PHI
    else:
        doc["metadata"] = {"note": PHI}
    body = json.dumps(doc).encode()
    service = route_request(host, path)
    assert service is not None
    req = RequestData(
        method="POST",
        scheme="https",
        host=host,
        port=443,
        path=path,
        headers=(("content-type", "application/json"),),
        raw_body=body,
        who=Who(),
    )
    env = adapter_for(service).extract(req, body)
    assert env.endpoint != "generic"
    assert any(p.text and PHI in p.text for p in env.parts)
