"""docs/audit.md stays true: its stand-alone reviewer script verifies a real export and catches a change;
the public surface is declared."""

from __future__ import annotations

import io
import json
import re
from pathlib import Path

from audit_factories import fill

import audit

DOC = Path(__file__).resolve().parents[2] / "docs" / "audit.md"


def reviewer():
    text = DOC.read_text(encoding="utf-8")
    code = re.search(r"<!-- reviewer-script -->\n```python\n(.*?)```", text, re.S).group(1)
    namespace: dict = {"__name__": "reviewer"}
    exec(compile(code, str(DOC), "exec"), namespace)  # the documented script, run as a reviewer would
    return namespace["review"]


def test_public_surface():
    assert sorted(audit.__all__) == sorted(set(audit.__all__))
    for name in audit.__all__:
        assert hasattr(audit, name), name
    assert not hasattr(audit, "AuditEntry")  # tables stay private
    assert audit.AuditIntegrityError.exit_code == 1 and audit.RawBiometricsError.http_status == 422


def test_the_documented_reviewer_script_verifies_an_export(log, audit_key, tmp_path):
    review = reviewer()
    fill(log, 23)
    log.checkpoint()
    fill(log, 4, start=23)
    stream = io.StringIO()
    head = log.export(stream)
    path = tmp_path / "audit.jsonl"
    path.write_text(stream.getvalue(), encoding="utf-8")
    assert review(str(path), audit_key.public_key_text()) == f"intact: 27 entries, root {head.root_hash}"

    records = [json.loads(line) for line in stream.getvalue().splitlines()]
    first = [r["type"] for r in records].index("entry")
    body = json.loads(records[first + 12]["body"])
    body["actor"] = "operator:nobody"
    records[first + 12]["body"] = json.dumps(body, sort_keys=True, separators=(",", ":"))
    path.write_text("".join(json.dumps(r) + "\n" for r in records), encoding="utf-8")
    assert review(str(path), audit_key.public_key_text()).startswith("entry 12:")

    del records[first + 12:]  # the tail cut and the changed entry with it: the checkpoints say so
    path.write_text("".join(json.dumps(r) + "\n" for r in records), encoding="utf-8")
    assert review(str(path), audit_key.public_key_text()) == (
        "checkpoint for size 23: the log does not reach it or differs")


def test_every_kind_is_documented():
    text = DOC.read_text(encoding="utf-8")
    for kind in audit.AuditKind:
        name = kind.value.partition(".")[2]
        assert f"`{kind.value}`" in text or f"`.{name}`" in text, kind
