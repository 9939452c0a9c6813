"""Putting the originals back into the model's reply, so the person reads "Margaret Okafor", not "[PATIENT_1]".

Two shapes of reply:

- A whole JSON reply: every string in it has its stand-ins replaced (`restore_json`). Strings that are themselves
  JSON source (tool-call `arguments`) get the original JSON-escaped, so the arguments still parse.
- An event stream (SSE): `SseRestorer` is a mitmproxy stream callable. It cuts the byte stream into events, and in
  each event restores the text deltas of the service's stream format (OpenAI chat completions and Responses,
  Anthropic messages, Gemini, ChatGPT web's JSON-patch deltas). A stand-in split across deltas is joined by a
  carry-over per text channel (`StreamText`): the end of a delta that could be the start of a stand-in is held
  back — never more than the longest stand-in minus one character — and sent with the next delta, or in an event
  of its own before the next event that is not a delta of that channel.

Only exact stand-ins are restored; text that merely looks like one is left as the model wrote it.
"""

from __future__ import annotations

import copy
import json
import re
from collections.abc import Callable
from collections.abc import Iterator
from collections.abc import Mapping
from typing import Any

# Keys whose string value is JSON source (tool-call arguments as the model streams them).
JSON_SOURCE_KEYS = frozenset({"arguments", "partial_json"})


class Restorer:
    """Replaces stand-ins with originals in text, for one conversation's map (stand-in → original)."""

    def __init__(self, mapping: Mapping[str, str]) -> None:
        self.mapping = {k: v for k, v in mapping.items() if k}
        keys = sorted(self.mapping, key=len, reverse=True)
        self._rx = re.compile("|".join(re.escape(k) for k in keys)) if keys else None
        self.longest = max((len(k) for k in keys), default=0)
        self._prefixes = {k[:i] for k in keys for i in range(1, len(k))}

    def __bool__(self) -> bool:
        return self._rx is not None

    def text(self, s: str, *, json_source: bool = False) -> str:
        if self._rx is None or not s:
            return s
        if json_source:
            return self._rx.sub(lambda m: json.dumps(self.mapping[m.group(0)], ensure_ascii=False)[1:-1], s)
        return self._rx.sub(lambda m: self.mapping[m.group(0)], s)

    def held_suffix(self, s: str) -> int:
        """How many characters at the end of `s` could begin a stand-in (and must wait for the next delta)."""
        for n in range(min(len(s), self.longest - 1), 0, -1):
            if s[-n:] in self._prefixes:
                return n
        return 0


class StreamText:
    """The carry-over of one text channel of a stream (one choice's content, one content block, one tool call)."""

    def __init__(self, restorer: Restorer, json_source: bool = False) -> None:
        self.r = restorer
        self.json_source = json_source
        self.pending = ""

    def feed(self, delta: str) -> str:
        s = self.pending + delta
        n = self.r.held_suffix(s)
        self.pending = s[len(s) - n :] if n else ""
        return self.r.text(s[: len(s) - n] if n else s, json_source=self.json_source)

    def flush(self) -> str:
        s, self.pending = self.pending, ""
        return self.r.text(s, json_source=self.json_source)


def restore_json(doc: Any, r: Restorer, key: str | None = None) -> Any:
    """Every string of a JSON document with its stand-ins restored (a new document; `doc` is not changed)."""
    if isinstance(doc, str):
        return r.text(doc, json_source=key in JSON_SOURCE_KEYS)
    if isinstance(doc, list):
        return [restore_json(v, r, key) for v in doc]
    if isinstance(doc, dict):
        return {k: restore_json(v, r, k) for k, v in doc.items()}
    return doc


def restore_body(body: bytes, r: Restorer) -> bytes | None:
    """A whole JSON (or JSON Lines) reply restored, or None when it is neither or nothing changed."""
    if not r:
        return None
    try:
        doc = json.loads(body)
    except (UnicodeDecodeError, json.JSONDecodeError):
        if _is_json_lines(body):  # grok.com's token stream, buffered: stand-ins cut across lines are joined
            lines = NdjsonRestorer(r)
            new_body = lines(body) + lines(b"")
            return new_body if new_body != body else None
        text = body.decode("utf-8", "replace") if body else ""
        new = r.text(text)
        return new.encode("utf-8") if new != text and "\ufffd" not in text else None
    new_doc = restore_json(doc, r)
    return json.dumps(new_doc, ensure_ascii=False).encode("utf-8") if new_doc != doc else None


