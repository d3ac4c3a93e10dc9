"""decide(): each rule fires in exactly the situation it names, a clean request is allowed, reasons are ids."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

import pytest
from policy_factories import NOW, consent, expected_forbids, identity, request, with_consent, with_partner

from policy import (
    DEFAULT_DENY,
    EVALUATION_ERROR,
    Decision,
    QuotaFacts,
    Reason,
    decide,
    load_policies,
)


@pytest.fixture(scope="module")
def policies():
    return load_policies()


def test_a_request_in_order_is_allowed_by_the_permit(policies):
    decision = decide(request(), policies=policies)
    assert decision == Decision(True, (Reason("generate-with-consent", policies.rule("generate-with-consent").reason),),
                                policies.version)


def test_check_consent_needs_no_identity_nor_quota(policies):
    decision = decide(request(action="check-consent", identity=None, quota=None), policies=policies)
    assert decision.allowed and decision.reason_ids == ("check-consent",)


# Each row: (the rule that must fire, a request where only its situation holds).
SITUATIONS = [
    ("partner-suspended", lambda: with_partner(request(), active=False)),
    ("purpose-not-declared-by-partner", lambda: with_partner(request(), use_cases=["dubbing"])),
    ("consent-not-active", lambda: with_consent(request(), status="revoked")),
    ("consent-not-active", lambda: with_consent(request(), status="erased")),
    ("consent-not-active", lambda: with_consent(request(), status="expired")),
    ("consent-not-active", lambda: with_consent(request(), status="not_yet_valid")),
    ("consent-not-active", lambda: with_consent(request(), valid_until=NOW)),  # expires at this instant
    ("consent-not-active", lambda: with_consent(request(), valid_from=NOW + timedelta(milliseconds=1))),
    ("consent-partner-not-allowed", lambda: with_consent(request(), partners=["globex"])),
    ("purpose-not-in-consent", lambda: with_consent(request(), purposes=["dubbing"])),
    ("purpose-prohibited-by-consent", lambda: with_consent(request(), purposes="any",
                                                           prohibited_purposes=["education"])),
    ("identity-not-verified", lambda: request(identity=None)),
    ("identity-below-threshold", lambda: request(identity=identity(similarity=0.599999))),
    ("identity-ambiguous", lambda: request(identity=identity(margin=0.049))),
    ("quota-unknown", lambda: request(quota=None)),
    ("quota-exhausted", lambda: request(quota=QuotaFacts(used=100, limit=100))),
    ("quota-exhausted", lambda: request(quota=QuotaFacts(used=0, limit=0))),
]


@pytest.mark.parametrize(("rule", "make"), SITUATIONS, ids=[f"{r}-{i}" for i, (r, _) in enumerate(SITUATIONS)])
def test_each_rule_fires_alone_in_its_situation(policies, rule, make):
    decision = decide(make(), policies=policies)
    assert not decision.allowed
    assert decision.reason_ids == (rule,)
    assert decision.reasons[0].text == policies.rule(rule).reason
    assert decision.policy_version == policies.version


def test_every_forbid_rule_has_a_situation(policies):
    forbids = {r.id for r in policies.rules.values() if r.effect == "forbid"}
    assert forbids == {rule for rule, _ in SITUATIONS}


# Near misses: the boundary on the allowed side; no rule may fire.
NEAR_MISSES = [
    lambda: request(identity=identity(similarity=0.6)),                   # exactly at the threshold
    lambda: request(identity=identity(margin=0.05)),                      # exactly the required margin
    lambda: request(identity=identity(margin=None)),                      # nobody else enrolled
    lambda: request(quota=QuotaFacts(used=99, limit=100)),                # the last one in the quota
    lambda: with_consent(request(), valid_from=NOW),                      # valid from this instant
    lambda: with_consent(request(), valid_until=None),                    # no end
    lambda: with_consent(request(), valid_until=NOW + timedelta(milliseconds=1)),
    lambda: with_consent(request(), partners="any_vetted"),
    lambda: with_consent(request(), purposes="any"),
    lambda: with_consent(request(), partners=["ACME"]),                   # partner names compare without case
    lambda: with_partner(request(), name="ACME"),
    lambda: with_consent(request(), partners=["ptn_0123"]),              # named by partner id
]


@pytest.mark.parametrize("make", NEAR_MISSES)
def test_near_misses_are_allowed(policies, make):
    decision = decide(make(), policies=policies)
    assert decision.allowed, decision.reasons


def test_a_deny_lists_every_matching_forbid(policies):
    req = with_partner(request(purpose="political", quota=QuotaFacts(used=5, limit=5)), active=False)
    req = replace(req, consent=consent(status="revoked", purposes="any"), identity=identity(similarity=0.2, margin=0.0))
    decision = decide(req, policies=policies)
    assert not decision.allowed
    assert set(decision.reason_ids) == {
        "partner-suspended", "purpose-not-declared-by-partner", "consent-not-active", "purpose-prohibited-by-consent",
        "identity-below-threshold", "identity-ambiguous", "quota-exhausted"} == expected_forbids(req)
    assert list(decision.reason_ids) == sorted(decision.reason_ids)


def test_identity_rules_do_not_apply_to_check_consent(policies):
    req = request(action="check-consent", identity=identity(similarity=-0.5, margin=0.0),
                  quota=QuotaFacts(used=9, limit=1))
    assert decide(req, policies=policies).allowed


def test_no_permit_means_default_deny(tmp_path, policies):
    (tmp_path / "only.cedar").write_text(
        '@id("generate-only-on-tuesdays") @reason("never")\n'
        'permit (principal, action == Likeness::Action::"generate", resource) when { false };\n'
        '@id("nothing-else") @reason("never")\n'
        'forbid (principal, action, resource) when { context.purpose == "nope" };\n')
    narrow = load_policies(tmp_path)
    decision = decide(request(), policies=narrow)
    assert decision.allowed is False
    assert decision.reasons == (Reason(DEFAULT_DENY, "no policy permits this request"),)


def test_an_evaluation_error_denies_even_where_the_permit_matched(tmp_path):
    (tmp_path / "p.cedar").write_text(
        '@id("allow") @reason("always")\npermit (principal, action, resource);\n'
        '@id("overflowing") @reason("a rule that errors at run time")\n'
        'forbid (principal, action, resource)\n'
        'when { context has quota && context.quota.used * 9223372036854775807 > 0 };\n')
    broken = load_policies(tmp_path)
    decision = decide(request(quota=QuotaFacts(used=2, limit=10)), policies=broken)
    assert decision.allowed is False
    assert decision.reason_ids[0] == EVALUATION_ERROR
    assert "overflow" in decision.reasons[0].text.lower()


def test_facts_that_cannot_reach_cedar_deny_without_raising(policies):
    req = request()
    object.__setattr__(req.identity, "similarity", float("nan"))  # IdentityFacts refuses NaN; forced past it
    decision = decide(req, policies=policies)
    assert decision.allowed is False and decision.reason_ids == (EVALUATION_ERROR,)
    assert decision.policy_version == policies.version


def test_facts_are_checked_when_built():
    with pytest.raises(ValueError, match="lie in"):
        identity(similarity=float("nan"))
    with pytest.raises(ValueError, match="time zone"):
        request(now=NOW.replace(tzinfo=None))
    with pytest.raises(ValueError, match="unknown consent status"):
        consent(status="granted")
    with pytest.raises(ValueError, match="not a valid Action"):
        request(action="delete")


def test_decide_is_deterministic(policies):
    req = with_consent(request(purpose="dubbing"), purposes=["education"])
    decisions = {decide(req, policies=policies) for _ in range(50)}
    assert len(decisions) == 1
    assert decisions.pop().reason_ids == ("purpose-not-in-consent",)


def test_scores_are_rounded_to_millionths():
    assert identity(similarity=0.6000004).scaled()["similarity"] == 600000
    assert identity(similarity=0.6000006).scaled()["similarity"] == 600001
    assert "margin" not in identity(margin=None).scaled()


def test_decision_serialises_for_the_audit_log(policies):
    decision = decide(request(quota=QuotaFacts(used=3, limit=3)), policies=policies)
    assert decision.to_dict() == {"allowed": False, "policy_version": policies.version,
                                  "reasons": [{"id": "quota-exhausted",
                                               "text": "the partner has used its generation quota for this period"}]}
