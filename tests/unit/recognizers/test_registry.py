"""The recognizer package: one class per entity, registered by class, every entity in the text_phi vocabulary."""

from __future__ import annotations

from phiwall import recognizers
from phiwall.detectors.text_phi import ENTITIES
from phiwall.recognizers.base import RegexRecognizer
from phiwall.recognizers.base import deny_list_recognizer
from phiwall.recognizers.base import register


def test_every_registered_class_builds_and_speaks_our_vocabulary() -> None:
    built = recognizers.build_all()
    assert len(built) == len(recognizers.REGISTRY)
    names = [type(r).__name__ for r in built]
    assert len(set(names)) == len(names), "a class is registered twice"
    for r in built:
        assert set(r.supported_entities) <= set(ENTITIES), type(r).__name__


def test_pattern_recognizers_are_one_class_per_entity() -> None:
    entities = [cls.ENTITY for cls in recognizers.REGISTRY if issubclass(cls, RegexRecognizer)]
    assert len(entities) == len(set(entities)), entities


def test_exclude_by_class_name() -> None:
    built = recognizers.build_all(exclude=frozenset({"NameListRecognizer"}))
    assert "NameListRecognizer" not in {type(r).__name__ for r in built}


def test_register_returns_the_class_and_a_rule_less_recognizer_is_refused() -> None:
    class _Probe(RegexRecognizer):
        ENTITY = "MRN"

    before = list(recognizers.REGISTRY)
    try:
        assert register(_Probe) is _Probe
        assert recognizers.REGISTRY[-1] is _Probe
    finally:
        recognizers.REGISTRY[:] = before
    try:
        _Probe()
    except ValueError as e:
        assert "rule" in str(e)
    else:
        raise AssertionError("a RegexRecognizer without rules must not build")


def test_deny_list_matches_whole_words_only() -> None:
    r = deny_list_recognizer("PERSON", ["Zed", "Ann Lee"])
    text = "Zed and ann lee met Zedekiah"
    got = {text[x.start : x.end] for x in r.analyze(text, ["PERSON"], None)}
    assert got == {"Zed", "ann lee"}
