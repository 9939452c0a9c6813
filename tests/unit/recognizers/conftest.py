"""Helpers for the recognizer tests: each recognizer class runs alone on a text, without spaCy or Presidio's engine."""

from __future__ import annotations

from presidio_analyzer import EntityRecognizer


def found(recognizer: EntityRecognizer, text: str) -> set[str]:
    """The values a recognizer reports on `text` (tests only: the product never handles values)."""
    return {text[r.start : r.end] for r in recognizer.analyze(text, recognizer.supported_entities, None)}
