"""Logging that cannot put PHI into log files.

An exception's message is where a value leaks: `KeyError('Zebulon')`, pydicom's "Invalid value for VR DA:
'...'", a UnicodeDecodeError quoting the bytes it choked on. So phiwall never logs an exception's message or a
third-party library's message text: it logs the exception type and where it was raised (file, line, function),
which is enough to find the bug and holds no data.

The proxy process logs through mitmproxy's handlers; phiwall's own calls there use `crash()`. Worker processes
have no handler of their own (spawned, not forked), so `install()` gives them one that writes PHI-free lines
to stderr, which `phiwall run` sends to the same place as mitmproxy's log.
"""

from __future__ import annotations

import logging
import re
import sys
import traceback
from types import TracebackType

_OWN = "phiwall"


def crash(exc: BaseException) -> str:
    """`TypeName at file.py:123 in func (called from file.py:45 in caller)`: no message, no values."""
    frames = traceback.extract_tb(exc.__traceback__) if exc.__traceback__ is not None else []
    where = ""
    if frames:
        last = frames[-1]
        where = f" at {_short(last.filename)}:{last.lineno} in {last.name}"
        own = [f for f in frames[:-1] if "/phiwall/" in f.filename.replace("\\", "/")]
        if own and own[-1] is not last:
            o = own[-1]
            where += f" (called from {_short(o.filename)}:{o.lineno} in {o.name})"
    return f"{type(exc).__name__}{where}"


def _short(filename: str) -> str:
    parts = filename.replace("\\", "/").split("/")
    return "/".join(parts[-2:])


class PhiFreeFormatter(logging.Formatter):
    """Formats phiwall's own records in full (their text is written to be PHI-free); for any other logger only
    its name, level and source line; and for an exception only `crash()`, never the message or the frames'
    source text."""

    def format(self, record: logging.LogRecord) -> str:
        if record.name == _OWN or record.name.startswith(_OWN + "."):
            text = record.getMessage()
        else:
            text = f"(message of {record.name} withheld: it may quote data) at {record.module}:{record.lineno}"
        line = f"phiwall worker {record.levelname.lower()}: {text}"
        if record.exc_info and record.exc_info[1] is not None:
            line += f" [{crash(record.exc_info[1])}]"
        return line

    def formatException(self, ei: object) -> str:  # noqa: N802 - logging's name
        return ""


def install(level: int = logging.WARNING) -> None:
    """Give this (worker) process a PHI-free stderr handler, route `warnings` through it, and keep uncaught
    exceptions from printing their message."""
    root = logging.getLogger()
    for h in list(root.handlers):
        root.removeHandler(h)
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(PhiFreeFormatter())
    root.addHandler(handler)
    root.setLevel(level)
    logging.captureWarnings(True)  # warnings.warn(...) text goes to the "py.warnings" logger: withheld
    sys.excepthook = _excepthook


def _excepthook(tp: type[BaseException], exc: BaseException, tb: TracebackType | None) -> None:
    print(f"phiwall worker error: uncaught {crash(exc.with_traceback(tb))}", file=sys.stderr)


# mitmdump arguments that write traffic (URLs, bodies) to a file or the log: the addon refuses them at configure
# time, but from inside mitmproxy that refusal reaches the person as a traceback. `phiwall run` checks first.
_TRAFFIC_FLAGS = {"-w": "save_stream_file (-w)", "--wfile": "save_stream_file (-w)"}
_TRAFFIC_OPTIONS = ("save_stream_file", "proxy_debug", "flow_detail")


def traffic_logging_args(extra: list[str]) -> list[str]:
    """The traffic-writing options among mitmdump arguments, unless phiwall_unsafe_logging is set there too."""
    found: list[str] = []
    sets: dict[str, str] = {}
    for i, a in enumerate(extra):
        if a in _TRAFFIC_FLAGS or any(a.startswith(f + "=") for f in _TRAFFIC_FLAGS):
            found.append(_TRAFFIC_FLAGS[a.split("=", 1)[0]])
        item = extra[i + 1] if a == "--set" and i + 1 < len(extra) else a[6:] if a.startswith("--set=") else None
        if item and "=" in item:
            k, v = item.split("=", 1)
            sets[k.strip()] = v.strip()
    if sets.get("phiwall_unsafe_logging", "").lower() in ("true", "1", "yes", "on"):
        return []
    for opt in _TRAFFIC_OPTIONS:
        value = sets.get(opt)
        if value is None or value.lower() in ("", "false", "0", "no", "off"):
            continue
        found.append(f"{opt}={value}")
    return list(dict.fromkeys(found))


def traffic_logging_refusal(extra: list[str]) -> str | None:
    found = traffic_logging_args(extra)
    if not found:
        return None
    return (
        f"phiwall: refusing {', '.join(found)}: mitmproxy would write request URLs or bodies, PHI included, to a "
        "file or the log.\n  For synthetic test traffic only, allow it explicitly:\n"
        "    phiwall run -- --set phiwall_unsafe_logging=true " + " ".join(extra)
    )


# -- URL paths in audit events ------------------------------------------------------------------------------------