# -- streams ---------------------------------------------------------------------------------------------------------

# A text delta inside one event: (channel key, the dict holding it, the key of the string, JSON source or not).
Delta = tuple[tuple[Any, ...], dict[str, Any], str, bool]
DeltaFinder = Callable[[Any], list[Delta]]


def _openai_chat(doc: Any) -> list[Delta]:
    out: list[Delta] = []
    for c in doc.get("choices") or [] if isinstance(doc, dict) else []:
        if not isinstance(c, dict) or not isinstance(c.get("delta"), dict):
            continue
        i, delta = c.get("index", 0), c["delta"]
        for k in ("content", "refusal", "reasoning_content"):
            if isinstance(delta.get(k), str):
                out.append((("c", i, k), delta, k, False))
        for tc in delta.get("tool_calls") or []:
            fn = tc.get("function") if isinstance(tc, dict) else None
            if isinstance(fn, dict) and isinstance(fn.get("arguments"), str):
                out.append((("t", i, tc.get("index", 0)), fn, "arguments", True))
    return out


def _openai_responses(doc: Any) -> list[Delta]:
    if not isinstance(doc, dict) or not isinstance(doc.get("delta"), str):
        return []
    t = str(doc.get("type", ""))
    if t.endswith("function_call_arguments.delta") or t.endswith("mcp_call_arguments.delta"):
        return [(("f", doc.get("output_index"), doc.get("item_id")), doc, "delta", True)]
    if t.endswith(".delta"):
        return [((t, doc.get("output_index"), doc.get("content_index"), doc.get("item_id")), doc, "delta", False)]
    return []


def _anthropic(doc: Any) -> list[Delta]:
    if not isinstance(doc, dict) or doc.get("type") != "content_block_delta":
        return []
    d = doc.get("delta")
    if not isinstance(d, dict):
        return []
    for k, src in (("text", False), ("partial_json", True), ("thinking", False)):
        if isinstance(d.get(k), str):
            return [(("b", doc.get("index", 0), k), d, k, src)]
    return []


def _gemini(doc: Any) -> list[Delta]:
    out: list[Delta] = []
    for ci, cand in enumerate(doc.get("candidates") or [] if isinstance(doc, dict) else []):
        parts = ((cand or {}).get("content") or {}).get("parts") or [] if isinstance(cand, dict) else []
        for pi, p in enumerate(parts):
            if isinstance(p, dict) and isinstance(p.get("text"), str):
                out.append((("g", cand.get("index", ci), pi, bool(p.get("thought"))), p, "text", False))
    return out


class _ChatGPTPath:
    """ChatGPT web's JSON-patch deltas: `{"p": "/message/content/parts/0", "o": "append", "v": "…"}`, then bare
    `{"v": "…"}` events continuing the last path, or `{"o": "patch", "v": [ops]}` batches."""

    def __init__(self) -> None:
        self.last = ""

    def __call__(self, doc: Any) -> list[Delta]:
        if not isinstance(doc, dict):
            return []
        if doc.get("o") == "patch" and isinstance(doc.get("v"), list):
            out: list[Delta] = []
            for op in doc["v"]:
                out.extend(self._op(op))
            return out
        return self._op(doc)

    def _op(self, op: Any) -> list[Delta]:
        if not isinstance(op, dict) or not isinstance(op.get("v"), str):
            return []
        if "p" in op:
            self.last = str(op["p"])
        if op.get("o", "append") != "append" or "/content/parts/" not in self.last:
            return []
        return [(("p", self.last), op, "v", False)]


def _grok(doc: Any) -> list[Delta]:
    """grok.com's NDJSON tokens: `{"result": {"response": {"token": "…", "isThinking": …, "responseId": …}}}`
    (continued conversations may drop the `response` level); the closing `modelResponse.message` is whole."""
    res = doc.get("result") if isinstance(doc, dict) else None
    if isinstance(res, dict) and isinstance(res.get("response"), dict):
        res = res["response"]
    if isinstance(res, dict) and isinstance(res.get("token"), str):
        return [(("k", res.get("responseId"), bool(res.get("isThinking"))), res, "token", False)]
    return []


