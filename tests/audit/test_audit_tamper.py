"""Changes made directly in the database, around the triggers: verify names the first bad entry and why.

The attacker here holds the database (drops or disables the triggers) but not the audit signing
key. A truncated tail is the one change that leaves a shorter, self-consistent log: only a
checkpoint published before the cut (stored, or kept by a reviewer) reveals it.
"""

from __future__ import annotations

import json

import pytest
from audit_factories import fill, tamper
from sqlalchemy import text

from audit import AuditIntegrityError, AuditKey, AuditLog
from audit._merkle import CompactRange, leaf_hash

SIZE = 20


@pytest.fixture
def filled(log):
    fill(log, SIZE)
    assert log.verify().ok
    return log


def body_of(engine, index: int) -> dict:
    with engine.connect() as conn:
        return json.loads(conn.execute(text("SELECT body FROM audit_entries WHERE leaf_index = :i"), {"i": index})
                          .scalar_one())


def canonical(body: dict) -> str:
    return json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def rehash(engine, index: int, body: dict, *, root: bool) -> None:
    """Rewrite entry ``index`` with ``body`` and recompute its leaf, subtree and (if ``root``) tree root."""
    with engine.connect() as conn:
        bodies = [r[0] for r in conn.execute(text("SELECT body FROM audit_entries WHERE leaf_index <= :i "
                                                  "ORDER BY leaf_index"), {"i": index})]
    bodies[index] = canonical(body)
    tree = CompactRange()
    subtree = b""
    for b in bodies:
        subtree = tree.append(leaf_hash(b.encode()))
    sets = "body = :body, leaf_hash = :leaf, subtree_hash = :subtree" + (", root_hash = :root" if root else "")
    assert tamper(engine, f"UPDATE audit_entries SET {sets} WHERE leaf_index = :i", body=bodies[index],
                  leaf=leaf_hash(bodies[index].encode()).hex(), subtree=subtree.hex(), root=tree.root().hex(),
                  i=index) == 1


def expect(log, index: int, reason: str) -> None:
    report = log.verify()
    assert not report.ok
    assert report.first_bad_index == index, report.reason
    assert reason in report.reason
    assert report.tree_size == index  # everything before it is intact
    line = report.summary()
    assert "\n" not in line and f"first bad entry {index}:" in line


def test_a_modified_body_is_named(engine, filled):
    body = body_of(engine, 9)
    body["data"]["decision"] = "allow" if body["data"]["decision"] == "deny" else "deny"
    assert tamper(engine, "UPDATE audit_entries SET body = :body WHERE leaf_index = 9", body=canonical(body)) == 1
    expect(filled, 9, "its body does not match its leaf hash: it was modified after it was logged")


def test_a_modified_body_with_its_leaf_hash_recomputed_is_named(engine, filled):
    body = body_of(engine, 6)
    body["actor"] = "operator:nobody"
    new_body = canonical(body)
    assert tamper(engine, "UPDATE audit_entries SET body = :body, leaf_hash = :leaf, actor = :actor "
                          "WHERE leaf_index = 6", body=new_body, leaf=leaf_hash(new_body.encode()).hex(),
                  actor="operator:nobody") == 1
    expect(filled, 6, "its stored subtree hash is not the hash of the entries it covers")


@pytest.mark.parametrize("index", [0, 7, 12, SIZE - 1])
def test_a_modified_entry_with_every_hash_recomputed_fails_its_signature(engine, filled, index):
    body = body_of(engine, index)
    body["data"]["inserted"] = "by the attacker"
    rehash(engine, index, body, root=True)
    expect(filled, index, "its tree head's signature does not verify (forged or altered)")


def test_a_modified_entry_with_its_old_root_kept_is_named(engine, filled):
    body = body_of(engine, 11)
    body["data"]["note"] = "changed"
    rehash(engine, 11, body, root=False)
    expect(filled, 11, "its tree head's root is not the root of the entries up to it")


def test_a_changed_search_column_is_named(engine, filled):
    assert tamper(engine, "UPDATE audit_entries SET partner = 'someone-else' WHERE leaf_index = 3") == 1
    expect(filled, 3, "its partner column says 'someone-else' but its signed body says 'p3'")


def test_a_deleted_entry_is_named(engine, filled):
    assert tamper(engine, "DELETE FROM audit_entries WHERE leaf_index = 8") == 1
    expect(filled, 8, "entry 8 is missing: the next stored entry is 9")


