"""What the media sandbox costs, and what it saves ``detect`` on a huge clip. Prints two tables.

1. Call overhead: each reader in-process and through :class:`media.Sandbox` (forkserver child,
   confined, result over a pipe), same files, interleaved rounds, medians; plus an empty call.
2. ``detector.analyse`` (watermark reader + companion classifier) on a 512² and a 4096² clip of
   10 s at 25 fps: "before" decodes in-process at full size (the old path, kept as a shim here),
   "after" is the shipped path (sandbox, frames over 1920 a side scaled down). Each run is a
   fresh process, with the model loaded and (after) the sandbox's forkserver started before the
   clock starts; peak memory is the proportional set size (PSS) of its whole process tree
   (the bench's child, the forkserver and the sandbox children), sampled every 20 ms.

    .venv/bin/python bench/sandbox_speed.py [--rounds 5] [--detect-rounds 3]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from media import Sandbox, iter_frames, probe_video, read_audio, read_image

KEY = b"bench-watermark-key-0123456789ab"


def make_files(work: Path) -> dict[str, Path]:
    from PIL import Image

    ffmpeg = shutil.which("ffmpeg")
    if ffmpeg is None:
        raise SystemExit("the ffmpeg CLI is needed to make the clips")
    rng = np.random.default_rng(1)
    portrait = work / "portrait.jpg"
    Image.fromarray(rng.integers(0, 255, (512, 512, 3), dtype=np.uint8)).save(portrait, quality=90)
    speech = work / "speech.wav"
    subprocess.run([ffmpeg, "-v", "error", "-f", "lavfi", "-i", "sine=f=220:d=10:r=16000", str(speech)], check=True)
    clips = {"clip512": ("testsrc=s=512x512:r=25", "512.mp4"), "clip4096": ("color=black:s=4096x4096:r=25", "4096.mp4")}
    files = {"portrait": portrait, "speech": speech}
    for name, (source, file) in clips.items():
        files[name] = work / file
        subprocess.run([ffmpeg, "-v", "error", "-f", "lavfi", "-i", source, "-t", "10", "-c:v", "libx264",
                        "-pix_fmt", "yuv420p", str(files[name])], check=True)
    return files


def overhead(files: dict[str, Path], *, rounds: int) -> list[tuple[str, float, float]]:
    box = Sandbox.for_video()
    portrait, speech = files["portrait"].read_bytes(), files["speech"].read_bytes()
    clip = files["clip512"]
    cases = {
        "empty call (fork + pipe)": (lambda: None, lambda: box._call(len, b"")),
        "read_image 512² JPEG": (lambda: read_image(portrait), lambda: box.read_image(portrait)),
        "read_audio 10 s WAV → 16 kHz mono": (lambda: read_audio(speech, sample_rate=16_000, mono=True),
                                              lambda: box.read_audio(speech, sample_rate=16_000, mono=True)),
        "probe_video 512² 10 s": (lambda: probe_video(clip), lambda: box.probe_video(clip)),
        "iter_frames 512², 250 frames": (lambda: sum(1 for _ in iter_frames(clip)),
                                         lambda: sum(1 for _ in box.iter_frames(clip))),
    }
    box._call(len, b"")  # starts the forkserver (once per process)
    times: dict[str, tuple[list[float], list[float]]] = {name: ([], []) for name in cases}
    for _ in range(rounds):
        for name, (inside, sandboxed) in cases.items():
            for index, run in enumerate((inside, sandboxed)):
                started = time.perf_counter()
                run()
                times[name][index].append(1000 * (time.perf_counter() - started))
    return [(name, statistics.median(a), statistics.median(b)) for name, (a, b) in times.items()]


def first_call_ms() -> float:
    """The first sandboxed call of a fresh process: starts the forkserver and preloads media."""
    code = ("import time; t = time.perf_counter(); from media import Sandbox; Sandbox()._call(len, b''); "
            "print(1000 * (time.perf_counter() - t))")
    root = Path(__file__).resolve().parents[1]
    done = subprocess.run([sys.executable, "-c", code], cwd=root, capture_output=True, text=True, check=True)
    return float(done.stdout.split()[-1])


# ------------------------------------------------------------------------------------ detect


class _InProcess:
    """The old path: decoding in the caller's process, every frame at full size."""

    def probe_video(self, path, *, limits=None):  # type: ignore[no-untyped-def]
        return probe_video(path, limits=limits)

    def iter_frames(self, path, *, every=1, max_frames=None, max_side=None, limits=None):  # type: ignore[no-untyped-def]
        return iter_frames(path, every=every, max_frames=max_frames, limits=limits)


