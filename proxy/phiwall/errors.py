"""Exceptions phiwall raises, and what each means for the traffic.

PhiWallError
 ├── PolicyError        the policy file is invalid: startup fails, a reload keeps the last good policy
 ├── ExtractionError    a request body could not be taken apart: the policy's on_error decides (default block)
 ├── DetectionError     a detector failed on a part: on_error decides
 ├── LimitError         a size, pixel, page or archive limit was exceeded: on_error decides, with a clear reason
 └── InspectionTimeout  inspection took longer than the policy allows: on_error decides

Messages never contain detected values or file bytes: they name kinds, sizes, offsets and fields only.
"""

from __future__ import annotations


class PhiWallError(Exception):
    """Base class for everything phiwall raises on purpose."""


class PolicyError(PhiWallError):
    """A policy file is invalid. The message names the file, the line and the field, and how to fix it."""


class ExtractionError(PhiWallError):
    """A request body could not be parsed into parts (unknown shape, broken base64, undecodable encoding).

    `endpoint` is the name of the matcher-table row the adapter was parsing (set by `extractors.table.named` and
    `need`), None when the failure came before any endpoint was known. The pipeline puts it into the audit event's
    `endpoint` field, so a changed protocol can be counted per endpoint without parsing the `error` text.
    """

    def __init__(self, message: str, *, endpoint: str | None = None) -> None:
        super().__init__(message)
        self.endpoint = endpoint


class DetectionError(PhiWallError):
    """A detector failed on a part."""


class LimitError(PhiWallError):
    """A configured limit was exceeded (body size, pixels, pages, archive expansion)."""


class InspectionTimeout(PhiWallError):
    """Inspection ran past the policy's time limit."""
