"""Property: decide never raises, and denies — naming exactly the rules that hold — whenever any forbid holds."""

from __future__ import annotations

from datetime import timedelta

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from policy_factories import NOW, expected_forbids

from policy import ConsentFacts, IdentityFacts, PartnerFacts, PolicyRequest, QuotaFacts, decide, load_policies

POLICIES = load_policies()
PURPOSES = ["education", "dubbing", "advertising", "political", "satire"]
NAMES = ["acme", "globex", "Initech"]
purposes = st.lists(st.sampled_from(PURPOSES), max_size=4)
offsets = st.integers(min_value=-5_000, max_value=5_000).map(lambda ms: NOW + timedelta(milliseconds=ms))
micro = st.integers(min_value=-1_000, max_value=1_000).map(lambda k: k / 1000)

partners = st.builds(PartnerFacts, id=st.sampled_from(["ptn_a", "ptn_b"]), name=st.sampled_from(NAMES),
                     active=st.booleans(), use_cases=purposes)
consents = st.builds(
    ConsentFacts, id=st.just("cns_x"), revision=st.integers(1, 5),
    status=st.sampled_from(["active", "active", "active", "revoked", "expired", "erased", "not_yet_valid"]),
    partners=st.one_of(st.just("any_vetted"),
                       st.lists(st.sampled_from([*NAMES, "ACME", "ptn_a", "PTN_B"]), max_size=3)),
    purposes=st.one_of(st.just("any"), purposes), prohibited_purposes=purposes,
    valid_from=offsets, valid_until=st.one_of(st.none(), offsets))
identities = st.one_of(st.none(), st.builds(IdentityFacts, similarity=micro, threshold=micro,
                                            margin=st.one_of(st.none(), micro.map(abs)),
                                            required_margin=micro.map(abs)))
quotas = st.one_of(st.none(), st.builds(QuotaFacts, used=st.integers(0, 20), limit=st.integers(0, 20)))
requests = st.builds(PolicyRequest, action=st.sampled_from(["generate", "check-consent"]), partner=partners,
                     consent=consents, purpose=st.sampled_from(PURPOSES),
                     now=st.integers(-3_000, 3_000).map(lambda us: NOW + timedelta(microseconds=us)),
                     identity=identities, quota=quotas)


@settings(max_examples=600, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(requests)
def test_decide_agrees_with_the_rules_written_out(req):
    decision = decide(req, policies=POLICIES)
    forbids = expected_forbids(req)
    assert decision.policy_version == POLICIES.version
    if forbids:
        assert not decision.allowed
        assert set(decision.reason_ids) == forbids
    else:
        permit = "generate-with-consent" if req.action == "generate" else "check-consent"
        assert decision.allowed
        assert decision.reason_ids == (permit,)
