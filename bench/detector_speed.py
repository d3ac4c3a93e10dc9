"""Speed of ``detect`` on a 10 s 512² clip: with the companion classifier, and the provenance-only path.

Same run, same file, interleaved rounds, medians:

* provenance only — ``detector.analyse(..., classifier=None)``: C2PA, watermark read (250 frames), lookup;
* full — the same plus the classifier (model loaded once, as a server would);
* ``detect CLIP --json`` — the console script end to end in a new process (imports, model load and
  hash check, everything), which is what an analyst waits for; the goal is ≤ 5 s on 2 cores.

The clip: the default generator driven by Grace Hopper's portrait and espeak-ng speech, 250
frames at 25 fps, released through the real release path (marked, C2PA-signed, recorded). With
``../shared/data`` present, a real clip (lp_d10, 15 s at 30 fps) is timed too.

    .venv/bin/python bench/detector_speed.py [--rounds 5]
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
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from detector import Classifier, analyse
from detector.classifier import DEFAULT_CARD
from gateway.deps import open_repository, provenance_identity
from gateway.settings import Settings
from generator import Controls, get_generator
from media import Audio, read_audio, read_image
from media.samples import default_portrait
from provenance import init_identity, release
from provenance.samples import selftest_claim
from speech import SAMPLE_SENTENCE, synthesise_speech

DETECT = str(Path(sys.executable).parent / "detect")


def make_clip(data_dir: Path, *, seconds: float = 10.0) -> Path:
    settings = Settings.for_tests(data_dir)
    init_identity(settings.keys_dir)
    speech = read_audio(synthesise_speech(SAMPLE_SENTENCE, dest=data_dir / "speech.wav")).to_mono()
    need = round(seconds * speech.sample_rate)
    samples = np.tile(speech.samples[0], 1 + need // speech.samples.shape[1])[:need]
    audio = Audio(samples=samples[None, :].copy(), sample_rate=speech.sample_rate)
    generation = get_generator("default").prepare(read_image(default_portrait()), audio, controls=Controls(seed=1))
    released = release(list(generation.frames()), fps=25, audio=audio, claim=selftest_claim(),
                       identity=provenance_identity(settings), repository=open_repository(settings),
                       dest=data_dir / "outputs" / "clip.mp4")
    return released.path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--data", type=Path, default=Path(__file__).resolve().parents[2] / "shared" / "data")
    args = parser.parse_args()
    data_dir = Path(tempfile.mkdtemp(prefix="likeness-detect-speed-")) / "var"
    clip = make_clip(data_dir)
    settings = Settings.for_tests(data_dir)
    identity = provenance_identity(settings)
    repository = open_repository(settings)
    classifier = Classifier.load()
    # The CNN alone (version 1's computation: no frozen-texture cue), for a same-load comparison.
    cnn_dir = data_dir / "cnn-only"
    cnn_dir.mkdir()
    card = json.loads(DEFAULT_CARD.read_text())
    shutil.copy(DEFAULT_CARD.parent / card["file"], cnn_dir / card["file"])
    card["stacking"] = None
    (cnn_dir / "card.json").write_text(json.dumps(card))
    cnn_only = Classifier.load(cnn_dir / "card.json")
    clips = [("generated 10 s 512² 25 fps (released)", clip)]
    real = args.data / "clips" / "lp_d10.mp4"
    if real.exists():
        clips.append(("real lp_d10 15 s 512² 30 fps", real))
    env = {**os.environ, "LIKENESS_DATA_DIR": str(data_dir)}

    print(f"machine: {platform.machine()} cpus={os.cpu_count()} python {platform.python_version()}; "
          f"load average before: {os.getloadavg()[0]:.2f}")
    print("\n| clip | provenance only (s) | full, model loaded (s) | ratio | classifier stage (s) | "
          "`detect --json` end to end (s) | verdict / classifier | CNN alone: stage (s) | "
          "CNN alone: `detect --json` (s) |")
    print("|---|---|---|---|---|---|---|---|---|")
    for name, path in clips:
        times: dict[str, list[float]] = {"prov": [], "full": [], "cli": [], "stage": [], "cnn_stage": [],
                                         "cnn_cli": []}
        verdicts = ""
        for _ in range(args.rounds):
            started = time.perf_counter()
            analyse(path, trust_anchors_pem=identity.trust_anchors_pem, watermark_key=identity.watermark_key,
                    repository=repository, classifier=None)
            times["prov"].append(time.perf_counter() - started)
            started = time.perf_counter()
            report = analyse(path, trust_anchors_pem=identity.trust_anchors_pem,
                             watermark_key=identity.watermark_key, repository=repository, classifier=classifier)
            times["full"].append(time.perf_counter() - started)
            times["stage"].append(report.classifier.elapsed_s)
            verdicts = f"{report.verdict} / {report.classifier.verdict} {report.classifier.score}"
            started = time.perf_counter()
            subprocess.run([DETECT, str(path), "--json"], env=env, capture_output=True, check=True, timeout=120)
            times["cli"].append(time.perf_counter() - started)
            report = analyse(path, trust_anchors_pem=identity.trust_anchors_pem,
                             watermark_key=identity.watermark_key, repository=repository, classifier=cnn_only)
            times["cnn_stage"].append(report.classifier.elapsed_s)
            started = time.perf_counter()
            subprocess.run([DETECT, str(path), "--json", "--model", str(cnn_dir / "card.json")], env=env,
                           capture_output=True, check=True, timeout=120)
            times["cnn_cli"].append(time.perf_counter() - started)
        med = {k: statistics.median(v) for k, v in times.items()}
        print(f"| {name} | {med['prov']:.2f} | {med['full']:.2f} | {med['full'] / med['prov']:.2f}× | "
              f"{med['stage']:.2f} | {med['cli']:.2f} (range {min(times['cli']):.2f}–{max(times['cli']):.2f}) | "
              f"{verdicts} | {med['cnn_stage']:.2f} | {med['cnn_cli']:.2f} |")
    print(f"\nrounds {args.rounds}, medians; load average after: {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
