"""Live sessions end to end, as partners' clients see them: first frame, latency, real time, concurrency, CPU.

A local server in its own process (``gateway.demo_live.local_live_server``: uvicorn, scratch
database, the operator's keys) and N clients (``likeness.client``, in this process) each streaming the same speech
over a real WebSocket at real time (20 ms messages on the wall clock), for each segment length.
Per configuration: the first frame after the first audio, the latency of every frame (from sending
the audio that ends at the frame's time to receiving its segment) p50/p95/max, the same p95 over the
last quarter of the session (real time is held when it does not grow), the wall time against the
speech, and the server's CPU (its own process, from /proc: rendering, marking, encoding, signing,
the re-checks and, after each session, its recording's release) per session per second of wall
time. The reference, in the same run: the offline path (the default generator's ``prepare`` +
``provenance.release``) on the same portrait and speech, in frames/s and CPU seconds per second of video.

    .venv/bin/python bench/live_sessions.py [--seconds 20] [--segments 0.08 0.2 0.5] [--sessions 1 2]
                                            [--json out.json]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing
import os
import platform
import resource
import statistics
import sys
import tempfile
import time
from datetime import date
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from gateway.demo_live import LocalLive, local_live_server, speech_pcm, stream_in_real_time
from gateway.settings import Settings
from media.samples import default_portrait

FPS = 25


def cpu_s() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def speech(seconds: float, *, scratch: Path) -> bytes:
    """``seconds`` of speech: the demo sentence (espeak-ng), repeated."""
    one = speech_pcm(None, scratch=scratch)
    reps = int(np.ceil(seconds * 32_000 / len(one)))
    return (one * reps)[: int(seconds * 32_000) // 2 * 2]


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def offline(portrait: Path, pcm: bytes, *, settings: Settings) -> dict[str, float]:
    """The offline path on the same inputs: frames/s and CPU s per second of video."""
    from sqlmodel import SQLModel, create_engine

    from gateway.deps import provenance_identity
    from generator import get_generator
    from media import Audio, read_image
    from provenance import ManifestRepository, init_identity, release
    from provenance.samples import selftest_claim

    init_identity(settings.keys_dir)
    identity = provenance_identity(settings)
    engine = create_engine("sqlite://")
    SQLModel.metadata.create_all(engine)
    audio = Audio(np.frombuffer(pcm, "<i2").astype(np.float32)[None, :] / 32768, 16_000)
    generator = get_generator("default")
    with tempfile.TemporaryDirectory() as scratch:
        started, cpu0 = time.perf_counter(), cpu_s()
        generation = generator.prepare(read_image(portrait), audio)
        released = release(generation.frames(), fps=FPS, audio=generation.audio, claim=selftest_claim(),
                           identity=identity, repository=ManifestRepository(engine), dest=Path(scratch) / "o.mp4")
        wall, cpu = time.perf_counter() - started, cpu_s() - cpu0
    seconds = generation.n_frames / FPS
    return {"fps": generation.n_frames / wall, "cpu_per_video_s": cpu / seconds, "bytes": released.bytes,
            "video_s": seconds}


async def sessions_at_once(server: Any, *, portrait: Path, pcm: bytes, count: int) -> list[dict[str, Any]]:
    runs = [stream_in_real_time(server, portrait=portrait, pcm=pcm) for _ in range(count)]
    return [measured for _, measured in await asyncio.gather(*runs)]


def _serve(data_dir: str, portrait: str, segment_s: float, count: int, pipe: Connection) -> None:
    """The server, in its own process (so the clients' work is not counted against it, nor holds its GIL)."""
    settings = Settings.for_tests(Path(data_dir))
    with local_live_server(settings, portrait=Path(portrait), max_sessions=count, segment_seconds=segment_s) as server:
        pipe.send((server.url, server.api_key, server.consent_id))
        pipe.recv()  # until the bench says stop


def process_cpu_s(pid: int) -> float:
    """User + system CPU seconds of a process and its threads so far (/proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def configuration(settings: Settings, *, portrait: Path, pcm: bytes, segment_s: float, count: int) -> dict[str, Any]:
    here, there = multiprocessing.get_context("spawn").Pipe()
    child = multiprocessing.get_context("spawn").Process(  # not daemonic: the media sandbox starts children
        target=_serve, args=(str(settings.data_dir), str(portrait), segment_s, count, there))
    child.start()
    try:
        url, api_key, consent_id = here.recv()
        assert child.pid is not None
        server = LocalLive(url=url, api_key=api_key, consent_id=consent_id, runtime=None)  # type: ignore[arg-type]
        asyncio.run(sessions_at_once(server, portrait=portrait, pcm=pcm[: 32_000], count=1))  # warm: generator, rig
        cpu0, client0, started = process_cpu_s(child.pid), cpu_s(), time.perf_counter()
        measured = asyncio.run(sessions_at_once(server, portrait=portrait, pcm=pcm, count=count))
        cpu, wall = process_cpu_s(child.pid) - cpu0, time.perf_counter() - started
        client_cpu = cpu_s() - client0
    finally:
        here.send("stop")
        child.join(timeout=60)
    audio_s = len(pcm) / 32_000
    latencies = [x for m in measured for x in m["latencies_ms"]]
    tails = [x for m in measured for x in m["latencies_ms"][3 * len(m["latencies_ms"]) // 4:]]
    return {
        "segment_s": segment_s, "sessions": count, "audio_s": round(audio_s, 2),
        "statuses": sorted({m["status"] for m in measured}),
        "first_frame_ms": round(max(m["first_frame_ms"] for m in measured), 1),
        "latency_p50_ms": round(statistics.median(latencies), 1), "latency_p95_ms": round(pct(latencies, 0.95), 1),
        "latency_max_ms": round(max(latencies), 1), "last_quarter_p95_ms": round(pct(tails, 0.95), 1),
        "wall_over_audio": round(max(m["wall_seconds"] for m in measured) / audio_s, 3),
        "cpu_per_session_per_s": round(cpu / count / wall, 3), "client_cpu_per_s": round(client_cpu / wall, 3),
        "frames": [m["frames"] for m in measured], "segments": [m["segments"] for m in measured],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=20.0, help="speech per session")
    parser.add_argument("--segments", type=float, nargs="+", default=[0.08, 0.2, 0.5])
    parser.add_argument("--sessions", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    portrait = default_portrait()
    with tempfile.TemporaryDirectory(prefix="likeness-bench-live-") as scratch:
        settings = Settings.for_tests(Path(scratch) / "var")
        pcm = speech(args.seconds, scratch=Path(scratch))
        reference = offline(portrait, pcm, settings=settings)
        rows = [configuration(settings, portrait=portrait, pcm=pcm, segment_s=s, count=n)
                for n in args.sessions for s in args.segments]
    print(f"# live sessions, {date.today()}, {platform.machine()}, {os.cpu_count()} CPUs, "
          f"CPython {platform.python_version()}, load {os.getloadavg()[0]:.2f} at the end; "
          f"{args.seconds:g} s of speech per session, streamed at real time")
    print(f"offline reference (same portrait and speech): {reference['fps']:.1f} frames/s, "
          f"{reference['cpu_per_video_s']:.2f} CPU s per s of video")
    print("| sessions | segment s | first frame ms | latency p50 / p95 / max ms | last-quarter p95 ms | "
          "wall / speech | server CPU per session (cores) | clients' CPU (cores) | status |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- | --- |")
    for row in rows:
        print(f"| {row['sessions']} | {row['segment_s']:g} | {row['first_frame_ms']:.0f} | "
              f"{row['latency_p50_ms']:.0f} / {row['latency_p95_ms']:.0f} / {row['latency_max_ms']:.0f} | "
              f"{row['last_quarter_p95_ms']:.0f} | {row['wall_over_audio']:.3f} | {row['cpu_per_session_per_s']:.2f} | "
              f"{row['client_cpu_per_s']:.2f} | "
              f"{','.join(row['statuses'])} |")
    if args.json:
        args.json.write_text(json.dumps({"offline": reference, "rows": rows}, indent=2))


if __name__ == "__main__":
    main()
