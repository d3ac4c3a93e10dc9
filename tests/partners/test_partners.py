"""Partners and their API keys: shown once, stored hashed, identified by prefix, scoped, rotated, revoked."""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from partner_factories import database_files, stored_text
from sqlalchemy import inspect
from sqlmodel import SQLModel

import partners.models  # noqa: F401  (the tables compared with the migration)
import partners.service as partners_module
from generations.gate import partner_facts
from likeness.db import alembic_config, make_engine, upgrade
from partners import (
    SCOPES,
    AuthenticationError,
    ExpiredKeyError,
    PartnerExistsError,
    PartnerInputError,
    PartnerService,
    PartnerSuspendedError,
    RevokedKeyError,
    ScopeError,
    UnknownKeyError,
    UnknownPartnerError,
    hash_api_key,
    key_prefix,
)
from policy import PartnerFacts

LIKENESS = str(Path(sys.executable).parent / "likeness")
MY_TABLES = {"partners", "api_keys", "admin_tokens", "admin_sessions"}


def test_a_key_is_shown_once_and_only_its_hash_is_stored(engine, service):
    partner, issued = service.add("Acme", use_cases=["education", "Dubbing"], quota=50, rate_per_minute=10)
    key = issued.plaintext
    assert partner.name == "acme" and partner.use_cases == ["dubbing", "education"]
    assert partner.quota == 50 and partner.rate_per_minute == 10 and partner.quota_period == timedelta(days=30)
    assert key.startswith(issued.prefix + "_") and len(key) == len("lk_live_") + 10 + 1 + 43
    secret = key.rsplit("_", 1)[1]
    stored = stored_text(engine)
    assert hash_api_key(key) in stored
    assert key not in stored and secret not in stored and secret[:16] not in stored
    for path in database_files(engine):
        raw = path.read_bytes()
        assert secret.encode() not in raw and secret[:16].encode() not in raw
    again = service.get("acme")
    assert "plaintext" not in again.model_dump_json() and secret not in again.model_dump_json()
    assert secret not in repr(issued) and "<hidden>" in repr(issued)


def test_the_prefix_identifies_the_key_without_the_secret(service):
    partner, issued = service.add("acme", use_cases=["education"])
    assert key_prefix(issued.plaintext) == issued.prefix
    assert [k.prefix for k in service.get(partner.id).keys] == [issued.prefix]
    assert service.get(partner.id).keys[0].id == issued.key_id
    for bad in ("", "lk_live_short", issued.plaintext + "x", issued.plaintext.replace("lk_live_", "lka_"), None, 42):
        assert key_prefix(bad) is None


def test_authenticate_returns_the_partner_key_and_scopes(service, clock):
    partner, issued = service.add("acme", use_cases=["education"])
    who = service.authenticate(issued.plaintext)
    assert who.partner.id == partner.id and who.key_id == issued.key_id and who.key_prefix == issued.prefix
    assert who.scopes == frozenset(SCOPES)
    assert who.partner.keys == []  # no key listing rides along on every request
    assert partner_facts(who.partner) == PartnerFacts(id=partner.id, name="acme", active=True,
                                                      use_cases=["education"])
    assert service.get("acme").keys[0].last_used_at == clock.now


@pytest.mark.parametrize("presented", [
    "", "Bearer x", "lk_live_", None, b"bytes", "lk_live_AAAAAAAAAA_" + "a" * 43, "lka_AAAAAAAAAA_" + "a" * 43])
def test_unknown_or_malformed_keys_are_refused_with_401(service, presented):
    service.add("acme", use_cases=["education"])
    with pytest.raises(UnknownKeyError) as caught:
        service.authenticate(presented)
    assert caught.value.http_status == 401 and isinstance(caught.value, AuthenticationError)


def test_a_known_prefix_with_a_wrong_secret_is_unknown(service):
    _, issued = service.add("acme", use_cases=["education"])
    forged = issued.prefix + "_" + "b" * 43
    with pytest.raises(UnknownKeyError, match="unknown API key"):
        service.authenticate(forged)