def delta_finder(stream: str) -> DeltaFinder:
    """The delta finder for a stream format: openai_chat, openai_responses, anthropic, gemini, chatgpt_web,
    grok_web."""
    if stream == "grok_web":
        return _grok
    if stream == "openai_responses":
        return _openai_responses
    if stream == "anthropic":
        return _anthropic
    if stream == "gemini":
        return _gemini
    if stream == "chatgpt_web":
        return _ChatGPTPath()
    return _openai_chat


_EVENT_END = re.compile(rb"\r\n\r\n|\n\n|\r\r")


class _Channels:
    """The text channels of one streamed reply (one `StreamText` each) and what feeding them held back."""

    def __init__(self, restorer: Restorer, stream: str) -> None:
        self.r = restorer
        self.find = delta_finder(stream)
        self.buf = b""
        self.channels: dict[tuple[Any, ...], StreamText] = {}
        self.max_held = 0  # the most text characters ever held back at once (measured by the tests)

    def _feed(self, deltas: list[Delta]) -> list[tuple[Any, ...]]:
        """Each delta restored in place, its stand-in-sized tail held back; the keys of channels now holding."""
        holding = []
        for key, holder, field_, src in deltas:
            ch = self.channels.get(key)
            if ch is None:
                ch = self.channels[key] = StreamText(self.r, src)
            holder[field_] = ch.feed(holder[field_])
            self.max_held = max(self.max_held, len(ch.pending))
            if ch.pending:
                holding.append(key)
        return holding


