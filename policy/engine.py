"""``decide()``: the facts of a request → allowed or denied, with the ids of the policies that determined it.

Pure: no I/O, no clock, no randomness; the same request and policy set always give the same decision.

>>> from datetime import UTC, datetime
>>> from policy import (ConsentFacts, IdentityFacts, PartnerFacts, PolicyRequest, QuotaFacts, decide,
...                     load_policies)
>>> policies = load_policies()
>>> request = PolicyRequest(
...     action="generate", purpose="education", now=datetime(2026, 6, 1, tzinfo=UTC),
...     partner=PartnerFacts(id="ptn_1", name="acme", active=True, use_cases=["education"]),
...     consent=ConsentFacts(id="cns_1", revision=1, status="active", partners=["acme"], purposes="any",
...                          prohibited_purposes=["political"], valid_from=datetime(2026, 1, 1, tzinfo=UTC)),
...     identity=IdentityFacts(similarity=0.91, threshold=0.6, margin=0.3, required_margin=0.05),
...     quota=QuotaFacts(used=3, limit=100))
>>> decision = decide(request, policies=policies)
>>> decision.allowed, decision.reason_ids
(True, ('generate-with-consent',))
>>> from dataclasses import replace
>>> decide(replace(request, purpose="political"), policies=policies).reason_ids
('purpose-not-declared-by-partner', 'purpose-prohibited-by-consent')
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta
from typing import Any

import cedarpy

from policy.loader import PolicySet
from policy.schemas import ANY_PURPOSE, ANY_VETTED, DEFAULT_DENY, EVALUATION_ERROR, Decision, PolicyRequest, Reason

logger = logging.getLogger(__name__)

_NAMESPACE = "Likeness"
_DEFAULT_DENY_TEXT = "no policy permits this request"
_MS = timedelta(milliseconds=1)


def decide(request: PolicyRequest, *, policies: PolicySet) -> Decision:
    """Allow or deny ``request`` under ``policies``. Never raises: a failed evaluation denies."""
    version = getattr(policies, "version", "unknown")
    try:
        cedar_request, entities = _to_cedar(request)
        result = cedarpy.is_authorized(cedar_request, policies._cedar, entities, schema=policies._schema)
        matched = sorted(result.diagnostics.reasons)
        errors = list(result.diagnostics.errors)
        allowed = result.allowed
    except Exception as exc:  # fail closed on anything: a request Cedar refuses, a broken handle
        logger.warning("policy evaluation failed: %s", type(exc).__name__)
        return Decision(False, (Reason(EVALUATION_ERROR, f"policy evaluation failed: {_one_line(exc)}"),), version)

    rules = policies.rules
    found = tuple(Reason(rid, rules[rid].reason) for rid in matched if rid in rules)
    if errors:
        message = "; ".join(_one_line(e) for e in errors)
        denied = tuple(r for r in found if rules[r.id].effect == "forbid")
        return Decision(False, (Reason(EVALUATION_ERROR, f"policy evaluation failed: {message}"), *denied), version)
    if allowed:
        return Decision(True, found, version)
    return Decision(False, found or (Reason(DEFAULT_DENY, _DEFAULT_DENY_TEXT),), version)


def _one_line(value: object) -> str:
    return " ".join(str(value).split())[:500]


def _uid(kind: str, ident: str) -> dict[str, str]:
    return {"type": f"{_NAMESPACE}::{kind}", "id": ident}


def _datetime(moment: datetime, *, up: bool = False) -> dict[str, Any]:
    """A Cedar datetime (milliseconds, UTC); rounded down, or up with ``up`` (stricter for a start)."""
    moment = moment.astimezone(UTC)
    truncated = moment.replace(microsecond=moment.microsecond // 1000 * 1000)
    if up and truncated != moment:
        truncated += _MS
    text = truncated.strftime("%Y-%m-%dT%H:%M:%S.") + f"{truncated.microsecond // 1000:03d}Z"
    return {"__extn": {"fn": "datetime", "arg": text}}


def _to_cedar(request: PolicyRequest) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    partner, consent = request.partner, request.consent
    consent_attrs: dict[str, Any] = {
        "revision": consent.revision,
        "status": consent.status,
        "any_vetted_partner": consent.partners == ANY_VETTED,
        "partners": [] if consent.partners == ANY_VETTED else list(consent.partners),
        "any_purpose": consent.purposes == ANY_PURPOSE,
        "purposes": [] if consent.purposes == ANY_PURPOSE else list(consent.purposes),
        "prohibited_purposes": list(consent.prohibited_purposes),
        "valid_from": _datetime(consent.valid_from, up=True),
    }
    if consent.valid_until is not None:
        consent_attrs["valid_until"] = _datetime(consent.valid_until)
    entities = [
        {"uid": _uid("Partner", partner.id), "parents": [],
         "attrs": {"id": partner.id.lower(), "name": partner.name, "active": partner.active,
                   "use_cases": list(partner.use_cases)}},
        {"uid": _uid("Consent", consent.id), "parents": [], "attrs": consent_attrs},
    ]
    context: dict[str, Any] = {"purpose": request.purpose, "now": _datetime(request.now)}
    if request.identity is not None:
        context["identity"] = request.identity.scaled()
    if request.quota is not None:
        context["quota"] = {"used": request.quota.used, "limit": request.quota.limit}
    cedar_request = {"principal": _uid("Partner", partner.id), "action": _uid("Action", str(request.action)),
                     "resource": _uid("Consent", consent.id), "context": context}
    return cedar_request, entities
