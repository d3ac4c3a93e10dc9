"""The hostile-media corpus against a real ``likeness serve`` process: statuses, time and memory per request.

    .venv/bin/python bench/hostile_corpus.py [--portal] [--detect]

Prints one row per item and route (status, error code, seconds) and a summary: requests, crashes,
5xx answers, the slowest request, and the server's resident memory at start and at its peak
(VmHWM). The same harness backs ``tests/gateway/test_hostile_server.py``; numbers go to
docs/benchmarks.md with the machine and date.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "tests"), str(ROOT / "tests" / "gateway")]
sys.path.append(str(ROOT / "tests" / "consent"))  # last: tests/consent must not shadow the consent package

from gateway_factories import SHARED_DATA, jpeg, person, speech_wav  # noqa: E402
from hostile_corpus import build_corpus  # noqa: E402
from hostile_server import start_server  # noqa: E402
from portal_factories import PortalClient  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--detect", action="store_true", help="also run `detect` on every video item")
    parser.add_argument("--quiet", action="store_true", help="only the summary")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        corpus = build_corpus(work / "corpus")
        alice = person(SHARED_DATA, "lp_d0")
        speech = speech_wav("Hello, this is a short lesson.", work / "s.wav")
        with start_server(work / "var", who=alice) as server:
            portrait = jpeg(server.portrait)
            server.warm_up(portrait=portrait, audio=speech, photos=[jpeg(f) for f in alice.references])
            for item in corpus:
                for field in ("portrait", "audio"):
                    shot = server.generation(item, field=field, portrait=portrait, audio=speech)
                    if not args.quiet:
                        print(f"{item.name:26s} {field:9s} {shot.status:4d} {shot.error_code or '':24s} "
                              f"{shot.elapsed_s:6.2f}s {'alive' if shot.alive_after else 'DEAD'}")
            photos, statement = PortalClient(server.url), PortalClient(server.url)
            photos.start()
            statement.start()
            statement.photos(*(jpeg(f) for f in alice.references))
            statement.scope()
            statement.get("/consent/statement")
            for item in corpus:
                for client, path, field in ((photos, "/consent/photos", "photos"),
                                            (statement, "/consent/statement", "statement")):
                    shot = server.portal_upload(item, http=client.http, path=path, field=field, csrf=client.csrf())
                    if not args.quiet:
                        print(f"{item.name:26s} {field:9s} {shot.status:4d} {(shot.error_code or '')[:40]:40s} "
                              f"{shot.elapsed_s:6.2f}s {'alive' if shot.alive_after else 'DEAD'}")
            shots = server.shots
            peak, start, warm = server.peak_rss_mib(), server.rss_at_start_mib, server.warm_peak_mib
            detect_rows = []
            if args.detect:
                detect = str(Path(sys.executable).with_name("detect"))
                env = {**os.environ, "LIKENESS_DATA_DIR": str(server.data_dir)}
                for item in corpus:
                    if item.kind != "video":
                        continue
                    clip = work / f"{item.name}{Path(item.filename).suffix}"
                    clip.write_bytes(item.data)
                    started = time.perf_counter()
                    ran = subprocess.run(["/usr/bin/time", "-f", "%M", detect, str(clip), "--json"],
                                         capture_output=True, text=True, env=env, timeout=600)
                    peak_kib = int(ran.stderr.strip().splitlines()[-1]) if ran.stderr.strip() else 0
                    detect_rows.append((item.name, ran.returncode, time.perf_counter() - started, peak_kib / 1024,
                                        "Traceback" in ran.stderr))
    print()
    print("| what | value |")
    print("| --- | --- |")
    print(f"| requests | {len(corpus)} items × 4 fields = {len(shots)} (POST /v1/generations portrait and audio, "
          "portal photos and statement) |")
    print(f"| server crashes | {sum(not s.alive_after for s in shots)} |")
    print(f"| 5xx answers | {sum(s.status >= 500 or s.status == 0 for s in shots)} |")
    print(f"| accepted (202) / refused (4xx) | {sum(s.status == 202 for s in shots)} / "
          f"{sum(400 <= s.status < 500 for s in shots)} |")
    slowest = max(shots, key=lambda s: s.elapsed_s)
    print(f"| slowest request | {slowest.elapsed_s:.2f} s ({slowest.item}, {slowest.field}) |")
    print(f"| median request | {sorted(s.elapsed_s for s in shots)[len(shots) // 2]:.2f} s |")
    print(f"| server memory: at start / peak after valid work (every model loaded) / peak after the corpus | "
          f"{start:.0f} / {warm:.0f} / {peak:.0f} MiB (corpus: +{peak - warm:.0f} MiB) |")
    rises, last = [], warm
    for shot in shots:
        if shot.peak_after_mib > last:
            rises.append((shot.peak_after_mib - last, shot.item, shot.field, shot.status))
            last = shot.peak_after_mib
    top = ", ".join(f"+{r[0]:.0f} ({r[1]}, {r[2]}, {r[3]})" for r in sorted(rises, reverse=True)[:3])
    print(f"| largest rises of the server's peak | {top or 'none'} |")
    if detect_rows:
        print(f"| `detect` runs | {len(detect_rows)}: exit codes "
              f"{sorted({r[1] for r in detect_rows})}, tracebacks {sum(r[4] for r in detect_rows)} |")
        worst = max(detect_rows, key=lambda r: r[2])
        print(f"| slowest `detect` | {worst[2]:.1f} s ({worst[0]}) |")
        print(f"| largest `detect` peak memory | {max(r[3] for r in detect_rows):.0f} MiB "
              f"({max(detect_rows, key=lambda r: r[3])[0]}) |")


if __name__ == "__main__":
    main()
