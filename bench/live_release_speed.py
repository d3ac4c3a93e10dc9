"""Speed and size of the live release path against the offline release of the same frames.

Same run, same 512² frames at 25 fps (real faces from ``<shared data>/clips`` when present, as
in ``bench/release_speed.py``, else the synthetic test card) and the same audio (a 16 kHz
tone), interleaved rounds: for each segment length (1 s and 2 s unless ``--segments``), a
:class:`provenance.LiveRelease` session is fed the frames as fast as it takes them, then
finished (the recording released); the offline :func:`provenance.release` of the same frames
follows. Reported per segment length:

* frames/s sustained by the live path (mark + encode + sign + self-check, all segments), and the
  CPU seconds (all threads) it spends per second of video;
* per segment: mark, encode, sign and check time, and bytes (manifest included);
* the latency it adds: from handing in a segment's last frame to holding the signed segment;
* the close: ``finish()`` (the last segment plus the recording's release);
* the offline release of the same frames: frames/s and bytes, and the ratios live/offline.

    .venv/bin/python bench/live_release_speed.py [--seconds 20] [--rounds 2] [--segments 1 2] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import tempfile
import time
from datetime import date
from pathlib import Path
from typing import Any

import numpy as np
from sqlmodel import SQLModel, create_engine

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.release_speed import test_frames
from media import Audio
from provenance import LiveRelease, ManifestRepository, ProvenanceIdentity, init_identity, load_identity, release
from provenance.samples import selftest_claim

FPS = 25
RATE = 16_000


def tone(seconds: float) -> np.ndarray:
    t = np.arange(round(seconds * RATE), dtype=np.float32) / RATE
    return (0.2 * np.sin(2 * np.pi * (220 + 60 * np.sin(2 * np.pi * 0.7 * t)) * t)).astype(np.float32)


def repository() -> ManifestRepository:
    engine = create_engine("sqlite://")
    SQLModel.metadata.create_all(engine)
    return ManifestRepository(engine)


def live_run(frames: list[np.ndarray], audio: np.ndarray, *, identity: ProvenanceIdentity, work: Path,
             segment_seconds: float) -> dict[str, Any]:
    repo = repository()
    live = LiveRelease(claim=selftest_claim(), identity=identity, work_dir=work / "live", sample_rate=RATE,
                       segment_seconds=segment_seconds)
    chunk = RATE // 5  # audio arrives in 200 ms chunks, a chunk ahead of the frames
    fed = 0
    segments, cut_latency = [], []
    started, cpu_started = time.perf_counter(), time.process_time()
    for index, frame in enumerate(frames):
        while fed < min(audio.size, round((index + 5) * RATE / FPS)):
            live.add_audio(audio[fed:fed + chunk])
            fed += chunk
        t0 = time.perf_counter()
        segment = live.add_frame(frame)
        if segment is not None:
            cut_latency.append(time.perf_counter() - t0)
            segments.append(segment)
    streamed = time.perf_counter() - started
    cpu = time.process_time() - cpu_started
    t0 = time.perf_counter()
    recording = live.finish(repository=repo, dest=work / f"live-{segment_seconds}.mp4")
    close = time.perf_counter() - t0
    full = [s for s in segments if s.frames == live.segment_frames]
    return {
        "segments": len(recording.segments),
        "stream_fps": len(frames) / streamed,
        "cpu_s_per_video_s": cpu / (len(frames) / FPS),
        "segment_ms": {stage: 1000 * statistics.median(s.timings_s[stage] for s in full)
                       for stage in ("mark", "encode", "sign", "check")},
        "segment_bytes": statistics.median(len(s.data) for s in full),
        "segments_bytes_total": sum(len(s.data) for s in segments),
        "added_latency_ms_p50": 1000 * statistics.median(cut_latency),
        "added_latency_ms_max": 1000 * max(cut_latency),
        "close_s": close,
        "recording_bytes": recording.released.bytes,
    }


def offline_run(frames: list[np.ndarray], audio: np.ndarray, *, identity: ProvenanceIdentity,
                work: Path, tag: str) -> dict[str, Any]:
    started = time.perf_counter()
    out = release(iter(frames), fps=FPS, audio=Audio(samples=audio[None, :], sample_rate=RATE),
                  claim=selftest_claim(), identity=identity, repository=repository(), dest=work / f"offline-{tag}.mp4")
    wall = time.perf_counter() - started
    return {"fps": len(frames) / wall, "bytes": out.bytes, "wall_s": wall}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--segments", type=float, nargs="+", default=[1.0, 2.0], help="segment lengths, seconds")
    parser.add_argument("--json", type=Path)
    parser.add_argument("--data", type=Path, default=Path(__file__).resolve().parents[2] / "shared" / "data")
    args = parser.parse_args()

    frames, source = test_frames(args.data, round(args.seconds * FPS))
    audio = tone(args.seconds)
    lengths = [str(seconds) for seconds in args.segments]
    results: dict[str, list[dict[str, Any]]] = {**{length: [] for length in lengths}, "offline": []}
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        init_identity(work / "keys")
        identity = load_identity(keys_dir=work / "keys")
        for round_ in range(args.rounds):
            for seconds in args.segments:
                results[str(seconds)].append(live_run(frames, audio, identity=identity, work=work / f"r{round_}",
                                                      segment_seconds=seconds))
            results["offline"].append(offline_run(frames, audio, identity=identity, work=work / f"r{round_}",
                                                  tag=str(round_)))

    offline_fps = statistics.median(r["fps"] for r in results["offline"])
    offline_bytes = statistics.median(r["bytes"] for r in results["offline"])
    summary: dict[str, Any] = {
        "date": date.today().isoformat(),
        "machine": f"{platform.machine()}, {os.cpu_count()} CPUs, {platform.python_implementation()} "
                   f"{platform.python_version()}, load {os.getloadavg()[0]:.2f} at the end",
        "frames": len(frames), "source": source, "rounds": args.rounds,
        "offline": {"fps": offline_fps, "bytes": offline_bytes},
        "live": {},
    }
    for length in lengths:
        runs = results[length]
        med = {key: statistics.median(r[key] for r in runs) for key in (
            "stream_fps", "cpu_s_per_video_s", "segment_bytes", "segments_bytes_total", "added_latency_ms_p50",
            "added_latency_ms_max",
            "close_s", "recording_bytes")}
        med["segment_ms"] = {stage: statistics.median(r["segment_ms"][stage] for r in runs)
                             for stage in runs[0]["segment_ms"]}
        med["fps_ratio_to_offline"] = med["stream_fps"] / offline_fps
        med["bytes_ratio_to_offline"] = med["segments_bytes_total"] / offline_bytes
        summary["live"][length] = med

    print(f"{summary['machine']}; {len(frames)} frames of 512² ({source}) at {FPS} fps, "
          f"{args.rounds} rounds (medians)")
    print(f"offline release: {offline_fps:.1f} frames/s, {offline_bytes / 1e3:.0f} kB")
    for length, med in summary["live"].items():
        stages = ", ".join(f"{k} {v:.1f}" for k, v in med["segment_ms"].items())
        print(f"live, {length} s segments: {med['stream_fps']:.1f} frames/s sustained "
              f"({med['fps_ratio_to_offline']:.2f}x offline), {med['cpu_s_per_video_s']:.2f} CPU s per s of video; "
              f"per segment ms: {stages}; "
              f"{med['segment_bytes'] / 1e3:.1f} kB per segment, all segments {med['bytes_ratio_to_offline']:.2f}x "
              f"the offline file; added latency p50 {med['added_latency_ms_p50']:.0f} ms, "
              f"max {med['added_latency_ms_max']:.0f} ms; close {med['close_s']:.2f} s")
    if args.json:
        args.json.write_text(json.dumps(summary, indent=2))


if __name__ == "__main__":
    main()
