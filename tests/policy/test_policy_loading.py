"""load_policies(): every file validated against the schema at start-up; a broken one is named; versions."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from policy_factories import request

from policy import DEFAULT_POLICY_DIR, PolicyError, decide, load_policies


@pytest.fixture
def shipped(tmp_path: Path) -> Path:
    folder = tmp_path / "policies"
    shutil.copytree(DEFAULT_POLICY_DIR, folder)
    return folder


def test_the_shipped_policies_load_with_stable_ids():
    policies = load_policies()
    assert set(policies.rules) == {
        "generate-with-consent", "check-consent", "partner-suspended", "purpose-not-declared-by-partner",
        "consent-not-active", "consent-partner-not-allowed", "purpose-not-in-consent", "purpose-prohibited-by-consent",
        "identity-not-verified", "identity-below-threshold", "identity-ambiguous", "quota-unknown", "quota-exhausted"}
    assert all(rule.reason for rule in policies.rules.values())
    assert policies.rule("consent-not-active").file == "consent.cedar"
    assert len(policies.version) == 16 and int(policies.version, 16) >= 0
    assert load_policies().version == policies.version  # same files, same version


def test_an_operator_directory_with_the_same_rules_has_the_same_version(shipped):
    assert load_policies(shipped).version == load_policies().version


def test_a_policy_that_does_not_match_the_schema_is_named(shipped):
    path = shipped / "consent.cedar"
    path.write_text(path.read_text().replace("resource.status != \"active\"", "resource.state != \"active\""))
    with pytest.raises(PolicyError) as caught:
        load_policies(shipped)
    message = str(caught.value)
    assert str(path) in message and "consent-not-active" in message and "`state`" in message
    assert "policy0" not in message  # Cedar's positional id is replaced by ours


def test_a_type_error_is_refused(shipped):
    (shipped / "extra.cedar").write_text(
        '@id("bad-types") @reason("compares a number with a string")\n'
        'forbid (principal, action, resource) when { resource.revision == "two" };\n')
    with pytest.raises(PolicyError, match=r"extra\.cedar.*bad-types"):
        load_policies(shipped)


def test_a_file_cedar_cannot_parse_is_named(shipped):
    (shipped / "zz-broken.cedar").write_text('@id("half") @reason("x")\nforbid (principal, action, resource) when {')
    with pytest.raises(PolicyError, match=r"zz-broken\.cedar: Cedar cannot parse it"):
        load_policies(shipped)


@pytest.mark.parametrize(("text", "complaint"), [
    ('@reason("no id")\nforbid (principal, action, resource) when { false };', "needs @id"),
    ('@id("no-reason")\nforbid (principal, action, resource) when { false };', "needs @reason"),
    ('@id("Bad Id") @reason("x")\nforbid (principal, action, resource) when { false };', "needs @id"),
    ('@id("default-deny") @reason("x")\nforbid (principal, action, resource) when { false };', "reserved"),
    ('@id("quota-exhausted") @reason("x")\nforbid (principal, action, resource) when { false };', "already used"),
    ("// nothing but a comment\n", "holds no policy"),
    ('@id("t") @reason("x")\npermit (principal == ?principal, action, resource);', "templates"),
])
def test_policies_without_stable_ids_and_reasons_are_refused(shipped, text, complaint):
    (shipped / "zz-extra.cedar").write_text(text)
    with pytest.raises(PolicyError, match=complaint):
        load_policies(shipped)


def test_missing_or_empty_directories_and_permitless_sets_are_refused(tmp_path):
    with pytest.raises(PolicyError, match="no policy directory"):
        load_policies(tmp_path / "absent")
    with pytest.raises(PolicyError, match="no policy files"):
        load_policies(tmp_path)
    (tmp_path / "f.cedar").write_text('@id("f") @reason("x")\nforbid (principal, action, resource) when { false };')
    with pytest.raises(PolicyError, match="no permit policy"):
        load_policies(tmp_path)


def test_the_version_follows_the_rules_not_the_layout(shipped):
    before = load_policies(shipped).version
    quota = shipped / "quota.cedar"
    text = quota.read_text()
    quota.write_text("// a reviewer's note\n\n" + text.replace("when { ", "when {\n    "))
    assert load_policies(shipped).version == before  # comments and layout are not rules
    quota.write_text(text.replace("quota.used >= context", "quota.used > context"))
    changed = load_policies(shipped)
    assert changed.version != before
    decision = decide(request(), policies=changed)
    assert decision.policy_version == changed.version
    quota.write_text(text.replace("for this period", "for this month"))
    assert load_policies(shipped).version not in (before, changed.version)  # the reason is part of the rule


def test_a_schema_error_is_named(monkeypatch, tmp_path):
    import policy.loader as loader

    bad = tmp_path / "schema.cedarschema"
    bad.write_text("namespace Likeness { entity Partner = { name: Strng }; }")
    monkeypatch.setattr(loader, "SCHEMA_FILE", bad)
    with pytest.raises(PolicyError, match=r"schema\.cedarschema: invalid Cedar schema: .*Strng"):
        load_policies()
