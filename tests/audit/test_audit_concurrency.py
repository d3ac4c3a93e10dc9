"""Appends from several threads and from two processes at once: a contiguous log that verifies."""

from __future__ import annotations

import subprocess
import sys
import textwrap
import threading
from pathlib import Path

from audit import AuditKey, AuditKind, AuditLog

THREADS = 6
PER_THREAD = 15


def test_threads_append_a_contiguous_verifiable_log(engine, audit_key):
    log = AuditLog(engine, signing_key=audit_key)
    errors: list[BaseException] = []
    barrier = threading.Barrier(THREADS)

    def work(worker: int) -> None:
        try:
            barrier.wait()
            for n in range(PER_THREAD):
                log.append(AuditKind.ADMIN_ACTION, actor=f"operator:t{worker}", data={"n": n})
        except BaseException as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(w,)) for w in range(THREADS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert errors == []
    total = THREADS * PER_THREAD
    entries = log.search(limit=1000)
    assert [e.index for e in entries] == list(range(total))
    for worker in range(THREADS):  # each thread's entries are in its own order
        assert [e.data["n"] for e in entries if e.actor == f"operator:t{worker}"] == list(range(PER_THREAD))
    report = log.verify()
    assert report.ok and report.entries == total


WORKER = textwrap.dedent("""
    import sys, time
    from pathlib import Path
    from audit import AuditKey, AuditLog
    from likeness.db import make_engine
    url, key_file, name, count, meet = sys.argv[1:6]
    log = AuditLog(make_engine(url), signing_key=AuditKey.from_file(Path(key_file)))
    (Path(meet) / name).touch()  # start together: wait until both processes are ready
    deadline = time.monotonic() + 60
    while len(list(Path(meet).iterdir())) < 2 and time.monotonic() < deadline:
        time.sleep(0.005)
    for n in range(int(count)):
        log.append("admin.action", actor="operator:" + name, data={"n": n})
""")


def test_two_processes_append_a_contiguous_verifiable_log(engine, audit_key, tmp_path):
    key_file = tmp_path / "var" / "keys" / "audit-signing.key"
    assert AuditKey.from_file(key_file).key_id == audit_key.key_id
    url = engine.url.render_as_string(hide_password=False)
    count = 40
    root = Path(__file__).resolve().parents[2]
    meet = tmp_path / "meet"
    meet.mkdir()
    procs = [subprocess.Popen([sys.executable, "-c", WORKER, url, str(key_file), name, str(count), str(meet)], cwd=root,
                              stderr=subprocess.PIPE, text=True) for name in ("a", "b")]
    for proc in procs:
        _, stderr = proc.communicate(timeout=300)
        assert proc.returncode == 0, stderr
    log = AuditLog(engine, signing_key=audit_key)
    entries = log.search(limit=1000)
    assert [e.index for e in entries] == list(range(2 * count))
    for name in ("a", "b"):
        assert [e.data["n"] for e in entries if e.actor == f"operator:{name}"] == list(range(count))
    actors = [e.actor for e in entries]
    assert any(actors[i] != actors[i + 1] for i in range(len(actors) - 1))  # they did interleave
    assert log.verify().ok
