"""YAML policies: schema, loading with precise errors, and evaluation."""

from phiwall.policy.engine import Policy
from phiwall.policy.engine import describe
from phiwall.policy.loader import PolicySource
from phiwall.policy.loader import load_policy
from phiwall.policy.loader import parse_policy_text

__all__ = ["Policy", "PolicySource", "describe", "load_policy", "parse_policy_text"]
