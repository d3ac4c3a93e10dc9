"""Audit log speed: appends per second (one thread; and four threads contending), verify and proof speed.

    .venv/bin/python bench/audit_speed.py [--entries 5000] [--postgres URL]

Real SQLite file (WAL, synchronous=NORMAL, as ``gateway.db.make_engine`` sets it) under a temp
folder, and PostgreSQL when ``--postgres`` (or LIKENESS_TEST_POSTGRES_URL) names one (a fresh
schema, dropped afterwards). Each append is its own transaction: take the append lock, read
O(log n) stored hashes, sign the new tree head (Ed25519), insert, commit. Verify recomputes every
leaf and root from the bodies and checks every signature. Prints a Markdown table.
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from sqlalchemy import text

from audit import AuditKey, AuditKind, AuditLog
from gateway.db import make_engine, upgrade


def decision(n: int) -> dict:
    return {"decision": "allow" if n % 5 else "deny", "reasons": ["policy.vetted_partner", "consent.in_scope"],
            "policy_version": "2026.11.1", "key_id": "k_0123456789ab", "consent_revision": 2,
            "input_hashes": {"portrait_sha256": f"{n:064x}", "audio_sha256": f"{n * 7:064x}"},
            "match_score": 0.87, "output_sha256": f"{n * 3:064x}", "watermark_id": f"{n:016x}"}


def measure(engine, entries: int) -> dict[str, float]:
    key = AuditKey.generate()
    log = AuditLog(engine, signing_key=key)
    start = time.perf_counter()
    for n in range(entries):
        log.append(AuditKind.GENERATION_DECIDED, actor="partner:acme", partner="acme", consent_id=f"cns_{n % 50}",
                   generation_id=f"gen_{n:08d}", data=decision(n))
    single = entries / (time.perf_counter() - start)

    threads, per = 4, max(entries // 8, 1)

    def work() -> None:
        for n in range(per):
            log.append(AuditKind.ADMIN_ACTION, actor="operator:bench", data={"n": n})

    start = time.perf_counter()
    pool = [threading.Thread(target=work) for _ in range(threads)]
    for t in pool:
        t.start()
    for t in pool:
        t.join()
    contended = threads * per / (time.perf_counter() - start)

    total = entries + threads * per
    start = time.perf_counter()
    report = AuditLog(engine, public_keys=[key.public_key_raw]).verify()
    verify_rate = total / (time.perf_counter() - start)
    if not (report.ok and report.entries == total):
        raise SystemExit(f"verify failed: {report}")

    start = time.perf_counter()
    rounds = 200
    for i in range(rounds):
        proof = log.inclusion_proof((i * 7919) % total, tree_size=total)
    proof_ms = (time.perf_counter() - start) / rounds * 1000
    assert proof.verifies()
    start = time.perf_counter()
    for i in range(rounds):
        log.consistency_proof(1 + (i * 104729) % (total - 1), new_size=total)
    consistency_ms = (time.perf_counter() - start) / rounds * 1000
    return {"entries": total, "append": single, "append4": contended, "verify": verify_rate,
            "inclusion_ms": proof_ms, "consistency_ms": consistency_ms}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--entries", type=int, default=5000)
    parser.add_argument("--postgres", default=os.environ.get("LIKENESS_TEST_POSTGRES_URL"))
    args = parser.parse_args()
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        engine = make_engine(f"sqlite:///{Path(tmp) / 'bench.db'}")
        upgrade(engine)
        rows.append(("SQLite (file, WAL)", measure(engine, args.entries)))
        engine.dispose()
    if args.postgres:
        schema = f"bench_{uuid.uuid4().hex[:8]}"
        admin = make_engine(args.postgres)
        with admin.begin() as conn:
            conn.execute(text(f'CREATE SCHEMA "{schema}"'))
        try:
            engine = make_engine(f"{args.postgres}?options=-csearch_path%3D{schema}")
            upgrade(engine)
            rows.append(("PostgreSQL (local)", measure(engine, args.entries)))
            engine.dispose()
        finally:
            with admin.begin() as conn:
                conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
    print(f"# audit log speed ({platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, "
          f"Python {platform.python_version()})\n")
    print("| database | entries | append /s (1 thread) | append /s (4 threads) | verify entries/s "
          "| inclusion proof ms | consistency proof ms |")
    print("| --- | ---: | ---: | ---: | ---: | ---: | ---: |")
    for name, r in rows:
        print(f"| {name} | {r['entries']:.0f} | {r['append']:.0f} | {r['append4']:.0f} | {r['verify']:.0f} "
              f"| {r['inclusion_ms']:.2f} | {r['consistency_ms']:.2f} |")


if __name__ == "__main__":
    main()
