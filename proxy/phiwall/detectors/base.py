"""The detector contract: one detector per kind of evidence, each a small class with a stable name."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from typing import ClassVar
from typing import Protocol

from phiwall.model import Finding
from phiwall.model import Part


class Detector(Protocol):
    """Finds evidence in one part.

    `name` is the stable id used in policy YAML, findings and audit events: never rename it.
    `handles` says which parts the detector wants: "text" for text parts, or sniffed media types of file parts
    ("application/dicom", "image/png", ...). "*" means every file part.
    """

    name: ClassVar[str]
    handles: ClassVar[frozenset[str]]

    def detect(self, part: Part) -> list[Finding]:
        """Return findings for `part` ([] when there are none).

        Must not mutate the part and must never put a detected value into a finding, a log line or an
        exception message. Raise DetectionError (or LimitError) when the part cannot be examined: the policy's
        `on_error` then decides, so a failure is never a silent pass.
        """
        ...


class DetectorFactory(Protocol):
    def __call__(self, options: Mapping[str, Any]) -> Detector: ...
