"""The audit log's surface: append, search, checkpoints, proofs, export; what it refuses; its keys."""

from __future__ import annotations

import io
import json
import stat
from datetime import timedelta

import pytest
from audit_factories import START, Clock, fill
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from audit import (
    AuditInputError,
    AuditKey,
    AuditKeyError,
    AuditKind,
    AuditLog,
    AuditNotFoundError,
    RawBiometricsError,
    init_audit_key,
    public_key_from_text,
    verify_export,
)


def test_entries_are_contiguous_canonical_and_signed(log, audit_key):
    first = log.append(AuditKind.GENERATION_DECIDED, actor="partner:acme", partner="acme", consent_id="cns_1",
                       generation_id="gen_1", data={"reasons": ["allow-vetted"], "decision": "allow",
                                                    "match_score": 0.91, "when": START})
    second = log.append("consent.revoked", actor="subject", consent_id="cns_1", data={"revision": 2})
    assert (first.index, second.index) == (0, 1)
    assert first.body == ('{"actor":"partner:acme","consent_id":"cns_1","data":{"decision":"allow","match_score":0.91,'
                          '"reasons":["allow-vetted"],"when":"2026-11-25T09:30:00.123456Z"},"generation_id":"gen_1",'
                          '"index":0,"kind":"generation.decided","partner":"acme","time":"2026-11-25T09:30:00.124456Z",'
                          '"v":1}')
    assert log.get(1) == second and second.kind == "consent.revoked" and second.data == {"revision": 2}
    assert second.tree_head().verifies(audit_key.public_key_raw)
    assert not second.tree_head().verifies(AuditKey.generate().public_key_raw)
    assert log.size() == 2
    report = log.verify()
    assert report.ok and report.entries == 2 and report.first_bad_index is None and report.root_hash == second.root_hash


def test_an_empty_log_verifies_and_checkpoints(log, audit_key):
    assert log.verify().ok and log.verify().entries == 0
    head = log.checkpoint()
    assert head.tree_size == 0 and head.verifies(audit_key.public_key_raw)
    with pytest.raises(AuditNotFoundError, match="empty"):
        log.tree_head()


def test_search_filters_and_pages(log):
    fill(log, 30)
    decided = log.search(kind=AuditKind.GENERATION_DECIDED, limit=1000)
    assert [e.index for e in decided] == list(range(0, 30, 3))
    acme = log.search(partner="p1", limit=1000)
    assert acme and all(e.partner == "p1" for e in acme)
    assert [e.index for e in log.search(consent_id="cns_2", limit=1000)] == [
        n for n in range(30) if n % 3 != 2 and n % 5 == 2]
    assert [e.index for e in log.search(generation_id="gen_0009")] == [9]
    times = [e.created_at for e in log.search(limit=1000)]
    window = log.search(since=times[5], until=times[8])
    assert [e.index for e in window] == [5, 6, 7]
    assert [e.index for e in log.search(limit=4, offset=10)] == [10, 11, 12, 13]
    assert [e.index for e in log.search(limit=2, newest_first=True)] == [29, 28]
    with pytest.raises(AuditInputError, match=r"unknown audit entry kind 'generation\.nope'"):
        log.search(kind="generation.nope")
    with pytest.raises(AuditInputError, match="limit"):
        log.search(limit=0)


def test_checkpoints_and_consistency_between_them(log, audit_key):
    fill(log, 5)
    old = log.checkpoint()
    fill(log, 9, start=5)
    new = log.checkpoint()
    assert (old.tree_size, new.tree_size) == (5, 14)
    assert log.latest_checkpoint() == new and log.checkpoints() == [old, new]
    assert old.root_hash == log.get(4).root_hash and new.root_hash == log.get(13).root_hash
    proof = log.consistency_proof(old.tree_size, new_size=new.tree_size)
    assert proof.verifies() and (proof.old_root, proof.new_root) == (old.root_hash, new.root_hash)
    inclusion = log.inclusion_proof(3, tree_size=new.tree_size)
    assert inclusion.verifies(new.root_hash) and not inclusion.verifies(old.root_hash)
    assert log.verify().checkpoints_checked == 2
    with pytest.raises(AuditNotFoundError, match="has 14 entries, not 15"):
        log.inclusion_proof(3, tree_size=15)
    with pytest.raises(AuditNotFoundError, match="entry 14 is not in a tree of 14"):
        log.inclusion_proof(14)
    with pytest.raises(AuditNotFoundError, match="no audit entry 99"):
        log.get(99)