def test_compare_digest_decides_for_known_and_unknown_prefixes(service, monkeypatch):
    _, issued = service.add("acme", use_cases=["education"])
    calls = []
    real = partners_module.hmac.compare_digest

    def spy(a, b):
        calls.append((a, b))
        return real(a, b)

    monkeypatch.setattr(partners_module.hmac, "compare_digest", spy)
    service.authenticate(issued.plaintext)
    with pytest.raises(UnknownKeyError):
        service.authenticate("lk_live_ZZZZZZZZZZ_" + "c" * 43)  # unknown prefix: compared against a decoy
    with pytest.raises(UnknownKeyError):
        service.authenticate("not a key")
    assert len(calls) == 3
    assert all(len(a) == len(b) == 64 for a, b in calls)


def test_a_revoked_key_is_refused_and_says_so_only_to_its_holder(service):
    _, issued = service.add("acme", use_cases=["education"])
    revoked = service.revoke_key(issued.key_id)
    assert revoked.revoked_at is not None
    with pytest.raises(RevokedKeyError, match=f"{issued.prefix} was revoked") as caught:
        service.authenticate(issued.plaintext)
    assert caught.value.http_status == 401
    assert issued.plaintext.rsplit("_", 1)[1] not in str(caught.value)
    with pytest.raises(UnknownKeyError):  # the prefix alone learns nothing
        service.authenticate(issued.prefix + "_" + "d" * 43)
    with pytest.raises(UnknownPartnerError):
        service.revoke_key("key_nothere")


def test_a_suspended_partner_gets_403_until_reinstated(service):
    _, issued = service.add("acme", use_cases=["education"])
    suspended = service.suspend("acme", reason="  misuse   reported ")
    assert suspended.status == "suspended" and suspended.suspended_reason == "misuse reported"
    with pytest.raises(PartnerSuspendedError, match="misuse reported") as caught:
        service.authenticate(issued.plaintext)
    assert caught.value.http_status == 403
    assert partner_facts(service.get("acme")).active is False
    service.reinstate("acme")
    assert service.authenticate(issued.plaintext).partner.status == "active"
    with pytest.raises(PartnerInputError):
        service.suspend("acme", reason="   ")


def test_rotation_revokes_the_old_key_now_or_after_the_grace(service, clock):
    partner, first = service.add("acme", use_cases=["education"], scopes=["generations:read"])
    second = service.rotate_key("acme")
    assert second.revoked_key_ids == (first.key_id,) and second.partner_id == partner.id
    with pytest.raises(RevokedKeyError):
        service.authenticate(first.plaintext)
    assert service.authenticate(second.plaintext).scopes == {"generations:read"}  # scopes carried over
    third = service.rotate_key(partner.id, grace=timedelta(hours=1))
    assert third.revoked_key_ids == (second.key_id,)
    assert service.authenticate(second.plaintext).key_id == second.key_id  # still in its grace period
    clock.advance(minutes=59)
    service.authenticate(second.plaintext)
    clock.advance(minutes=1)
    with pytest.raises(RevokedKeyError):
        service.authenticate(second.plaintext)
    assert service.authenticate(third.plaintext).key_id == third.key_id
    keys = {k.id: k for k in service.get("acme").keys}
    assert len(keys) == 3 and keys[third.key_id].revoked_at is None


def test_an_expired_key_is_refused(service, clock):
    _, issued = service.add("acme", use_cases=["education"], key_expires_at=clock.now + timedelta(days=1))
    service.authenticate(issued.plaintext)
    clock.advance(days=1)
    with pytest.raises(ExpiredKeyError, match="expired at"):
        service.authenticate(issued.plaintext)
    with pytest.raises(PartnerInputError, match="future"):
        service.add("globex", use_cases=["education"], key_expires_at=clock.now)


def test_scopes_limit_what_a_key_may_do(service):
    _, issued = service.add("acme", use_cases=["education"], scopes=["consents:check"])
    who = service.authenticate(issued.plaintext)
    who.require("consents:check")
    assert not who.has("generations:write")
    with pytest.raises(ScopeError, match="lacks the scope generations:write") as caught:
        who.require("generations:write")
    assert caught.value.http_status == 403
    with pytest.raises(PartnerInputError, match="unknown scope"):
        service.add("globex", use_cases=["education"], scopes=["admin"])


