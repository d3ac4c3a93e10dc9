"""Speed of a live session of the default generator: time to first frame, audio-to-frame latency, throughput.

Speech (a speech file of ``<shared data>``, repeated to length) is fed in 20 ms chunks, either in real
time (each chunk when its audio would have arrived) or as fast as possible. For each length:

* first frame: from feeding the first chunk to the first rendered frame in hand;
* latency of frame k: from the moment the audio ending at its timestamp (k / fps) was fed to the
  moment the frame is in hand — it includes the look-ahead (default 120 ms);
* frames/s: frames over the wall time of the whole feed (real time: ≥ fps means it keeps up);
* CPU: process time / wall time over the feed (one session).

    .venv/bin/python bench/live_speed.py [--lengths 10,60,600] [--realtime-max 60]
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from generator import Controls, get_generator
from generator.speech import _samples_16k
from media import read_audio, read_image

CHUNK = 320  # 20 ms


def run(portrait: np.ndarray, x: np.ndarray, *, realtime: bool, lookahead_s: float) -> dict[str, float]:
    session = get_generator("default").live(portrait, controls=Controls(seed=7), lookahead_s=lookahead_s)
    fed_at = np.zeros(len(x) // CHUNK + 2)  # when each chunk's audio had been fed
    ready: list[float] = []
    cpu0, start = time.process_time(), time.perf_counter()
    for j, i in enumerate(range(0, len(x), CHUNK)):
        if realtime:
            delay = start + i / 16_000 - time.perf_counter()
            if delay > 0:
                time.sleep(delay)
        frames = session.feed(x[i : i + CHUNK])
        now = time.perf_counter()
        fed_at[j] = now - start  # approximately: the chunk was handed over just before its frames came back
        ready += [now - start] * len(frames)
    frames = session.finish()
    now = time.perf_counter()
    ready += [now - start] * len(frames)
    wall, cpu = now - start, time.process_time() - cpu0
    fed_by_chunk = np.r_[0.0, fed_at]
    latencies = []
    for k, t_ready in enumerate(ready):
        audio_end = round(k / session.fps * 16_000)  # samples up to the frame's timestamp
        chunk = min(int(np.ceil(audio_end / CHUNK)), len(fed_by_chunk) - 1)
        latencies.append(t_ready - fed_by_chunk[chunk])
    lat = np.array(latencies) * 1000
    return {"first_ms": ready[0] * 1000, "p50_ms": float(np.percentile(lat, 50)),
            "p95_ms": float(np.percentile(lat, 95)), "fps": len(ready) / wall, "cpu": cpu / wall,
            "frames": len(ready)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=Path(__file__).resolve().parents[2] / "shared" / "data")
    parser.add_argument("--lengths", default="10,60,600", help="seconds of speech, comma-separated")
    parser.add_argument("--realtime-max", type=float, default=60.0, help="longest length also fed in real time")
    parser.add_argument("--lookahead", type=float, default=0.12)
    args = parser.parse_args()
    portrait = read_image(args.data / "portraits" / "lp_s42.jpg")
    clip = _samples_16k(read_audio(args.data / "speech" / "st_RD_Radio31_000.wav"))
    print(f"# live_speed — {time.strftime('%Y-%m-%d')} — {platform.node()}, {os.cpu_count()} CPUs, "
          f"look-ahead {args.lookahead * 1000:.0f} ms, 20 ms chunks\n")
    print("| speech | feed | frames | first frame ms | latency p50 ms | latency p95 ms | frames/s | CPU/wall |")
    print("|---|---|---|---|---|---|---|---|")
    for seconds in (float(s) for s in args.lengths.split(",")):
        x = np.resize(clip, int(seconds * 16_000))
        for realtime in (True, False):
            if realtime and seconds > args.realtime_max:
                continue
            r = run(portrait, x, realtime=realtime, lookahead_s=args.lookahead)
            feed = "real time" if realtime else "fast"
            print(f"| {seconds:g} s | {feed} | {r['frames']:.0f} | {r['first_ms']:.0f} | "
                  f"{r['p50_ms']:.0f} | {r['p95_ms']:.0f} | {r['fps']:.1f} | {r['cpu']:.2f} |", flush=True)


if __name__ == "__main__":
    main()