def test_the_database_refuses_to_rewrite_the_log(engine, log):
    fill(log, 3)
    log.checkpoint()
    for sql in ("UPDATE audit_entries SET actor = 'someone else' WHERE leaf_index = 1",
                "DELETE FROM audit_entries WHERE leaf_index = 2",
                "UPDATE audit_checkpoints SET tree_size = 1",
                "DELETE FROM audit_checkpoints"):
        with pytest.raises(DBAPIError, match="append-only"), engine.begin() as conn:
            conn.execute(text(sql))
    if engine.dialect.name == "postgresql":
        with pytest.raises(DBAPIError, match="append-only"), engine.begin() as conn:
            conn.execute(text("TRUNCATE audit_entries"))
    assert log.verify().ok and log.size() == 3


@pytest.mark.parametrize(("data", "message"), [
    ({"embedding": [0.1] * 4}, r"data\.embedding: raw biometrics never enter the audit log"),
    ({"match": {"face_embedding": "AAAA"}}, r"data\.match\.face_embedding: raw biometrics"),
    ({"landmarks": [[1, 2]] * 3}, r"data\.landmarks: raw biometrics"),
    ({"scores": list(range(17))}, r"data\.scores: a list of 17 numbers looks like raw biometrics"),
    ({"timeline": [[0.5] * 9, [0.5] * 9]}, r"data\.timeline: a list of 18 numbers"),
    ({"portrait": "iVBORw0KGgo" * 40}, r"data\.portrait: media content never enters the audit log"),
    ({"audio": [1, 2, 3]}, r"data\.audio: media content"),
    ({"blob": "x" * 5000}, r"data\.blob: a text of 5000 characters"),
    ({"raw": b"\x00\x01"}, r"data\.raw: raw bytes"),
])
def test_raw_biometrics_are_refused(log, data, message):
    with pytest.raises(RawBiometricsError, match=message):
        log.append(AuditKind.DETECTOR_RUN, actor="analyst", data=data)
    assert log.size() == 0  # nothing half-written


def test_a_pydantic_model_is_logged_as_its_json(log):
    from pydantic import BaseModel

    class Decision(BaseModel):
        decision: str
        reasons: list[str]
        embedding: list[float] | None = None

    entry = log.append(AuditKind.GENERATION_DECIDED, actor="system", data=Decision(decision="deny", reasons=["r1"]))
    assert entry.data == {"decision": "deny", "reasons": ["r1"], "embedding": None}
    with pytest.raises(RawBiometricsError, match=r"data\.embedding"):
        log.append(AuditKind.GENERATION_DECIDED, actor="system",
                   data=Decision(decision="deny", reasons=[], embedding=[0.5] * 128))


def test_hashes_and_scores_pass_the_guard(log):
    entry = log.append(AuditKind.CONSENT_CHECKED, actor="system", consent_id="cns_9", data={
        "embedding_sha256": "ab" * 32, "embedding_model": "dlib-resnet-v1", "landmarks_model": "mediapipe",
        "portrait_sha256": "cd" * 32, "face_match_score": 0.93, "image": "sha256:" + "ef" * 32,
        "scores": list(range(16)), "reasons": ["scope.ok"] * 30,
    })
    assert entry.data["scores"] == list(range(16)) and entry.data["face_match_score"] == 0.93


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"kind": "consent.maybe", "actor": "x"}, "unknown audit entry kind 'consent.maybe'; one of: generation.decided"),
    ({"kind": "admin.action", "actor": ""}, "actor must be a non-empty single-line text"),
    ({"kind": "admin.action", "actor": "a\nb"}, "actor must be a non-empty single-line text"),
    ({"kind": "admin.action", "actor": "ops", "partner": "p" * 101}, "partner must be"),
    ({"kind": "admin.action", "actor": "ops", "data": {"x": float("nan")}}, r"data\.x: nan is not a finite number"),
    ({"kind": "admin.action", "actor": "ops", "data": {"x": {1: 2}}}, r"data\.x: key 1 is not a string"),
    ({"kind": "admin.action", "actor": "ops", "data": {"x": object()}}, r"data\.x: a object is not a JSON value"),
    ({"kind": "admin.action", "actor": "ops", "data": ["not", "a", "mapping"]}, "must be a mapping"),
])
def test_bad_entries_are_refused_precisely(log, kwargs, message):
    kwargs = dict(kwargs)  # the parameters are shared by both databases
    kind = kwargs.pop("kind")
    with pytest.raises(AuditInputError, match=message):
        log.append(kind, **kwargs)
    assert log.size() == 0


