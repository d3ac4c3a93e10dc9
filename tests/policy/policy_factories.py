"""Requests for the policy tests: one where everything is in order, and an oracle of the forbid rules."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

from policy import ConsentFacts, IdentityFacts, PartnerFacts, PolicyRequest, QuotaFacts

NOW = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)


def partner(**overrides: Any) -> PartnerFacts:
    fields: dict[str, Any] = {"id": "ptn_0123", "name": "Acme", "active": True,
                              "use_cases": ["education", "dubbing"]}
    return PartnerFacts(**{**fields, **overrides})


def consent(**overrides: Any) -> ConsentFacts:
    fields: dict[str, Any] = {"id": "cns_0123", "revision": 2, "status": "active", "partners": ["acme", "globex"],
                              "purposes": ["education", "dubbing"], "prohibited_purposes": ["political"],
                              "valid_from": NOW - timedelta(days=30), "valid_until": NOW + timedelta(days=30)}
    return ConsentFacts(**{**fields, **overrides})


def identity(**overrides: Any) -> IdentityFacts:
    fields: dict[str, Any] = {"similarity": 0.82, "threshold": 0.6, "margin": 0.3, "required_margin": 0.05}
    return IdentityFacts(**{**fields, **overrides})


def request(**overrides: Any) -> PolicyRequest:
    """A generation that every rule allows; override any fact."""
    fields: dict[str, Any] = {"action": "generate", "partner": partner(), "consent": consent(),
                              "purpose": "education", "now": NOW, "identity": identity(),
                              "quota": QuotaFacts(used=10, limit=100)}
    return PolicyRequest(**{**fields, **overrides})


def with_partner(req: PolicyRequest, **overrides: Any) -> PolicyRequest:
    return replace(req, partner=replace(req.partner, **overrides))


def with_consent(req: PolicyRequest, **overrides: Any) -> PolicyRequest:
    return replace(req, consent=replace(req.consent, **overrides))


def expected_forbids(req: PolicyRequest) -> set[str]:
    """The forbid rules that should fire, computed in Python from the facts (the rules in docs/policy.md)."""
    p, c, generate = req.partner, req.consent, req.action == "generate"
    out = set()
    if not p.active:
        out.add("partner-suspended")
    if req.purpose not in p.use_cases:
        out.add("purpose-not-declared-by-partner")
    now_ms = _ms(req.now)
    if (c.status != "active" or now_ms < _ms(c.valid_from, up=True)
            or (c.valid_until is not None and now_ms >= _ms(c.valid_until))):
        out.add("consent-not-active")
    if c.partners != "any_vetted" and p.name not in c.partners and p.id.lower() not in c.partners:
        out.add("consent-partner-not-allowed")
    if c.purposes != "any" and req.purpose not in c.purposes:
        out.add("purpose-not-in-consent")
    if req.purpose in c.prohibited_purposes:
        out.add("purpose-prohibited-by-consent")
    if generate:
        if req.identity is None:
            out.add("identity-not-verified")
        else:
            scaled = req.identity.scaled()
            if scaled["similarity"] < scaled["threshold"]:
                out.add("identity-below-threshold")
            if "margin" in scaled and scaled["margin"] < scaled["required_margin"]:
                out.add("identity-ambiguous")
        if req.quota is None:
            out.add("quota-unknown")
        elif req.quota.used >= req.quota.limit:
            out.add("quota-exhausted")
    return out


def _ms(moment: datetime, *, up: bool = False) -> int:
    micros = int((moment - datetime(1970, 1, 1, tzinfo=UTC)) / timedelta(microseconds=1))
    return -(-micros // 1000) if up else micros // 1000
