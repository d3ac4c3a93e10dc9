"""``policy``: who may generate whose likeness, for what — Cedar policies with a schema, and ``decide()``.

The rules are reviewable text files (``policy/policies/*.cedar``) checked against
``policy/schema.cedarschema`` when loaded; a decision is a value that names the policies that
determined it and the version of the set (docs/policy.md). Imports nothing of ours but the kernel.

>>> from policy import load_policies
>>> policies = load_policies()
>>> sorted(rule.id for rule in policies.rules.values() if rule.effect == "permit")
['check-consent', 'generate-with-consent']
"""

from policy.engine import decide
from policy.errors import PolicyError
from policy.loader import DEFAULT_POLICY_DIR, SCHEMA_FILE, PolicySet, Rule, load_policies
from policy.schemas import (
    ANY_PURPOSE,
    ANY_VETTED,
    DEFAULT_DENY,
    EVALUATION_ERROR,
    SCALE,
    Action,
    ConsentFacts,
    Decision,
    IdentityFacts,
    PartnerFacts,
    PolicyRequest,
    QuotaFacts,
    Reason,
)

__all__ = [
    "ANY_PURPOSE",
    "ANY_VETTED",
    "DEFAULT_DENY",
    "DEFAULT_POLICY_DIR",
    "EVALUATION_ERROR",
    "SCALE",
    "SCHEMA_FILE",
    "Action",
    "ConsentFacts",
    "Decision",
    "IdentityFacts",
    "PartnerFacts",
    "PolicyError",
    "PolicyRequest",
    "PolicySet",
    "QuotaFacts",
    "Reason",
    "Rule",
    "decide",
    "load_policies",
]
