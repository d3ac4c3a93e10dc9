"""`likeness audit …` as an operator and a reviewer run it: exit 0 intact, 1 naming the first bad entry."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from audit_factories import fill, tamper

from audit import AuditKey, AuditLog, init_audit_key

LIKENESS = str(Path(sys.executable).parent / "likeness")


@pytest.fixture
def cli(engine, tmp_path):
    """Run `likeness` against the test database, with the audit key under the data dir; and the log."""
    data_dir = tmp_path / "cli-var"
    key = AuditKey.from_file(init_audit_key(data_dir / "keys" / "audit-signing.key"))
    env = {**os.environ, "LIKENESS_DATA_DIR": str(data_dir),
           "LIKENESS_DATABASE_URL": engine.url.render_as_string(hide_password=False)}

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([LIKENESS, "audit", *args], capture_output=True, text=True, env=env, timeout=120,
                              check=False)

    log = AuditLog(engine, signing_key=key)
    fill(log, 12)
    return run, log, key


def test_verify_list_show_checkpoint_on_an_intact_log(cli, tmp_path):
    run, log, key = cli
    done = run("verify")
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("audit log intact: 12 entries, root " + log.get(11).root_hash)

    listed = run("list", "--kind", "generation.decided", "--json")
    assert listed.returncode == 0, listed.stderr
    assert [e["index"] for e in json.loads(listed.stdout)] == [0, 3, 6, 9]
    lines = run("list", "--partner", "p1").stdout.splitlines()
    assert [line.split()[0] for line in lines] == ["9"] and "generation=gen_0009" in lines[0]

    cp = run("checkpoint")
    assert cp.returncode == 0, cp.stderr
    checkpoint = json.loads(cp.stdout)
    assert checkpoint["tree_size"] == 12 and checkpoint["key_id"] == key.key_id

    shown = run("show", "5", "--json")
    assert shown.returncode == 0, shown.stderr
    shown_obj = json.loads(shown.stdout)
    assert shown_obj["included"] and shown_obj["checkpoint_signature_ok"]
    assert shown_obj["checkpoint"] == checkpoint and shown_obj["entry"]["index"] == 5
    text_show = run("show", "5")
    assert "inclusion proof (4 hashes): verifies" in text_show.stdout and "signature ok" in text_show.stdout

    public = run("public-key").stdout.strip()
    assert public == key.public_key_text() and "PRIVATE" not in public


def test_verify_names_the_first_bad_entry_in_one_line(cli, engine):
    run, log, _ = cli
    body = json.loads(log.get(7).body)
    body["data"]["revision"] = 2
    tamper(engine, "UPDATE audit_entries SET body = :b WHERE leaf_index = 7",
           b=json.dumps(body, sort_keys=True, separators=(",", ":")))
    tamper(engine, "DELETE FROM audit_entries WHERE leaf_index = 10")
    done = run("verify")
    assert done.returncode == 1 and done.stdout == ""
    assert done.stderr == ("error: audit log damaged: first bad entry 7: its body does not match its leaf hash: "
                           "it was modified after it was logged\n")
    as_json = run("verify", "--json")
    assert as_json.returncode == 1 and as_json.stderr.startswith("error: audit log damaged: first bad entry 7:")
    report = json.loads(as_json.stdout)
    assert report["ok"] is False and report["first_bad_index"] == 7 and report["tree_size"] == 7


def test_a_reviewer_catches_truncation_with_a_checkpoint_and_verifies_an_export_offline(cli, engine, tmp_path):
    run, _, key = cli
    cp_file = tmp_path / "published.json"
    cp_file.write_text(run("checkpoint").stdout)
    export = tmp_path / "audit.jsonl"
    done = run("export", str(export))
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == str(export) and "--public-key " + key.public_key_text() in done.stderr
    again = run("export", str(export))
    assert again.returncode == 2 and again.stderr == f"error: {export} exists; give --force to replace it\n"

    offline = run("verify", "--file", str(export), "--public-key", key.public_key_text())
    assert offline.returncode == 0, offline.stdout + offline.stderr
    assert offline.stdout.startswith("audit log intact: 12 entries")
    stranger = run("verify", "--file", str(export), "--public-key", AuditKey.generate().public_key_text())
    assert stranger.returncode == 1 and "not a known audit key" in stranger.stderr
    no_key = run("verify", "--file", str(export))
    assert no_key.returncode == 2 and no_key.stderr.startswith("error: --file needs --public-key")

    tamper(engine, "DELETE FROM audit_entries WHERE leaf_index >= 9; DELETE FROM audit_checkpoints")
    assert run("verify").returncode == 0  # a shorter log that adds up: undetectable without a checkpoint
    caught = run("verify", "--checkpoint", str(cp_file))
    assert caught.returncode == 1
    assert caught.stderr.startswith("error: audit log damaged: first bad entry 9: the log ends after 9 entries")
    assert "entries 9–11 were deleted (tail truncated)" in caught.stderr


@pytest.mark.parametrize(("args", "message"), [
    (("show", "99"), "error: no audit entry 99"),
    (("list", "--kind", "nope"), "error: unknown audit entry kind 'nope'"),
    (("list", "--since", "yesterday"), "error: --since: 'yesterday' is not an ISO 8601 date or time"),
    (("verify", "--checkpoint", "missing.json"), "error: no such file: missing.json"),
    (("verify", "--public-key", "ed25519:zz"), "error: a public key reads ed25519:<key id>:<base64>"),
])
def test_bad_input_is_one_line_on_stderr(cli, args, message):
    run, _, _ = cli
    done = run(*args)
    assert done.returncode == 2
    assert done.stderr.startswith(message) and done.stderr.count("\n") == 1 and "Traceback" not in done.stderr


def test_a_missing_key_is_a_clear_error(cli, tmp_path):
    run, _, _ = cli
    (tmp_path / "cli-var" / "keys" / "audit-signing.key").unlink()
    done = run("checkpoint")
    assert done.returncode == 1
    assert done.stderr.startswith("error: audit signing key not found at ") and "likeness keys init" in done.stderr
    done = run("verify")
    assert done.returncode == 1 and done.stderr.startswith("error: no audit key to verify with: ")
    assert "--public-key" in done.stderr and done.stderr.count("\n") == 1
    assert run("list").returncode == 0  # searching needs no key