class SseRestorer(_Channels):
    """A mitmproxy `response.stream` callable restoring stand-ins in an SSE reply, event by event.

    Bytes that do not end an event yet are kept until they do (an SSE event is the unit a client acts on); within
    events, text is held back only as far as a stand-in could be cut (see `StreamText`). An event this class does
    not understand is passed through as it came, with its stand-ins restored where it is JSON.
    """

    def __init__(self, restorer: Restorer, stream: str) -> None:
        super().__init__(restorer, stream)
        self.last_event: dict[tuple[Any, ...], tuple[Any, list[bytes], str]] = {}  # channel → (doc, field path, sep)

    def __call__(self, chunk: bytes) -> bytes:
        if not chunk:  # end of the stream: whatever is left
            tail = self.buf
            self.buf = b""
            flushed = b"".join(self._flush_all(b"\n\n"))
            return flushed + (self._event(tail, b"") if tail else b"")
        self.buf += chunk
        out: list[bytes] = []
        while True:
            m = _EVENT_END.search(self.buf)
            if m is None:
                break
            raw, sep = self.buf[: m.start()], m.group(0)
            self.buf = self.buf[m.end() :]
            out.append(self._event(raw, sep))
        return b"".join(out)

    def _event(self, raw: bytes, sep: bytes) -> bytes:
        lines = raw.splitlines()
        data_idx = [i for i, ln in enumerate(lines) if ln.startswith(b"data:")]
        if not data_idx:
            return raw + sep
        payload = b"\n".join(lines[i][5:].removeprefix(b" ") for i in data_idx)
        try:
            doc = json.loads(payload)
        except (UnicodeDecodeError, json.JSONDecodeError):
            # "[DONE]" and other non-JSON data: the stream is ending, say what was held back first.
            return b"".join(self._flush_all(sep)) + raw + sep
        deltas = self.find(doc)
        pre: list[bytes] = []
        if not deltas:
            pre = list(self._flush_all(sep))
            doc2 = restore_json(doc, self.r)
            if doc2 == doc:
                return b"".join(pre) + raw + sep
            return b"".join(pre) + self._render(lines, data_idx, doc2) + sep
        seen = {d[0] for d in deltas}
        fields = {d[0]: d[2] for d in deltas}
        for key in self._feed(deltas):
            self.last_event[key] = (doc, lines, fields[key])
        if _finished(doc):  # the last event of a choice/candidate: nothing may stay held back
            for key, holder, field_, _ in deltas:
                ch = self.channels[key]
                if ch.pending:
                    holder[field_] += ch.flush()
            pre = list(self._flush_all(sep, exclude=seen))
        return b"".join(pre) + self._render(lines, data_idx, doc) + sep

    def _flush_all(self, sep: bytes, exclude: set[tuple[Any, ...]] | frozenset[Any] = frozenset()) -> Iterator[bytes]:
        """Events carrying what is held back in every channel (a copy of the channel's last delta event)."""
        for key, ch in self.channels.items():
            if key in exclude or not ch.pending:
                continue
            text = ch.flush()
            doc, lines, _ = self.last_event[key]
            if isinstance(self.find, _ChatGPTPath):
                # JSON-patch deltas are relative to the last path: the carried text names its own.
                fresh: Any = {"p": key[1], "o": "append", "v": text}
            else:
                fresh = copy.deepcopy(doc)
                for k, holder, field_, _src in self.find(fresh):
                    holder[field_] = text if k == key else ""
            data_idx = [i for i, ln in enumerate(lines) if ln.startswith(b"data:")]
            yield self._render(lines, data_idx, fresh) + (sep or b"\n\n")

    @staticmethod
    def _render(lines: list[bytes], data_idx: list[int], doc: Any) -> bytes:
        data = b"data: " + json.dumps(doc, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
        keep = [ln for i, ln in enumerate(lines) if i not in data_idx]
        first = data_idx[0]
        out = [ln for i, ln in enumerate(lines) if i < first and i not in data_idx]
        out.append(data)
        out.extend(ln for i, ln in enumerate(lines) if i > first and i not in data_idx)
        del keep
        return b"\n".join(out)


def _finished(doc: Any) -> bool:
    if not isinstance(doc, dict):
        return False
    for c in doc.get("choices") or []:
        if isinstance(c, dict) and c.get("finish_reason"):
            return True
    for c in doc.get("candidates") or []:
        if isinstance(c, dict) and c.get("finishReason"):
            return True
    return False


def _is_json_lines(body: bytes) -> bool:
    """Several lines, the first a JSON object or array (the restorer itself passes any other line as it came)."""
    first, nl, rest = body.lstrip().partition(b"\n")
    if not nl or not rest.strip():
        return False
    try:
        return isinstance(json.loads(first), (dict, list))
    except (UnicodeDecodeError, json.JSONDecodeError):
        return False


class NdjsonRestorer(_Channels):
    """A `response.stream` callable restoring stand-ins in a JSON Lines reply (grok.com's chat), line by line.

    The same carry-over as `SseRestorer`: token lines feed one `StreamText` per channel, any other line (the
    closing `modelResponse`, metadata) is restored whole after what was held back is sent. A line that is not JSON
    passes as it came.
    """

    def __init__(self, restorer: Restorer, stream: str = "grok_web") -> None:
        super().__init__(restorer, stream)
        self.last_line: dict[tuple[Any, ...], Any] = {}

    def __call__(self, chunk: bytes) -> bytes:
        if not chunk:
            tail, self.buf = self.buf, b""
            last = self._line(tail, b"") if tail.strip() else tail
            held = b"".join(self._flush_all())
            if held and last and not last.endswith(b"\n"):
                last += b"\n"  # the last line had no newline: the held text follows as a line of its own
            return last + held
        self.buf += chunk
        out: list[bytes] = []
        while (i := self.buf.find(b"\n")) >= 0:
            raw, self.buf = self.buf[:i], self.buf[i + 1 :]
            out.append(self._line(raw, b"\n"))
        return b"".join(out)

    def _line(self, raw: bytes, end: bytes) -> bytes:
        try:
            doc = json.loads(raw)
        except (UnicodeDecodeError, json.JSONDecodeError):
            return raw + end
        deltas = self.find(doc)
        if not deltas:
            pre = b"".join(self._flush_all())
            new = restore_json(doc, self.r)
            return pre + (raw if new == doc else _dump(new)) + end
        for key in self._feed(deltas):
            self.last_line[key] = doc
        return _dump(doc) + end

    def _flush_all(self) -> Iterator[bytes]:
        for key, ch in self.channels.items():
            if not ch.pending:
                continue
            fresh = copy.deepcopy(self.last_line[key])
            text = ch.flush()
            for k, holder, field_, _src in self.find(fresh):
                holder[field_] = text if k == key else ""
            yield _dump(fresh) + b"\n"


def _dump(doc: Any) -> bytes:
    return json.dumps(doc, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