def test_a_log_without_its_signing_key_verifies_but_cannot_write(engine, log, audit_key):
    fill(log, 4)
    reader = AuditLog(engine, public_keys=[audit_key.public_key_raw])
    assert reader.verify().ok and reader.key_id is None
    with pytest.raises(AuditKeyError, match="without its signing key"):
        reader.append(AuditKind.ADMIN_ACTION, actor="ops")
    with pytest.raises(AuditKeyError, match="no audit public key"):
        AuditLog(engine).verify()
    stranger = AuditLog(engine, public_keys=[AuditKey.generate().public_key_raw]).verify()
    assert not stranger.ok and stranger.first_bad_index == 0 and "not a known audit key" in stranger.reason


def test_a_retired_key_still_verifies_after_rotation(engine, log, audit_key):
    fill(log, 3)
    new_key = AuditKey.generate()
    rotated = AuditLog(engine, signing_key=new_key, public_keys=[audit_key.public_key_raw],
                       clock=Clock(START + timedelta(days=1)))
    fill(rotated, 3, start=3)
    assert rotated.verify().ok
    assert {rotated.get(i).key_id for i in range(6)} == {audit_key.key_id, new_key.key_id}
    only_new = AuditLog(engine, signing_key=new_key).verify()
    assert not only_new.ok and only_new.first_bad_index == 0


def test_export_verifies_offline_with_only_the_public_key(log, audit_key):
    fill(log, 12)
    log.checkpoint()
    stream = io.StringIO()
    head = log.export(stream)
    lines = stream.getvalue().splitlines()
    types = [json.loads(line)["type"] for line in lines]
    assert head.tree_size == 12 and types == ["header"] + ["checkpoint"] * 2 + ["entry"] * 12
    header = json.loads(lines[0])
    assert header["format"] == "likeness-audit-export/1"
    assert public_key_from_text(header["public_keys"][0]) == audit_key.public_key_raw
    assert json.loads(lines[2])["root_hash"] == head.root_hash
    report = verify_export(lines, public_keys=[audit_key.public_key_raw])
    assert report.ok and report.entries == 12 and report.checkpoints_checked == 2
    assert not verify_export(lines, public_keys=[AuditKey.generate().public_key_raw]).ok

    edited = [json.loads(line) for line in lines]
    body = json.loads(edited[3 + 7]["body"])
    body["data"]["decision"] = "allow" if body["data"].get("decision") != "allow" else "deny"
    edited[3 + 7]["body"] = json.dumps(body, sort_keys=True, separators=(",", ":"))
    bad = verify_export([json.dumps(r) for r in edited], public_keys=[audit_key.public_key_raw])
    assert not bad.ok and bad.first_bad_index == 7
    assert "does not match its leaf hash" in bad.reason

    cut = verify_export(lines[:-3], public_keys=[audit_key.public_key_raw])  # entries 9-11 dropped
    assert not cut.ok and cut.first_bad_index == 9 and "tail truncated" in cut.reason
    with pytest.raises(AuditInputError, match="a checkpoint after the entries"):
        verify_export([*lines, lines[1]], public_keys=[audit_key.public_key_raw])
    with pytest.raises(AuditInputError, match="line 2 of the export is not a valid record"):
        verify_export([lines[0], "{not json"], public_keys=[audit_key.public_key_raw])


def test_the_key_file_is_private_and_never_replaced(tmp_path):
    path = init_audit_key(tmp_path / "keys" / "audit-signing.key")
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    before = path.read_bytes()
    init_audit_key(path)
    assert path.read_bytes() == before
    key = AuditKey.from_file(path)
    assert "PRIVATE" not in repr(key) and before.decode().splitlines()[1][:20] not in repr(key)
    assert public_key_from_text(key.public_key_text()) == key.public_key_raw
    path.chmod(0o644)
    with pytest.raises(AuditKeyError, match=r"readable by others \(mode 0\d+\): chmod 600"):
        AuditKey.from_file(path)
    with pytest.raises(AuditKeyError, match=r"not found at .*likeness keys init"):
        AuditKey.from_file(tmp_path / "missing.key")
    junk = tmp_path / "junk.key"
    junk.write_bytes(b"not a key")
    junk.chmod(0o600)
    with pytest.raises(AuditKeyError, match="not an unencrypted PEM private key"):
        AuditKey.from_file(junk)
    with pytest.raises(AuditInputError, match="the public key's id says"):
        public_key_from_text("ed25519:0000000000000000:" + key.public_key_text().split(":")[2])