_ID_LIKE = re.compile(r"(?=[A-Za-z0-9._~-]*[0-9])(?=[A-Za-z0-9._~-]*[A-Za-z])[A-Za-z0-9._~-]{2,128}")
_UUID = re.compile(r"[0-9a-fA-F]{8}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{12}")
_WORD = re.compile(r"[A-Za-z][A-Za-z0-9_-]+")
_vocabulary: frozenset[str] | None = None
# Whole path segments the endpoint patterns spell literally ("_", "i", "u", "2" in `/_/BardChatUi/data`,
# `/i/api/2/grok/...`): kept as they are, although a lone short word or number elsewhere is digested.
_literal_segments: frozenset[str] = frozenset()
_LITERAL_SEGMENT = re.compile(r"[A-Za-z0-9_~-]+")
# REST words the endpoint tables need not name (GETs phiwall does not inspect still reach the audit file).
_GENERIC_WORDS = frozenset(
    "api backend anon content contents download downloads upload uploads status result results stream public "
    "private user users me session sessions list search health metadata".split()
)
_VERSION = re.compile(r"v\d+(?:(?:alpha|beta)\d*)?", re.IGNORECASE)


def _path_vocabulary() -> frozenset[str]:
    """Every literal word in the services' endpoint patterns (`v1`, `chat`, `completions`, `backend-api`,
    `generateContent`, `xai_api`...): what a URL path may say in an audit event without a digest."""
    global _vocabulary, _literal_segments
    if _vocabulary is None:
        import importlib
        import pkgutil

        import phiwall.extractors as ex

        words: set[str] = set()
        literals: set[str] = set()
        for m in pkgutil.iter_modules(ex.__path__):
            mod = importlib.import_module(f"phiwall.extractors.{m.name}")
            for value in vars(mod).values():
                rows = value if isinstance(value, tuple) else (value.values() if isinstance(value, dict) else ())
                for row in rows:
                    pattern = getattr(getattr(row, "path", None), "pattern", None)
                    if isinstance(pattern, str):
                        words.update(_WORD.findall(re.sub(r"\\[a-zA-Z]", " ", pattern)))
                        literals.update(_pattern_literals(pattern))
                if isinstance(value, dict):
                    for k in value:
                        if isinstance(k, str) and k.startswith("/"):
                            words.update(_WORD.findall(k))
        for svc in ex.SERVICES:
            if svc.inspect_paths:
                words.update(_WORD.findall(re.sub(r"\\[a-zA-Z]", " ", svc.inspect_paths)))
        pieces = {p.lower() for w in words for p in re.split(r"[-_.]", w) if p}
        pieces |= {p[:-1] for p in pieces if p.endswith("s")} | {p + "s" for p in pieces}
        _literal_segments = frozenset(literals)
        _vocabulary = frozenset(pieces | _GENERIC_WORDS)
    return _vocabulary


def _pattern_literals(pattern: str) -> set[str]:
    """The path segments of an endpoint regex that are plain literals (no regex syntax between two slashes)."""
    return {seg for seg in re.split(r"/|\(\?:|\)\??", pattern) if _LITERAL_SEGMENT.fullmatch(seg)}


def _safe_token(token: str) -> str:
    from urllib.parse import unquote

    from phiwall.digest import value_digest

    plain = unquote(token)
    if not plain or _UUID.fullmatch(plain) or _VERSION.fullmatch(plain):
        return token
    vocabulary = _path_vocabulary()  # also fills _literal_segments
    if plain in _literal_segments:
        return token
    words = [w.lower() for w in re.split(r"[-_.]", plain) if w]
    if words and all(w in vocabulary for w in words):
        return token
    if _ID_LIKE.fullmatch(plain) and not plain.isdigit():
        return token  # a machine id (file-abc123, gpt-4o, gemini-2.0-flash): letters and digits together
    return "~" + value_digest(plain)[:8]


def safe_url_path(path: str) -> str:
    """The path of a request URL without its query, with every segment phiwall's endpoint tables do not name and
    that is not a machine id replaced by a keyed digest: `/v1/chat/completions/Zebulon%20Quibbleworth` becomes
    `/v1/chat/completions/~1a2b3c4d`. Numbers alone are digested too (an MRN in a path)."""
    out = []
    for seg in path.split("?", 1)[0].split("/"):
        out.append(":".join(_safe_token(t) for t in seg.split(":")))
    return "/".join(out)


# -- mitmproxy's own log records ---------------------------------------------------------------------------------

# A Python bytes literal as repr() writes it: mitmproxy quotes what a client or server sent ("Bad HTTP request
# line: b'POST /v1/chat/<name> ...'", "Client closed connection before completing request headers: b'<body>'").
_BYTES_REPR = re.compile(r"""b'(?:[^'\\]|\\.)*'|b"(?:[^"\\]|\\.)*"|b'(?:[^'\\]|\\.)*$|b"(?:[^"\\]|\\.)*$""")
PROXY_LOGGERS = ("mitmproxy.proxy.server", "mitmproxy.proxy", "mitmproxy.net")


class RequestBytesFilter(logging.Filter):
    """Rewords records that quote traffic bytes: the bytes become `<N bytes withheld>`, the rest of the message
    (what went wrong, the client address) stays."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            text = record.getMessage()
        except Exception:  # noqa: BLE001 - a record whose arguments do not format: keep only its origin
            text = f"(unformattable log record from {record.name})"
        if "b'" in text or 'b"' in text:
            text = _BYTES_REPR.sub(lambda m: f"<{len(m.group(0)) - 3} bytes withheld>", text)
            record.msg, record.args = text, ()
        return True


_FILTER = RequestBytesFilter()


def install_proxy_log_filter() -> None:
    """Attach the filter to the loggers mitmproxy's proxy core logs through (idempotent)."""
    for name in PROXY_LOGGERS:
        lg = logging.getLogger(name)
        if _FILTER not in lg.filters:
            lg.addFilter(_FILTER)
