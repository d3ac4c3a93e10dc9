"""Speed of the default generator at 512²: generation alone, generation + release, time to first frame.

Same run, same inputs (a portrait and a speech file of ``<shared data>``, else the demo's bundled
portrait and espeak-ng speech), medians of ``--rounds``:

* prepare: find the face + build the rig, analyse the speech, plan the motion;
* time to first frame: from the call to the first rendered frame in hand (streaming, window 1),
  and to the first 1 s window;
* generation alone: rendered frames per second (after prepare);
* generation + release: render → mark → H.264/AAC → C2PA sign → check → record → atomic write.

    .venv/bin/python bench/generator_speed.py [--rounds 3]
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from sqlmodel import SQLModel, create_engine

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from generator import Controls, Generator, PreparedGeneration, get_generator
from media import Audio, read_audio, read_image
from media.samples import default_portrait
from provenance import ManifestRepository, init_identity, load_identity, release
from provenance.samples import selftest_claim
from speech import SAMPLE_SENTENCE, synthesise_speech


def bench_inputs(data: Path, *, work: Path) -> tuple[Path, Path, str | None]:
    """The generator benches' portrait, speech and its transcript (None: recognise it): a portrait and a speech file
    of ``data`` (``<shared data>``), else the demo's bundled portrait and espeak-ng speech written into ``work``."""
    portrait_path = data / "portraits" / "lp_s42.jpg"
    speech_path = data / "speech" / "st_RD_Radio31_000.wav"
    transcript = None
    if not (portrait_path.exists() and speech_path.exists()):
        portrait_path = default_portrait()
        speech_path = synthesise_speech(SAMPLE_SENTENCE, dest=work / "speech.wav")
        transcript = SAMPLE_SENTENCE
    return portrait_path, speech_path, transcript


def first_window_and_prepare(
    generator: Generator, portrait: np.ndarray, audio: Audio, *, controls: Controls, transcript: str | None,
    stages: dict[str, list[float]],
) -> tuple[float, float, PreparedGeneration]:
    """Seconds to a stream's first 1 s window, then seconds to prepare the whole clip (each stage's time appended
    to ``stages``), and the prepared generation: the measures both generator benches report."""
    started = time.perf_counter()
    next(generator.stream(portrait, audio, controls=controls, transcript=transcript, window=25))
    window_s = time.perf_counter() - started
    started = time.perf_counter()
    generation = generator.prepare(portrait, audio, controls=controls, transcript=transcript)
    prepare_s = time.perf_counter() - started
    for stage, spent in generation.timings_s.items():
        stages.setdefault(stage, []).append(spent)
    return window_s, prepare_s, generation


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=Path(__file__).resolve().parents[2] / "shared" / "data")
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="likeness-bench-"))
    portrait_path, speech_path, transcript = bench_inputs(args.data, work=work)
    portrait, audio = read_image(portrait_path), read_audio(speech_path)
    generator = get_generator("default")
    init_identity(work / "keys")
    identity = load_identity(keys_dir=work / "keys")
    engine = create_engine(f"sqlite:///{work / 'bench.db'}")
    SQLModel.metadata.create_all(engine)
    repository = ManifestRepository(engine)
    controls = Controls(seed=1)

    prepare, first_frame, first_window, alone, released = [], [], [], [], []
    stages: dict[str, list[float]] = {}
    n_frames = 0
    for index in range(args.rounds):
        started = time.perf_counter()
        next(generator.stream(portrait, audio, controls=controls, transcript=transcript, window=1))
        first_frame.append(time.perf_counter() - started)
        window_s, prepare_s, generation = first_window_and_prepare(generator, portrait, audio, controls=controls,
                                                                   transcript=transcript, stages=stages)
        first_window.append(window_s)
        prepare.append(prepare_s)
        n_frames = generation.n_frames
        started = time.perf_counter()
        for _ in generation.frames():
            pass
        alone.append(n_frames / (time.perf_counter() - started))

        started = time.perf_counter()
        release(generation.frames(), fps=round(generation.fps), audio=generation.audio, claim=selftest_claim(),
                identity=identity, repository=repository, dest=work / f"out-{index}.mp4")
        released.append(n_frames / (time.perf_counter() - started))

    med = statistics.median
    print(f"# generator speed — {time.strftime('%Y-%m-%d')} — {platform.node()}, {os.cpu_count()} CPUs "
          f"({platform.processor() or platform.machine()}); {portrait_path.name} + {speech_path.name} "
          f"({n_frames} frames of 512², {audio.duration_s:.1f} s), {args.rounds} rounds, medians\n")
    print("| measure | value |")
    print("|---|---|")
    print(f"| prepare (face + rig, speech, motion) | {med(prepare):.2f} s "
          f"({', '.join(f'{k} {med(v):.2f}' for k, v in stages.items())}) |")
    print(f"| time to first frame (streaming, window 1) | {med(first_frame) * 1000:.0f} ms |")
    print(f"| time to first 1 s window (25 frames) | {med(first_window) * 1000:.0f} ms |")
    print(f"| generation alone | **{med(alone):.1f} frames/s** |")
    print(f"| generation + release (mark, encode, sign, check, write) | **{med(released):.1f} frames/s** |")


if __name__ == "__main__":
    main()
