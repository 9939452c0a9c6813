"""Issue 13 item 6 on WebSockets: a justified client message (grok.com's gateway) passes a rule with
`override: justify`, leaves without its '#phiwall-justify:' line, and the audit records the justification."""

from __future__ import annotations

import json
from pathlib import Path

from tests.addon.conftest import audit
from tests.addon.test_addon_hooks import ws_flow
from tests.support.samples import PHI_PROMPT

POLICY = Path(__file__).parents[1] / "e2e" / "policies" / "justify.yaml"


def _frame(text: str) -> bytes:
    item = {"type": "message", "role": "user", "x_grok": {"input_chunks": [{"text": {"text": text}}]}}
    return json.dumps({"session_id": "S", "event": {"type": "conversation.item.create", "item": item}}).encode()


async def test_justified_websocket_message_passes_without_marker(phiwall_ctx, tmp_path: Path) -> None:
    addon, tctx = phiwall_ctx
    tctx.configure(addon, phiwall_policy=str(POLICY))
    blocked = ws_flow("grok.com", "/ws/mgw/?uid=u", [_frame(PHI_PROMPT)])
    await addon.websocket_message(blocked)
    assert blocked.websocket.messages[-1].dropped
    f = ws_flow("grok.com", "/ws/mgw/?uid=u", [_frame("#phiwall-justify: synthetic teaching case\n" + PHI_PROMPT)])
    await addon.websocket_message(f)
    msg = f.websocket.messages[-1]
    assert not msg.dropped
    sent = json.loads(msg.content)
    assert sent["event"]["item"]["x_grok"]["input_chunks"][0]["text"]["text"] == PHI_PROMPT
    ev = audit(tmp_path)[-1]
    assert ev["justification"]["reason"] == "synthetic teaching case"
    assert ev["justification"]["overridden"] == ["phi-text"]
