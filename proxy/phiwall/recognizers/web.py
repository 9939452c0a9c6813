"""E-mail addresses and URLs: Presidio's recognizers, made offline (e-mail) and stricter (URL)."""

from __future__ import annotations

import tldextract
from presidio_analyzer import Pattern
from presidio_analyzer.predefined_recognizers import EmailRecognizer
from presidio_analyzer.predefined_recognizers import UrlRecognizer

from phiwall.recognizers.base import register


@register
class OfflineEmailRecognizer(EmailRecognizer):
    """Presidio's e-mail recognizer, but its TLD check uses tldextract's bundled suffix snapshot: the module-level
    `tldextract.extract` would download the public-suffix list on first use and write a cache under $HOME."""

    _extract = tldextract.TLDExtract(suffix_list_urls=(), cache_dir=None, fallback_to_snapshot=True)

    def validate_result(self, pattern_text: str) -> bool:
        return bool(self._extract(pattern_text).fqdn)


@register
class StrictUrlRecognizer(UrlRecognizer):
    """URLs with a scheme, or a `www.`/common-TLD host. Presidio's schemeless pattern takes any "word.xx" for a
    URL, and clinical notes without spaces after full stops ("held.Su", "po.re") are full of those."""

    _COMMON_TLD = r"(?:com|org|net|edu|gov|mil|int|io|info|biz|health|care|clinic|hospital|us|ca|uk|co\.uk|de|fr|au)"
    PATTERNS = [
        Pattern("Standard Url", "(?i)(?:https?://)" + UrlRecognizer.BASE_URL_REGEX, 0.6),
        Pattern("www Url", r"(?i)\bwww\d{0,3}\.[a-z0-9\-]{1,63}(?:\.[a-z0-9\-]{1,63})+(?:/[^\s()<>\"']*)?", 0.6),
        Pattern(
            "Common TLD host",
            r"\b(?:[a-z0-9](?:[a-z0-9\-]{0,62}[a-z0-9])?\.)+" + _COMMON_TLD + r"\b(?:/[^\s()<>\"']*)?",
            0.5,
        ),
    ]

    def __init__(self) -> None:
        super().__init__(patterns=self.PATTERNS)