def test_admin_tokens_and_partner_keys_never_stand_in_for_each_other(engine, service):
    _, key = service.add("acme", use_cases=["education"])
    admin = service.add_admin("Ada (trust & safety)")
    assert admin.plaintext.startswith("lka_") and admin.partner_id is None
    assert service.authenticate_admin(admin.plaintext).name == "Ada (trust & safety)"
    with pytest.raises(UnknownKeyError):
        service.authenticate_admin(key.plaintext)
    with pytest.raises(UnknownKeyError):
        service.authenticate(admin.plaintext)
    assert admin.plaintext.rsplit("_", 1)[1] not in stored_text(engine)
    service.revoke_admin(admin.key_id)
    with pytest.raises(RevokedKeyError):
        service.authenticate_admin(admin.plaintext)
    assert [a.id for a in service.list_admins()] == [admin.key_id]


def test_precise_refusals_for_bad_registrations(service):
    service.add("acme", use_cases=["education"])
    with pytest.raises(PartnerExistsError) as caught:
        service.add("ACME", use_cases=["education"])
    assert caught.value.http_status == 409
    for name in ("", "any_vetted", "has space", "x" * 101, "-dash"):
        with pytest.raises(PartnerInputError):
            service.add(name, use_cases=["education"])
    for cases in ([], ["any"], ["Bad Case"]):
        with pytest.raises(PartnerInputError):
            service.add("globex", use_cases=cases)
    with pytest.raises(PartnerInputError):
        service.add("globex", use_cases=["education"], quota=-1)
    with pytest.raises(PartnerInputError):
        service.add("globex", use_cases=["education"], rate_per_minute=0)
    with pytest.raises(UnknownPartnerError) as missing:
        service.get("globex")
    assert missing.value.http_status == 404
    assert [p.name for p in service.list()] == ["acme"]


def test_limits_can_change(service):
    service.add("acme", use_cases=["education"])
    changed = service.set_limits("acme", quota=5, rate_per_minute=2, quota_period_days=7, use_cases=["dubbing"])
    assert (changed.quota, changed.rate_per_minute, changed.quota_period_days, changed.use_cases) == (
        5, 2, 7, ["dubbing"])


def test_last_used_is_written_at_most_once_a_minute(service, clock):
    _, issued = service.add("acme", use_cases=["education"])
    first = clock.now
    service.authenticate(issued.plaintext)
    clock.advance(seconds=30)
    service.authenticate(issued.plaintext)
    assert service.get("acme").keys[0].last_used_at == first
    clock.advance(seconds=30)
    service.authenticate(issued.plaintext)
    assert service.get("acme").keys[0].last_used_at == clock.now


def test_no_key_reaches_the_logs(service, caplog):
    caplog.set_level(logging.DEBUG)
    _, issued = service.add("acme", use_cases=["education"])
    service.authenticate(issued.plaintext)
    rotated = service.rotate_key("acme")
    admin = service.add_admin("ada")
    with pytest.raises(RevokedKeyError) as caught:
        service.authenticate(issued.plaintext)
    logged = caplog.text + repr(caught.value) + repr(service) + repr(rotated) + repr(admin)
    assert issued.prefix in caplog.text  # the prefix is what logs name
    for secret in (issued.plaintext, rotated.plaintext, admin.plaintext):
        assert secret.rsplit("_", 1)[1] not in logged


def test_the_migration_matches_the_models_and_goes_down_and_up(tmp_path, migrations):
    from alembic import command

    engine = make_engine(f"sqlite:///{tmp_path / 'm.db'}")
    upgrade(engine, script_location=migrations)
    with engine.connect() as conn:
        diffs = compare_metadata(MigrationContext.configure(conn), SQLModel.metadata)
    mine = [d for d in diffs if any(t in repr(d) for t in MY_TABLES)]
    assert mine == []
    assert MY_TABLES <= set(inspect(engine).get_table_names())
    command.downgrade(alembic_config(engine, script_location=migrations), "0003")
    assert not MY_TABLES & set(inspect(engine).get_table_names())
    upgrade(engine, script_location=migrations)
    service = PartnerService(engine)
    _, issued = service.add("acme", use_cases=["education"])
    assert service.authenticate(issued.plaintext).partner.name == "acme"


# --- the CLI, as an operator runs it --------------------------------------------------------

def _cli(data_dir: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "LIKENESS_DATA_DIR": str(data_dir)}
    env.pop("LIKENESS_DATABASE_URL", None)
    return subprocess.run([LIKENESS, "-v", "-v", *args], capture_output=True, text=True, env=env, timeout=120,
                          check=False)


