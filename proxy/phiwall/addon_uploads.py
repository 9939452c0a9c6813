"""The addon's side of uploads that span several requests: hold chunks and parts, check a first chunk at once,
judge the reassembled file on the request that completes the upload, and learn upload URLs, session ids and file
ids from the services' responses. Mixed into `phiwall.addon.PhiWall`, whose inspection, answer and audit methods
it uses; the state itself lives in `phiwall.uploads.UploadStore`.
"""

from __future__ import annotations

import json
import re
from collections.abc import Awaitable
from collections.abc import Callable
from dataclasses import replace
from typing import TYPE_CHECKING
from typing import Any

from mitmproxy import http

from phiwall import sniff
from phiwall.errors import ExtractionError
from phiwall.errors import LimitError
from phiwall.errors import PhiWallError
from phiwall.extractors import Service
from phiwall.extractors import adapter_for
from phiwall.extractors import hostless_service
from phiwall.extractors import service_by_name
from phiwall.extractors.base import parse_multipart
from phiwall.extractors.openai_uploads import upload_step
from phiwall.model import Verdict
from phiwall.uploads import ASSEMBLED_HEADER
from phiwall.uploads import UploadSession
from phiwall.uploads import UploadStore
from phiwall.uploads import ids_from_response
from phiwall.uploads import normalise_url
from phiwall.uploads import query_param

if TYPE_CHECKING:
    from phiwall.pipeline import Inspection
    from phiwall.request import RequestData

META = "phiwall"

Stateful = Callable[[http.HTTPFlow, Service, bytes], Awaitable[None]]

_BLOCK_IDS = re.compile(rb"<(?:Latest|Committed|Uncommitted)>\s*([^<\s]*)\s*</")
_GEMINI_UPLOAD = hostless_service("gemini_api_upload")
_OPENAI_UPLOADS = hostless_service("openai_uploads")