def detect_once(clip: Path, mode: str) -> None:
    """Run in a fresh process (``--one``): analyse the clip and print the seconds and analysed size."""
    from detector import analyse
    from detector.analyse import default_classifier

    if mode == "before":  # (detector.analyse the attribute is the function: patch the module itself)
        sys.modules["detector.analyse"].SANDBOX = _InProcess()  # type: ignore[attr-defined]
    else:  # the forkserver started, as the model is loaded, before timing (detect starts it while it imports)
        Sandbox().warm_up()
    classifier = default_classifier()
    started = time.perf_counter()
    report = analyse(clip, trust_anchors_pem=None, watermark_key=KEY, repository=None, classifier=classifier)
    elapsed = time.perf_counter() - started
    print(json.dumps({"seconds": elapsed, "analysed_size": report.video.get("analysed_size"),
                      "frames_read": report.watermark.frames_read}))


def _tree(pid: int) -> list[int]:
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat", "rb") as handle:
                    parent = int(handle.read().rsplit(b")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            children.setdefault(parent, []).append(int(entry))
    found, stack = [], [pid]
    while stack:
        current = stack.pop()
        found.append(current)
        stack.extend(children.get(current, []))
    return found


def _pss_kib(pids: list[int]) -> int:
    total = 0
    for pid in pids:
        try:
            with open(f"/proc/{pid}/smaps_rollup", "rb") as handle:
                for line in handle:
                    if line.startswith(b"Pss:"):
                        total += int(line.split()[1])
                        break
        except OSError:
            continue
    return total


def detect_run(clip: Path, mode: str) -> tuple[float, float, dict]:
    """(seconds in analyse, peak PSS of the process tree in MiB, the run's report facts)."""
    process = subprocess.Popen([sys.executable, __file__, "--one", str(clip), mode], stdout=subprocess.PIPE,
                               text=True, cwd=Path(__file__).resolve().parents[1])
    peak = 0
    stop = threading.Event()

    def sample() -> None:
        nonlocal peak
        while not stop.is_set():
            peak = max(peak, _pss_kib(_tree(process.pid)))
            time.sleep(0.02)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    out, _ = process.communicate()
    stop.set()
    sampler.join()
    if process.returncode != 0:
        raise SystemExit(f"detect run failed ({process.returncode})")
    facts = json.loads(out.strip().splitlines()[-1])
    return facts["seconds"], peak / 1024, facts


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--detect-rounds", type=int, default=3)
    parser.add_argument("--one", nargs=2, metavar=("CLIP", "MODE"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one:
        detect_once(Path(args.one[0]), args.one[1])
        return
    work = Path(tempfile.mkdtemp(prefix="likeness-sandbox-speed-"))
    files = make_files(work)
    print(f"# media sandbox — {platform.node()}, {os.cpu_count()} CPUs, Python {platform.python_version()}, "
          f"load average {os.getloadavg()[0]:.1f}\n")
    print(f"first sandboxed call of a process (starts the forkserver, preloads media): {first_call_ms():.0f} ms\n")
    print("| operation | in-process ms | sandbox ms | overhead ms |")
    print("| --- | ---: | ---: | ---: |")
    for name, inside, sandboxed in overhead(files, rounds=args.rounds):
        print(f"| {name} | {inside:.1f} | {sandboxed:.1f} | {sandboxed - inside:+.1f} |")
    print("\n| clip | path | analyse s (median) | peak PSS MiB (max) | analysed at | watermark frames |")
    print("| --- | --- | ---: | ---: | --- | ---: |")
    for clip_name in ("clip512", "clip4096"):
        runs: dict[str, list[tuple[float, float, dict]]] = {"before": [], "after": []}
        for _ in range(args.detect_rounds):
            for mode in ("before", "after"):
                runs[mode].append(detect_run(files[clip_name], mode))
        for mode, results in runs.items():
            facts = results[-1][2]
            size = facts["analysed_size"] or "full size"
            label = "in-process, full size" if mode == "before" else "sandbox, ≤ 1920 a side"
            print(f"| {clip_name[4:]}² 10 s | {label} | {statistics.median(r[0] for r in results):.2f} | "
                  f"{max(r[1] for r in results):.0f} | {size} | {facts['frames_read']} |")
    shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