def test_the_cli_prints_keys_once_on_stdout_and_nothing_secret_elsewhere(tmp_path):
    data_dir = tmp_path / "var"
    assert _cli(data_dir, "keys", "init").returncode == 0
    added = _cli(data_dir, "partners", "add", "Acme", "--use-case", "education", "--use-case", "dubbing",
                 "--quota", "20", "--rate", "5")
    assert added.returncode == 0, added.stderr
    key = added.stdout.strip()
    assert added.stdout == key + "\n" and key.startswith("lk_live_")
    secret = key.rsplit("_", 1)[1]
    assert secret not in added.stderr and "shown only this once" in added.stderr

    listed = _cli(data_dir, "partners", "list", "--json")
    assert listed.returncode == 0, listed.stderr
    [acme] = json.loads(listed.stdout)
    assert (acme["name"], acme["quota"], acme["rate_per_minute"], acme["use_cases"]) == (
        "acme", 20, 5, ["dubbing", "education"])
    assert acme["keys"][0]["prefix"] == key_prefix(key)
    assert secret not in listed.stdout + listed.stderr and hash_api_key(key) not in listed.stdout

    service = PartnerService(make_engine(f"sqlite:///{(data_dir / 'likeness.db').resolve()}"))
    assert service.authenticate(key).partner.name == "acme"

    rotated = _cli(data_dir, "partners", "rotate-key", "acme")
    assert rotated.returncode == 0, rotated.stderr
    new_key = rotated.stdout.strip()
    assert new_key != key and new_key.rsplit("_", 1)[1] not in rotated.stderr
    with pytest.raises(RevokedKeyError):
        service.authenticate(key)

    suspended = _cli(data_dir, "partners", "suspend", "acme", "--reason", "misuse reported")
    assert suspended.returncode == 0 and suspended.stdout == ""
    with pytest.raises(PartnerSuspendedError):
        service.authenticate(new_key)
    assert _cli(data_dir, "partners", "reinstate", "acme").returncode == 0
    assert service.authenticate(new_key).partner.active

    revoked = _cli(data_dir, "partners", "revoke-key", key_prefix(new_key))
    assert revoked.returncode == 0, revoked.stderr
    with pytest.raises(RevokedKeyError):
        service.authenticate(new_key)

    admin = _cli(data_dir, "admin", "add", "ada")
    assert admin.returncode == 0 and admin.stdout.startswith("lka_")
    assert service.authenticate_admin(admin.stdout.strip()).name == "ada"

    for stored in database_files(service._engine):
        assert secret.encode() not in stored.read_bytes()

    # every operator action is in the audit log, with ids and never a key
    logged = _cli(data_dir, "audit", "list", "--json")
    assert logged.returncode == 0, logged.stderr
    kinds = [entry["kind"] for entry in json.loads(logged.stdout)]
    assert kinds == ["partner.created", "partner.key_rotated", "partner.suspended", "partner.reinstated",
                     "partner.key_revoked", "admin.action"]
    assert secret not in logged.stdout and new_key.rsplit("_", 1)[1] not in logged.stdout


def test_an_operator_action_that_cannot_be_logged_is_not_taken(tmp_path):
    data_dir = tmp_path / "var"
    refused = _cli(data_dir, "partners", "add", "acme", "--use-case", "education")
    assert refused.returncode != 0 and "audit signing key not found" in refused.stderr
    assert refused.stdout == ""
    listed = _cli(data_dir, "partners", "list", "--json")
    assert json.loads(listed.stdout) == []


@pytest.mark.parametrize(("args", "message"), [
    (("partners", "add", "acme", "--use-case", "Bad Case"), "not a valid use case"),
    (("partners", "suspend", "nobody", "--reason", "x"), "no partner nobody"),
    (("partners", "revoke-key", "key_nothere"), "no API key key_nothere"),
])
def test_cli_errors_are_one_line_with_exit_2(tmp_path, args, message):
    assert _cli(tmp_path / "var", "keys", "init").returncode == 0
    done = _cli(tmp_path / "var", *args)
    assert done.returncode == 2
    last = done.stderr.strip().splitlines()[-1]
    assert last.startswith("error: ") and message in last
    assert "Traceback" not in done.stderr and done.stdout == ""
