"""A picklable snapshot of an HTTP request: what the addon hands to worker processes, and what `replay` and
`scan` build without a proxy. Keeps mitmproxy types out of everything below the addon."""

from __future__ import annotations

from dataclasses import dataclass
from dataclasses import field
from dataclasses import replace
from urllib.parse import parse_qsl
from urllib.parse import urlsplit


@dataclass(frozen=True, slots=True)
class Who:
    """Who sent the request: the policy can treat a radiology VLAN, students and anonymous users differently."""

    client: str = ""  # client IP address
    user: str | None = None  # proxy-authenticated user name
    groups: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class RequestData:
    method: str
    scheme: str
    host: str
    port: int
    path: str  # path with query string, as sent
    headers: tuple[tuple[str, str], ...]
    raw_body: bytes  # as on the wire (still content-encoded)
    who: Who = field(default_factory=Who)
    websocket: bool = False  # True for a WebSocket message (raw_body is the message)
    flow_id: str = ""

    def header(self, name: str, default: str = "") -> str:
        lname = name.lower()
        for k, v in self.headers:
            if k.lower() == lname:
                return v
        return default

    @property
    def path_only(self) -> str:
        return urlsplit(self.path).path

    @property
    def query(self) -> dict[str, str]:
        return dict(parse_qsl(urlsplit(self.path).query, keep_blank_values=True))

    @property
    def url(self) -> str:
        default = 443 if self.scheme == "https" else 80
        port = "" if self.port == default else f":{self.port}"
        return f"{self.scheme}://{self.host}{port}{self.path}"

    def with_body(self, body: bytes) -> RequestData:
        """This request carrying a rewritten (decoded) body, as `extract` would see it had the client sent it:
        no Content-Encoding (the body is already decoded) and no stale Content-Length. Used to scan a rewritten
        request again before it is forwarded."""
        drop = ("content-encoding", "content-length")
        headers = tuple((k, v) for k, v in self.headers if k.lower() not in drop)
        return replace(self, raw_body=body, headers=headers)

    @property
    def content_type(self) -> str:
        return self.header("content-type").split(";")[0].strip().lower()