class UploadFlows:
    """Multi-request upload handling for PhiWall (see the module docstring)."""

    uploads: UploadStore

    if TYPE_CHECKING:  # provided by PhiWall

        def _request_data(self, flow: http.HTTPFlow, body: bytes | None = None) -> RequestData: ...
        async def _inspect(self, req: RequestData, service: Service) -> Inspection: ...
        async def _inspect_or_answer(
            self, flow: http.HTTPFlow, service: Service, req: RequestData, inspect_as: Service
        ) -> Inspection | None: ...
        def _apply(self, flow: http.HTTPFlow, service: Service, inspection: Inspection) -> None: ...
        def _answer_error(self, flow: http.HTTPFlow, service: Service, reason: str, status: int = 422) -> None: ...
        def _audit_plain(self, flow: http.HTTPFlow, note: str, inspection: Inspection | None = None) -> None: ...
        def _block_known(self, flow: http.HTTPFlow, service: Service, reason: str, **kw: Any) -> None: ...
        async def _judge_in_place(
            self, flow: http.HTTPFlow, service: Service, req: RequestData, inspect_as: Service
        ) -> None: ...

    def _stateful_kind(self, flow: http.HTTPFlow, service: Service) -> Stateful | None:
        """The handler for a request that is one step of a multi-request upload, or None."""
        r = flow.request
        if r.headers.get("x-goog-upload-command"):
            return self._google_upload
        if service.name == "openai_api" and r.method == "POST" and upload_step(r.path.split("?")[0]) is not None:
            return self._openai_upload
        if service.name == "chatgpt_files" and r.method in ("PUT", "POST"):
            return self._blob_upload
        return None

    async def _google_upload(self, flow: http.HTTPFlow, service: Service, body: bytes) -> None:
        """Gemini File API and Gemini web resumable uploads: start / upload … / upload, finalize."""
        r = flow.request
        meta = flow.metadata[META]
        cmds = {c.strip().lower() for c in r.headers.get("x-goog-upload-command", "").split(",") if c.strip()}
        req = self._request_data(flow, body)
        if "start" in cmds:
            meta["learn"] = "google_start"
            meta["declared"] = _int(r.headers.get("x-goog-upload-header-content-length"))
            inspection = await self._inspect_or_answer(flow, service, req, _GEMINI_UPLOAD)
            if inspection is not None:
                self._apply(flow, service, inspection)
            return
        upload_id = query_param(r.pretty_url, "upload_id") or normalise_url(r.pretty_url)
        if "cancel" in cmds or "upload" not in cmds:  # cancel, query: nothing to inspect
            if "cancel" in cmds and (s := await self.uploads.get("google", upload_id)) is not None:
                await self.uploads.close(s)
            self._audit_plain(flow, "upload control request (" + ", ".join(sorted(cmds)) + ")")
            return
        offset = _int(r.headers.get("x-goog-upload-offset")) or 0
        final = "finalize" in cmds
        session = await self.uploads.get("google", upload_id)
        if session is None:
            if offset == 0 and final:  # the whole file in one request: judge it like any upload
                inspection = await self._inspect_or_answer(flow, service, req, _GEMINI_UPLOAD)
                if inspection is not None:
                    self._apply(flow, service, inspection)
                return
            if offset != 0:
                self._answer_error(
                    flow,
                    service,
                    f"an upload chunk at byte {offset} arrived for an upload phiwall "
                    "did not see begin (the proxy may have restarted); start the upload again",
                )
                return
            session = await self.uploads.open("google", upload_id)
        await self._chunk(flow, service, session, offset, body, req, _GEMINI_UPLOAD, final=final)

    async def _openai_upload(self, flow: http.HTTPFlow, service: Service, body: bytes) -> None:
        """OpenAI Uploads: create → parts (any order; part ids come back in each part's response) → complete."""
        r = flow.request
        meta = flow.metadata[META]
        step, upload_id = upload_step(r.path.split("?")[0]) or ("create", None)
        req = self._request_data(flow, body)
        if step == "create":
            meta["learn"] = "openai_upload_create"
            inspection = await self._inspect_or_answer(flow, service, req, _OPENAI_UPLOADS)
            if inspection is not None:
                self._apply(flow, service, inspection)
            return
        assert upload_id is not None
        session = await self.uploads.get("openai", upload_id)
        if step == "cancel":
            if session is not None:
                await self.uploads.close(session)
            self._audit_plain(flow, "upload cancelled")
            return
        if step == "parts":
            if session is None:  # the create response was not seen: still hold the parts
                session = await self.uploads.open("openai", upload_id)
            if session.blocked:
                self._block_known(flow, service, session.blocked)
                return
            try:
                data = _multipart_data(body, r.headers.get("content-type", ""))
                await self.uploads.hold(session, flow.id, data)
            except PhiWallError as e:
                self._answer_error(flow, service, str(e), status=413 if isinstance(e, LimitError) else 422)
                return
            meta["learn"] = "openai_part"
            meta["upload_key"] = session.key
            await self._early_check(flow, service, session, data, req, _OPENAI_UPLOADS)
            return
        # complete
        if session is None:
            self._answer_error(
                flow,
                service,
                "the upload's parts were not seen by phiwall (the proxy may have restarted); upload the file again",
            )
            return
        if session.blocked:
            self._block_known(flow, service, session.blocked)
            return
        try:
            doc = json.loads(body or b"{}")
            order = doc.get("part_ids") if isinstance(doc, dict) else None
            if not isinstance(order, list) or not all(isinstance(p, str) for p in order):
                raise ExtractionError("uploads complete request has no part_ids list")
            whole = await self.uploads.assemble(session, order)
        except (ValueError, PhiWallError) as e:
            self._answer_error(
                flow, service, str(e) if isinstance(e, PhiWallError) else "uploads complete body is not JSON"
            )
            return
        finally:
            await self.uploads.close(session)
        await self._judge_whole(flow, service, req, whole, _OPENAI_UPLOADS)

    async def _blob_upload(self, flow: http.HTTPFlow, service: Service, body: bytes) -> None:
        """The PUT of a ChatGPT file's bytes to the signed URL the registration answered with; also Azure's
        Put Block (`comp=block`) + Put Block List (`comp=blocklist`) for large files."""
        r = flow.request
        meta = flow.metadata[META]
        url = r.pretty_url
        owner = await self.uploads.url_owner(url)
        if owner is not None:
            meta["file_ids"] = [owner[1]]
        else:
            meta["note"] = "upload URL not learned from a registration response"
        comp = query_param(url, "comp") or ""
        req = self._request_data(flow, body)
        key = normalise_url(url, drop=frozenset({"comp", "blockid"}))
        if comp == "block":
            session = await self.uploads.get("azure", key) or await self.uploads.open(
                "azure", key, file_id=owner[1] if owner else None
            )
            if session.blocked:
                self._block_known(flow, service, session.blocked)
                return
            await self._chunk(
                flow, service, session, query_param(url, "blockid") or "", body, req, service, final=False
            )
            return
        if comp == "blocklist":
            listed = await self.uploads.get("azure", key)
            if listed is None:
                self._answer_error(flow, service, "the file's blocks were not seen by phiwall; upload it again")
                return
            session = listed
            if session.blocked:
                self._block_known(flow, service, session.blocked)
                return
            order = [m.decode("ascii", "replace") for m in _BLOCK_IDS.findall(body)]
            try:
                whole = await self.uploads.assemble(session, order)
            except PhiWallError as e:
                self._answer_error(flow, service, str(e))
                return
            finally:
                await self.uploads.close(session)
            await self._judge_whole(flow, service, req, whole, service)
            return
        await self._judge_in_place(flow, service, req, service)

    async def _chunk(
        self,
        flow: http.HTTPFlow,
        service: Service,
        session: UploadSession,
        key: int | str,
        data: bytes,
        req: RequestData,
        inspect_as: Service,
        *,
        final: bool,
    ) -> None:
        """Hold one chunk; judge the whole file on the final one, check a first chunk's magic at once."""
        if session.blocked:
            self._block_known(flow, service, session.blocked)
            return
        try:
            session = await self.uploads.add_chunk(session, key, data)
        except LimitError as e:
            await self.uploads.close(session)
            self._answer_error(flow, service, str(e), status=413)
            return
        if final:
            try:
                whole = await self.uploads.assemble(session)
            except PhiWallError as e:
                self._answer_error(flow, service, str(e))
                return
            finally:
                await self.uploads.close(session)
            await self._judge_whole(flow, service, req, whole, inspect_as)
            return
        if key == 0 or isinstance(key, str):
            await self._early_check(flow, service, session, data, req, inspect_as)
        else:
            self._audit_plain(flow, "upload chunk held; the whole file is judged when the upload completes")

    async def _early_check(
        self,
        flow: http.HTTPFlow,
        service: Service,
        session: UploadSession,
        data: bytes,
        req: RequestData,
        inspect_as: Service,
    ) -> None:
        """A chunk that begins with file magic (DICOM, an image) is inspected at once: an obviously medical upload
        is stopped at its first request. Only positive evidence blocks here; a detector that fails on a partial
        file does not, because the assembled file is judged (and fails closed) when the upload completes."""
        if (
            session.early_checked
            or sniff.sniff(data) == sniff.OCTET
            or not await self.uploads.claim_early_check(session)
        ):
            self._audit_plain(flow, "upload chunk held; the whole file is judged when the upload completes")
            return
        try:
            inspection = await self._inspect(
                replace(req, raw_body=data, headers=assembled_headers(req.headers)), inspect_as
            )
        except PhiWallError:
            self._audit_plain(
                flow, "first upload chunk could not be checked alone; the whole file is judged at the end"
            )
            return
        d = inspection.decision
        if d.verdict >= Verdict.DEIDENTIFY and d.error is None:
            self._apply(flow, service, inspection)
            if flow.response is not None:  # enforce mode: the rest of this upload is refused without inspection
                await self.uploads.mark_blocked(session, d.message, d.rule_ids)
            return
        self._audit_plain(
            flow,
            "first upload chunk checked; the whole file is judged when the upload completes",
            inspection=inspection,
        )

    async def _judge_whole(
        self, flow: http.HTTPFlow, service: Service, req: RequestData, whole: bytes, inspect_as: Service
    ) -> None:
        """Inspect a reassembled file on the request that completes its upload, before that request leaves."""
        flow.metadata[META]["assembled_bytes"] = len(whole)
        if whole == req.raw_body:  # the whole file is this request's own body: it can be de-identified in place
            await self._judge_in_place(flow, service, req, inspect_as)
            return
        syn = replace(req, raw_body=whole, headers=assembled_headers(req.headers))
        inspection = await self._inspect_or_answer(flow, service, syn, inspect_as)
        if inspection is not None:
            self._apply(flow, service, inspection)

    async def _learn(self, flow: http.HTTPFlow, meta: dict[str, Any]) -> None:
        """Read what upload responses tell phiwall: upload URLs and session ids, part ids, and the ids of files
        that were let through with a warning (or in shadow mode) so later references carry the same verdict."""
        resp = flow.response
        assert resp is not None
        learn = meta.get("learn")
        ok = 200 <= resp.status_code < 300
        if learn == "register" and ok:
            service = service_by_name(meta.get("service", ""))
            found = adapter_for(service).registered_upload(json_or_none(resp.content)) if service else None
            if found is not None:
                await self.uploads.remember_url(found[0], "chatgpt", found[1])
        elif learn == "google_start" and ok:
            url = resp.headers.get("x-goog-upload-url")
            if url:
                uid = query_param(url, "upload_id") or normalise_url(url)
                await self.uploads.open("google", uid, declared_size=meta.get("declared"))
        elif learn == "openai_upload_create" and ok:
            doc = json_or_none(resp.content)
            if isinstance(doc, dict) and isinstance(doc.get("id"), str):
                size = doc.get("bytes")
                await self.uploads.open("openai", doc["id"], declared_size=size if isinstance(size, int) else None)
        elif learn == "openai_part":
            doc = json_or_none(resp.content) if ok else None
            part_id = doc["id"] if isinstance(doc, dict) and isinstance(doc.get("id"), str) else None
            await self.uploads.name_held(meta.get("upload_key", ""), flow.id, part_id)
        verdict = meta.get("verdict")
        if ok and verdict in ("warn", "block", "deidentify") and meta.get("kind") == "upload":
            ids = ids_from_response(resp.content or b"")
            if ids:
                await self.uploads.remember_verdict(
                    ids, Verdict.parse(verdict), meta.get("reason", ""), tuple(meta.get("rule_ids", ()))
                )


def assembled_headers(headers: tuple[tuple[str, str], ...]) -> tuple[tuple[str, str], ...]:
    drop = {"content-encoding", "content-length", ASSEMBLED_HEADER}
    return tuple((k, v) for k, v in headers if k.lower() not in drop) + ((ASSEMBLED_HEADER, "1"),)


def _multipart_data(body: bytes, content_type: str) -> bytes:
    """The `data` field of an Uploads part (or its only file field)."""
    fields = parse_multipart(body, content_type)
    for f in fields:
        if f.name == "data":
            return f.data
    files = [f for f in fields if f.filename is not None]
    if len(files) == 1:
        return files[0].data
    raise ExtractionError("uploads part request has no `data` field")


def _int(value: str | None) -> int | None:
    try:
        return int(value) if value is not None else None
    except ValueError:
        return None


def json_or_none(body: bytes | None) -> Any:
    try:
        return json.loads(body or b"")
    except (UnicodeDecodeError, ValueError):
        return None
