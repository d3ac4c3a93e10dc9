"""Speed of the watermark embed (ours vs invisible-watermark's dwtDctSvd) and of the release path.

Same run, same 512² frames (real faces from ``<shared data>/clips`` when present, else a
synthetic test card), interleaved rounds so that machine noise hits every contender alike:

* embed per frame: ours (NumPy) against the reference library's ``dwtDctSvd`` — with the
  library's default configuration (4×4 blocks, step 36) and with ours (8×8 blocks, step 96);
* the release path end to end (mark + H.264/AAC encode + C2PA sign + read-back check + record +
  atomic write) in frames per second, with the time of each stage.

    .venv/bin/python bench/release_speed.py [--frames 250] [--rounds 3]
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

import cv2
import numpy as np
from sqlmodel import SQLModel, create_engine

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from media import iter_frames
from media.samples import card_frames, card_tone
from provenance import ManifestRepository, WatermarkCodec, init_identity, load_identity, release
from provenance.samples import selftest_claim
from provenance.watermark import BLOCK, DEFAULT_STEP

SIZE = 512


def test_frames(data: Path, count: int) -> tuple[list[np.ndarray], str]:
    clips = sorted((data / "clips").glob("*.mp4"))
    if not clips:
        return list(card_frames(seconds=count / 25))[:count], "synthetic test card"
    frames: list[np.ndarray] = []
    for clip in clips:
        for frame in iter_frames(clip, max_frames=count - len(frames)):
            h, w, _ = frame.shape
            side = min(h, w)
            crop = frame[(h - side) // 2:(h - side) // 2 + side, (w - side) // 2:(w - side) // 2 + side]
            frames.append(cv2.resize(crop, (SIZE, SIZE), interpolation=cv2.INTER_AREA))
        if len(frames) >= count:
            break
    return frames, f"real faces from {len(clips)} clips"


def per_frame_ms(fn, frames: list[np.ndarray]) -> float:  # type: ignore[no-untyped-def]
    started = time.perf_counter()
    for frame in frames:
        fn(frame)
    return (time.perf_counter() - started) / len(frames) * 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=Path(__file__).resolve().parents[2] / "shared" / "data")
    parser.add_argument("--frames", type=int, default=250)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--reference-frames", type=int, default=20, help="frames per round for the slow library")
    args = parser.parse_args()

    from imwatermark import WatermarkEncoder  # imports torch: only here, never in the product

    frames, source = test_frames(args.data, args.frames)
    work = Path(tempfile.mkdtemp(prefix="likeness-bench-"))
    init_identity(work / "keys")
    identity = load_identity(keys_dir=work / "keys")
    codec = WatermarkCodec(identity.watermark_key)
    watermark_id = 0x0123456789ABCDEF
    layout = codec.layout_bits(watermark_id).tolist()
    encoder = WatermarkEncoder()
    encoder.set_watermark("bits", layout)
    subset = frames[: args.reference_frames]
    bgr = [cv2.cvtColor(f, cv2.COLOR_RGB2BGR) for f in subset]

    ours, ref_default, ref_ours = [], [], []
    for _ in range(args.rounds):
        ours.append(per_frame_ms(lambda f: codec.embed(f, watermark_id), frames))
        ref_default.append(per_frame_ms(lambda f: encoder.encode(f, "dwtDctSvd"), bgr))
        ref_ours.append(per_frame_ms(
            lambda f: encoder.encode(f, "dwtDctSvd", scales=[0, DEFAULT_STEP, 0], block=BLOCK), bgr))

    engine = create_engine(f"sqlite:///{work / 'bench.db'}")
    SQLModel.metadata.create_all(engine)
    repository = ManifestRepository(engine)
    seconds = len(frames) / 25
    runs = []
    for index in range(args.rounds):
        started = time.perf_counter()
        out = release(iter(frames), fps=25, audio=card_tone(seconds=seconds), claim=selftest_claim(),
                      identity=identity, repository=repository, dest=work / f"release-{index}.mp4")
        runs.append((time.perf_counter() - started, out.timings_s))

    med = statistics.median
    print(f"# release speed — {time.strftime('%Y-%m-%d')} — {platform.node()}, {os.cpu_count()} CPUs "
          f"({platform.processor() or platform.machine()}); {len(frames)} frames of {SIZE}² ({source}), "
          f"{args.rounds} rounds, medians\n")
    print("| embed, per 512² frame | ms | ours is × faster |")
    print("|---|---|---|")
    print(f"| ours (NumPy, 8×8 blocks, step {DEFAULT_STEP:g}) | {med(ours):.2f} | 1 |")
    print(f"| invisible-watermark dwtDctSvd, its defaults (4×4, step 36) | {med(ref_default):.1f} | "
          f"{med(ref_default) / med(ours):.1f} |")
    print(f"| invisible-watermark dwtDctSvd, our configuration (8×8, step {DEFAULT_STEP:g}) | {med(ref_ours):.1f} | "
          f"{med(ref_ours) / med(ours):.1f} |")
    total = med(r[0] for r in runs)
    print(f"\n| release path ({len(frames)} frames + audio) | seconds | frames/s |")
    print("|---|---|---|")
    print(f"| whole release (mark, encode, sign, check, record, write) | {total:.2f} | {len(frames) / total:.0f} |")
    for stage in ("mark", "encode", "sign", "check"):
        spent = med(r[1].get(stage, 0.0) for r in runs)
        rate = f"{len(frames) / spent:.0f}" if spent else "–"
        print(f"| stage: {stage} | {spent:.2f} | {rate} |")


if __name__ == "__main__":
    main()
