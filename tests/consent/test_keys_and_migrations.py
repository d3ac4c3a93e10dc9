"""The consent keys on disk (0600 from the first byte) and the migration from an empty database."""

from __future__ import annotations

import os
import stat

import pytest
from alembic import command
from sqlalchemy import inspect, text

from consent import ConsentKeyError, ConsentKeys, init_consent_keys
from likeness.db import alembic_config, upgrade

TABLES = {"consent_subjects", "consent_data_keys", "consents", "consent_revisions", "consent_reference_embeddings",
          "consent_evidence", "consent_generations"}


def test_keys_are_private_from_the_first_byte(tmp_path, monkeypatch):
    modes = []
    real_open = os.open

    def spy(path, flags, mode=0o777, *args, **kwargs):  # record the mode each key file is created with
        if flags & os.O_CREAT:
            modes.append(mode)
        return real_open(path, flags, mode, *args, **kwargs)

    monkeypatch.setattr(os, "open", spy)
    keys_dir = tmp_path / "var" / "keys"
    paths = init_consent_keys(keys_dir)
    monkeypatch.undo()
    assert modes == [0o600, 0o600]
    assert stat.S_IMODE(keys_dir.stat().st_mode) == 0o700
    for path in (paths.signing_key, paths.master_key):
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert paths.signing_key.read_bytes().startswith(b"-----BEGIN PRIVATE KEY-----")
    assert len(paths.master_key.read_bytes()) == 32
    before = {p.name: p.read_bytes() for p in keys_dir.iterdir()}
    init_consent_keys(keys_dir)
    assert {p.name: p.read_bytes() for p in keys_dir.iterdir()} == before  # never replaced
    assert sorted(before) == ["consent-master.key", "consent-signing.key"]  # no temporary file left behind


def test_keys_others_can_read_are_refused(keys_paths):
    keys_paths.master_key.chmod(0o640)
    with pytest.raises(ConsentKeyError, match=rf"readable by others \(mode 0\d+\): chmod 600 {keys_paths.master_key}"):
        ConsentKeys.from_files(signing_key_file=keys_paths.signing_key, master_key_file=keys_paths.master_key)


def test_missing_or_malformed_keys_say_what_to_do(keys_paths, tmp_path):
    with pytest.raises(ConsentKeyError, match="run `likeness keys init` or set LIKENESS_CONSENT_MASTER_KEY_FILE"):
        ConsentKeys.from_files(signing_key_file=keys_paths.signing_key, master_key_file=tmp_path / "absent.key")
    short = tmp_path / "short.key"
    short.write_bytes(b"x" * 16)
    short.chmod(0o600)
    with pytest.raises(ConsentKeyError, match="holds 16 bytes; it must hold 32"):
        ConsentKeys.from_files(signing_key_file=keys_paths.signing_key, master_key_file=short)
    with pytest.raises(ConsentKeyError, match="is not an unencrypted PEM private key"):
        ConsentKeys.from_files(signing_key_file=keys_paths.master_key, master_key_file=keys_paths.master_key)


def test_the_key_ids_name_the_keys_without_revealing_them(consent_keys):
    assert len(consent_keys.signing_key_id) == 16 and len(consent_keys.master_key_id) == 16
    assert consent_keys.master_key_id not in consent_keys.master_key.hex()
    assert repr(consent_keys) == (f"ConsentKeys(signing_key_id={consent_keys.signing_key_id!r}, "
                                  f"master_key_id={consent_keys.master_key_id!r})")


def test_the_migration_applies_from_empty_and_back(engine, migrations):
    config = alembic_config(engine, script_location=migrations)
    command.downgrade(config, "base")
    assert set(inspect(engine).get_table_names()) <= {"alembic_version"}
    upgrade(engine, script_location=migrations, revision="0001")
    assert not TABLES & set(inspect(engine).get_table_names())
    upgrade(engine, script_location=migrations, revision="0002")
    inspector = inspect(engine)
    assert TABLES <= set(inspector.get_table_names())
    assert {c["name"] for c in inspector.get_columns("consent_reference_embeddings")} == {
        "id", "subject_id", "model_version", "dim", "ciphertext", "created_at"}
    assert inspector.get_pk_constraint("consent_revisions")["constrained_columns"] == ["consent_id", "revision"]
    with engine.connect() as conn:
        assert conn.execute(text("SELECT version_num FROM alembic_version")).scalar() == "0002"
        if engine.dialect.name == "sqlite":
            triggers = set(conn.execute(text("SELECT name FROM sqlite_master WHERE type = 'trigger'")).scalars())
        else:
            triggers = set(conn.execute(text(
                "SELECT tgname FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid "
                "WHERE NOT t.tgisinternal AND c.relnamespace = current_schema()::regnamespace")).scalars())
    assert len(triggers) == (8 if engine.dialect.name == "sqlite" else 7)
    command.downgrade(config, "0001")
    assert not TABLES & set(inspect(engine).get_table_names())
    upgrade(engine, script_location=migrations)  # and up again: the downgrade left nothing behind (functions, triggers)
