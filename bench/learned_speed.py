"""Speed of the learned generator: motion generation alone (small and VASA-size models), and the whole backend.

Same run, same inputs (a portrait and a speech file of ``<shared data>``, else the demo's bundled
portrait and espeak-ng speech), medians of ``--rounds``:

* motion alone: motion-latent frames per second of :func:`generator.learned.generate_latents` on the
  speech's audio features, and the time to the first 2 s window, for the shipped small model
  (6 steps) and a VASA-size model (8 layers, width 512, 50 steps; untrained weights: speed only),
  without guidance, with audio guidance (the default: 2 passes a step, batched) and with both
  guidance scales (3 passes);
* whole backend: ``prepare`` (face + rig, speech analysis, motion) and rendered 512² frames per
  second, learned vs default backend (same renderer), and the time to the first 1 s window.

    .venv/bin/python bench/learned_speed.py [--rounds 3] [--threads 1] [--device cpu|cuda]
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

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from generator_speed import (  # a sibling script (bench/ is on sys.path): the same inputs and measures as its bench
    bench_inputs,
    first_window_and_prepare,
)

from generator import Controls, get_generator
from generator.learned import Guidance, MotionDenoiser, MotionModel, config_named, generate_latents, shipped_model
from generator.learned.inference import iter_latent_windows
from generator.motion_data import audio_features
from media import read_audio, read_image

GUIDANCE = {"none": Guidance(audio=1.0, conditions=1.0), "audio 1.5 (default)": Guidance(audio=1.5),
            "audio 1.5 + conditions 1.5": Guidance(audio=1.5, conditions=1.5)}


def _on(model: MotionModel, device: str) -> MotionModel:
    model.net.to(device)
    return model


def _vasa_like(small: MotionModel) -> MotionModel:
    config = config_named("vasa", latent_dim=small.config.latent_dim, audio_dim=small.config.audio_dim)
    torch.manual_seed(0)
    return MotionModel(net=MotionDenoiser(config).eval(), latent_names=small.latent_names,
                       latent_mean=small.latent_mean, latent_std=small.latent_std, audio_mean=small.audio_mean,
                       audio_std=small.audio_std, fps=small.fps)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=Path(__file__).resolve().parents[2] / "shared" / "data")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--vasa-frames", type=int, default=100, help="frames the VASA-size model generates (CPU: slow)")
    parser.add_argument("--skip-backend", action="store_true", help="motion generation only")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    work = Path(tempfile.mkdtemp(prefix="likeness-bench-"))
    portrait_path, speech_path, transcript = bench_inputs(args.data, work=work)
    portrait, audio = read_image(portrait_path), read_audio(speech_path)
    n = round(audio.duration_s * 25)
    feats = audio_features(audio, fps=25.0, n_frames=n)
    med = statistics.median

    small = _on(shipped_model(), args.device)
    rows = []
    vasa = _on(_vasa_like(small), args.device)
    for label, model in (("small (shipped, trained)", small), ("VASA-size (untrained)", vasa)):
        for name, guidance in GUIDANCE.items():
            big = model.config.name == "vasa"
            rounds = 1 if big and args.device == "cpu" else args.rounds
            part = feats[: args.vasa_frames] if big else feats
            fps, first = [], []
            for r in range(rounds):
                started = time.perf_counter()
                next(iter_latent_windows(model, part, gaze=(0.0, 0.0), distance=0.0, guidance=guidance, seed=r))
                first.append(time.perf_counter() - started)
                started = time.perf_counter()
                generate_latents(part, model=model, gaze=(0.0, 0.0), distance=0.0, guidance=guidance, seed=r)
                fps.append(len(part) / (time.perf_counter() - started))
            rows.append((label, model.net.parameter_count(), model.config.steps, name, med(fps), med(first)))

    print(f"# learned generator speed — {time.strftime('%Y-%m-%d')} — {platform.node()}, {os.cpu_count()} CPUs "
          f"({platform.processor() or platform.machine()}), torch {torch.__version__}, {args.threads} thread(s), "
          f"device {args.device}; {speech_path.name} ({n} frames, {audio.duration_s:.1f} s), medians of "
          f"{args.rounds} rounds (VASA-size on CPU: 1 round of its first {args.vasa_frames} frames)\n")
    print("| model | parameters | steps | guidance | motion frames/s | first 2 s window |")
    print("|---|---|---|---|---|---|")
    for label, params, steps, name, fps, first in rows:
        print(f"| {label} | {params / 1e6:.1f} M | {steps} | {name} | **{fps:.0f}** ({fps / 25:.1f}× real time) "
              f"| {first * 1000:.0f} ms |")
    if args.skip_backend:
        return

    print("\n| backend | prepare (rig, speech, motion) | time to first 1 s window | rendered frames/s |")
    print("|---|---|---|---|")
    controls = Controls(seed=1)
    for backend in ("default", "learned"):
        generator = get_generator(backend)
        prepare, first, rendered = [], [], []
        stages: dict[str, list[float]] = {}
        for _ in range(args.rounds):
            window_s, prepare_s, generation = first_window_and_prepare(generator, portrait, audio, controls=controls,
                                                                       transcript=transcript, stages=stages)
            first.append(window_s)
            prepare.append(prepare_s)
            count = min(generation.n_frames, 100)
            started = time.perf_counter()
            for index in range(count):
                generation.frame(index)
            rendered.append(count / (time.perf_counter() - started))
        print(f"| {backend} | {med(prepare):.2f} s ({', '.join(f'{k} {med(v):.2f}' for k, v in stages.items())}) "
              f"| {med(first) * 1000:.0f} ms | {med(rendered):.1f} |")


if __name__ == "__main__":
    main()
