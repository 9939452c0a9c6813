"""Audit paths: what an endpoint table spells stays readable, anything the user chose becomes a keyed digest."""

import pytest
from phiwall.safelog import safe_url_path


@pytest.mark.parametrize(
    "path",
    [
        "/_/BardChatUi/data/assistant.lamda.BardFrontendService/StreamGenerate",  # "_" is a literal segment
        "/i/api/2/grok/add_response.json",  # so are "i" and "2"
        "/v1/chat/completions",
    ],
)
def test_segments_the_endpoint_tables_spell_are_kept(path: str) -> None:
    assert safe_url_path(path) == path


@pytest.mark.parametrize(
    ("path", "kept"),
    [
        ("/v1/chat/completions/Zebulon%20Quibbleworth", "/v1/chat/completions/"),
        ("/v1/files/4455667", "/v1/files/"),
        ("/i/api/2/grok/Okafor", "/i/api/2/grok/"),
    ],
)
def test_user_chosen_segments_are_digested(path: str, kept: str) -> None:
    safe = safe_url_path(path)
    assert safe.startswith(kept + "~") and path.rsplit("/", 1)[1] not in safe
