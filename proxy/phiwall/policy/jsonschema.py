"""The policy language as a JSON Schema (policies/policy.schema.json), generated from the pydantic models so the
editor's idea of the language can never drift from the loader's. Editors with the YAML language server validate
and complete a policy that starts with `# yaml-language-server: $schema=policy.schema.json`."""

from __future__ import annotations

from typing import Any

from phiwall.policy.schema import KNOWN_ENTITIES
from phiwall.policy.schema import PREFIXED_ENTITIES
from phiwall.policy.schema import PolicyModel

SCHEMA_ID = "https://phiwall.invalid/policy.schema.json"


def _entity_items() -> dict[str, Any]:
    prefixes = "|".join(p.rstrip(":") for p in PREFIXED_ENTITIES)
    return {
        "anyOf": [
            {"enum": sorted(KNOWN_ENTITIES) + ["*"]},
            {"type": "string", "pattern": f"^({prefixes}):[A-Za-z0-9_*?]+$"},
            {"type": "string", "pattern": "[*?]"},
        ]
    }


def policy_json_schema() -> dict[str, Any]:
    """The JSON Schema of a policy file (draft 2020-12)."""
    schema = PolicyModel.model_json_schema(by_alias=True)
    when = schema["$defs"]["When"]["properties"]["entities"]
    for variant in when.get("anyOf", []):
        if variant.get("type") == "array":
            variant["items"] = _entity_items()
    schema["properties"]["thresholds"]["propertyNames"] = _entity_items()
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": SCHEMA_ID,
        "title": "phiwall policy",
        "description": "A phiwall policy file. Reference: docs/policy.md. Validate with: phiwall policy check FILE",
        **{k: v for k, v in schema.items() if k != "title"},
    }
