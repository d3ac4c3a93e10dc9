"""The statement's forensic check (``not_synthetic``) on real clips and on our generator's statements: verdicts, time.

    .venv/bin/python bench/statement_forensics.py [--data ../shared/data]

For each clip: :func:`consent._forensics.forensic_check` as the statement runs it (classifier on
6 windows, watermark on 50 frames) and, beside it, ``detect``'s full reading (20 windows, 250
frames), with the wall time of each. Clips: the 12 real clips of ``<data>/clips`` (a real person:
the check must pass) and statements made here with our generator — espeak-ng reading a statement,
the default generator animating a portrait of ``<data>/portraits`` or Grace Hopper — unmarked
(written with PyAV, as an attacker would) and released (watermarked and C2PA-signed through the
release path), and the released one after a stream-copy remux (manifest stripped).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests" / "consent"))

from consent._forensics import Forensics, forensic_check  # noqa: E402
from media import read_image  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "data")
    args = parser.parse_args()
    import statement_factories as sf

    from detector import analyse, default_classifier
    from provenance import load_identity

    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        keys = folder / "keys"
        made: list[tuple[str, Path]] = []
        text = ("I, the person in this video, agree that Likeness may generate videos of my face for education by "
                "Acme. My passcode is tiger helmet garden pumpkin.")
        speech = sf.speak(text, path=folder / "s.wav")
        portraits = [("grace_hopper", sf.grace_hopper())]
        portraits += [(p.stem, read_image(p)) for p in sorted((args.data / "portraits").glob("*"))
                      if p.stem in ("lp_s42", "st_happy", "st_sad1")]
        for name, portrait in portraits:
            frames = sf.talking_frames(portrait, speech, transcript=text)
            made.append((f"generator {name}, unmarked", sf.write_mp4(folder / f"{name}.mp4", frames, audio=speech)))
            signed = sf.released(frames, speech, keys_dir=keys, dest=folder / f"{name}.released.mp4")
            made.append((f"generator {name}, released", signed))
            made.append((f"generator {name}, released, remuxed",
                         sf.stream_copy(signed, folder / f"{name}.remuxed.mp4")))
        identity = load_identity(keys_dir=keys)
        forensics = Forensics(watermark_key=identity.watermark_key, trust_anchors_pem=identity.trust_anchors_pem)
        default_classifier()
        clips = [(f"real {p.stem}", p) for p in sorted((args.data / "clips").glob("*.mp4"))] + made
        print(f"{'clip':42s} {'statement check':>16s} {'ms':>6s}   {'detect (full)':>20s} {'ms':>6s}  reason")
        for name, path in clips:
            started = time.perf_counter()
            result = forensic_check(path, forensics=forensics)
            quick_ms = 1000 * (time.perf_counter() - started)
            started = time.perf_counter()
            full = analyse(path, trust_anchors_pem=identity.trust_anchors_pem, watermark_key=identity.watermark_key,
                           repository=None)
            full_ms = 1000 * (time.perf_counter() - started)
            verdict = "pass" if result.passed else "REFUSED"
            print(f"{name:42s} {verdict:>10s} {result.score:5.2f} {quick_ms:6.0f}   {full.verdict[:14]:>14s} "
                  f"{full.classifier.score or float('nan'):5.2f} {full_ms:6.0f}  {result.reason[:110]}")
            rows.append((name, result.passed, quick_ms, full_ms))
    real = [r for r in rows if r[0].startswith("real")]
    fake = [r for r in rows if not r[0].startswith("real")]
    print(f"\nreal clips passing: {sum(r[1] for r in real)}/{len(real)}; generator statements refused: "
          f"{sum(not r[1] for r in fake)}/{len(fake)}")
    print(f"median ms: statement check {sorted(r[2] for r in rows)[len(rows) // 2]:.0f}, "
          f"detect {sorted(r[3] for r in rows)[len(rows) // 2]:.0f}")


if __name__ == "__main__":
    main()