def test_a_deleted_entry_with_the_rest_renumbered_is_named(engine, filled):
    # Renumber downwards one row at a time (PostgreSQL checks the primary key per row).
    sql = "DELETE FROM audit_entries WHERE leaf_index = 8;" + ";".join(
        f"UPDATE audit_entries SET leaf_index = {i - 1} WHERE leaf_index = {i}" for i in range(9, SIZE))
    assert tamper(engine, sql) == SIZE - 8
    expect(filled, 8, "its signed body says it is entry 9: entries were moved or reordered")


def test_two_swapped_entries_are_named(engine, filled):
    sql = ("UPDATE audit_entries SET leaf_index = -1 WHERE leaf_index = 5;"
           "UPDATE audit_entries SET leaf_index = 5 WHERE leaf_index = 14;"
           "UPDATE audit_entries SET leaf_index = 14 WHERE leaf_index = -1")
    assert tamper(engine, sql) == 3
    expect(filled, 5, "its signed body says it is entry 14: entries were moved or reordered")


def test_two_swapped_bodies_are_named(engine, filled):
    sql = ("UPDATE audit_entries SET body = (SELECT body FROM audit_entries WHERE leaf_index = 13), "
           "leaf_hash = (SELECT leaf_hash FROM audit_entries WHERE leaf_index = 13) WHERE leaf_index = 4")
    with engine.connect() as conn:
        original = conn.execute(text("SELECT body, leaf_hash FROM audit_entries WHERE leaf_index = 4")).one()
    assert tamper(engine, sql) == 1
    assert tamper(engine, "UPDATE audit_entries SET body = :b, leaf_hash = :l WHERE leaf_index = 13",
                  b=original[0], l=original[1]) == 1
    expect(filled, 4, "its signed body says it is entry 13")


def test_an_unreadable_body_is_named_and_reading_it_fails_cleanly(engine, filled):
    assert tamper(engine, "UPDATE audit_entries SET body = '{not json' WHERE leaf_index = 2") == 1
    expect(filled, 2, "its body is not JSON")
    with pytest.raises(AuditIntegrityError, match="audit entry 2 does not hold a readable body"):
        filled.get(2)


def test_a_forged_signature_is_named(engine, filled):
    assert tamper(engine, "UPDATE audit_entries SET signature = :sig WHERE leaf_index = 15", sig=b"\x01" * 64) == 1
    expect(filled, 15, "its tree head's signature does not verify")


def test_an_entry_appended_by_someone_without_the_key_is_named(engine, filled, audit_key):
    forger = AuditLog(engine, signing_key=AuditKey.generate())
    forger.append("admin.action", actor="operator:intruder", data={"action": "cover tracks"})
    expect(AuditLog(engine, signing_key=audit_key), SIZE, "which is not a known audit key")


def test_a_truncated_tail_needs_a_published_checkpoint(engine, filled, audit_key):
    published = filled.checkpoint()  # stored in audit_checkpoints, and kept by a reviewer
    assert tamper(engine, f"DELETE FROM audit_entries WHERE leaf_index >= {SIZE - 4}") == 4
    expect(filled, SIZE - 4, f"covers {SIZE}: entries {SIZE - 4}–{SIZE - 1} were deleted (tail truncated)")
    for write in (lambda: filled.append("admin.action", actor="ops"), filled.checkpoint):  # fails closed
        with pytest.raises(AuditIntegrityError, match=f"holds {SIZE - 4} entries but a checkpoint covers {SIZE}"):
            write()

    assert tamper(engine, "DELETE FROM audit_checkpoints") == 1  # the attacker removes the stored evidence too
    alone = filled.verify()
    assert alone.ok and alone.entries == SIZE - 4  # a shorter log that adds up: undetectable from inside
    report = filled.verify(checkpoints=[published])  # the reviewer's copy of the checkpoint catches it
    assert not report.ok and report.first_bad_index == SIZE - 4 and "tail truncated" in report.reason


def test_a_rewritten_checkpoint_is_reported(engine, filled):
    filled.checkpoint()
    assert tamper(engine, "UPDATE audit_checkpoints SET tree_size = 3") == 1
    report = filled.verify()
    assert not report.ok and report.first_bad_index is None
    assert "the checkpoint for size 3 signed at" in report.reason and "signature that does not verify" in report.reason
