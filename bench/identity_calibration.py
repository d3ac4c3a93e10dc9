"""Calibrate the identity match on real faces: score distributions, ROC, EER, threshold, margin, speed.

Identities: each clip of ``<data>/clips`` is one person (``--frames`` frames spread evenly over
the clip, through its head turns, expressions and speech); each portrait of ``<data>/portraits``
and Grace Hopper (matplotlib's sample) is one more person, together with variants of itself
(mirrored, brighter, darker with noise, JPEG quality 30, downscaled to 0.6×, rotated 10°,
greyscale). Faces are found as the product finds them (:func:`faces.find_face`, at least 96 px
wide); a frame or variant where that fails is counted and left out.

- genuine pairs: two embeddings of one identity (two frames of a clip; a portrait and its variants);
- impostor pairs: two embeddings of different identities (frames of different clips, portraits
  against each other and against every frame).

The threshold is chosen for a false-accept rate ≤ ``--target-far`` (1e-3). With a few tens of
thousands of impostor pairs but only ~136 pairs of *identities*, the empirical FAR says little at
1e-3 on its own (pairs of the same two people are not independent), so the threshold is the
largest of (a) the empirical threshold for the target, (b) the highest impostor score plus
``--guard`` (0.01 cosine), (c) the 1 − target quantile of a normal fitted to the impostor scores
after Fisher's z-transform (atanh, which makes the bounded cosine's upper tail near-normal),
rounded up to three decimals. For the record it also fits a normal to the highest score of each
pair of identities (the identity-level view). FRR is given per pair, and per probe as the product
uses it: each clip frame against three enrolment frames of its own clip (first, middle, last),
the best of the three. The ambiguity margin is measured the same way with every other identity
enrolled too: half the smallest margin of a genuine probe over the best other identity, but at
least ``--min-margin`` (0.02 cosine), so that no genuine probe of the bench is refused as ambiguous.

    .venv/bin/python bench/identity_calibration.py [--data ../shared/data] [--frames 30] [--png docs/identity_roc.png]
    .venv/bin/python bench/identity_calibration.py --backend insightface --model-dir DIR --write-card
"""

from __future__ import annotations

import argparse
import io
import json
import math
import platform
import statistics
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import matplotlib.cbook
import numpy as np
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from faces import FaceError, find_face, get_identity_backend, head_pose, mouth_opening
from media import iter_frames, probe_video, read_image

VARIANTS = ("mirrored", "brighter x1.4", "darker x0.6 + noise", "jpeg q30", "downscaled 0.6x", "rotated 10deg",
            "greyscale")


@dataclass
class Identity:
    name: str
    kind: str  # "clip" or "portrait"
    labels: list[str] = field(default_factory=list)
    vectors: list[np.ndarray] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    yaw: list[float] = field(default_factory=list)
    mouth: list[float] = field(default_factory=list)


def variants(image: np.ndarray) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(0)
    height, width = image.shape[:2]
    buffer = io.BytesIO()
    Image.fromarray(image).save(buffer, format="JPEG", quality=30)
    rotation = cv2.getRotationMatrix2D((width / 2, height / 2), 10, 1.0)
    grey = cv2.cvtColor(cv2.cvtColor(image, cv2.COLOR_RGB2GRAY), cv2.COLOR_GRAY2RGB)
    dark = image.astype(np.float32) * 0.6 + rng.normal(0, 6, image.shape)
    out = {
        "mirrored": image[:, ::-1],
        "brighter x1.4": np.clip(image.astype(np.float32) * 1.4, 0, 255),
        "darker x0.6 + noise": np.clip(dark, 0, 255),
        "jpeg q30": np.asarray(Image.open(buffer).convert("RGB")),
        "downscaled 0.6x": cv2.resize(image, None, fx=0.6, fy=0.6, interpolation=cv2.INTER_AREA),
        "rotated 10deg": cv2.warpAffine(image, rotation, (width, height), flags=cv2.INTER_CUBIC,
                                        borderMode=cv2.BORDER_REPLICATE),
        "greyscale": grey,
    }
    return {name: np.ascontiguousarray(v.astype(np.uint8)) for name, v in out.items()}


class Embedder:
    def __init__(self, backend) -> None:  # type: ignore[no-untyped-def]
        self.backend = backend
        self.find_ms: list[float] = []
        self.embed_ms: list[float] = []

    def __call__(self, image: np.ndarray, identity: Identity, label: str, *, timed: bool = False) -> None:
        started = time.perf_counter()
        try:
            face = find_face(image)
        except FaceError as exc:
            identity.skipped.append(f"{label}: {exc}")
            return
        found = time.perf_counter()
        vector = self.backend.embed(image, face)
        done = time.perf_counter()
        if timed:
            self.find_ms.append(1000 * (found - started))
            self.embed_ms.append(1000 * (done - found))
        identity.labels.append(label)
        identity.vectors.append(vector)
        identity.yaw.append(head_pose(face)[0])
        identity.mouth.append(mouth_opening(face))


def collect(data: Path, *, frames: int, embedder: Embedder) -> list[Identity]:
    identities: list[Identity] = []
    portraits = [Path(matplotlib.cbook.get_sample_data("grace_hopper.jpg", asfileobj=False))]
    portraits += sorted((data / "portraits").glob("*.*"))
    for path in portraits:
        person = Identity(name=path.stem if path.parent.name == "portraits" else "grace_hopper", kind="portrait")
        image = read_image(path)
        embedder(image, person, "original", timed=True)
        for name, variant in variants(image).items():
            embedder(variant, person, name)
        identities.append(person)
        print(f"  {person.name}: {len(person.vectors)} embeddings, {len(person.skipped)} skipped", file=sys.stderr)
    for clip in sorted((data / "clips").glob("*.mp4")):
        info = probe_video(clip)
        every = max(1, info.frame_count // frames)
        person = Identity(name=clip.stem, kind="clip")
        for index, frame in enumerate(iter_frames(clip, every=every, max_frames=frames)):
            embedder(frame, person, f"frame {index * every}")
        identities.append(person)
        print(f"  {person.name}: {len(person.vectors)} frames, {len(person.skipped)} skipped", file=sys.stderr)
    return identities


def pair_scores(identities: list[Identity]) -> tuple[np.ndarray, np.ndarray, dict[tuple[str, str], float]]:
    """Genuine and impostor cosine similarities, and the highest impostor score per pair of identities."""
    matrices = [np.stack(p.vectors).astype(np.float64) for p in identities]
    genuine, impostor = [], []
    worst: dict[tuple[str, str], float] = {}
    for i, a in enumerate(matrices):
        sims = a @ a.T
        genuine.append(sims[np.triu_indices(len(a), k=1)])
        for j in range(i + 1, len(matrices)):
            cross = (a @ matrices[j].T).ravel()
            impostor.append(cross)
            worst[(identities[i].name, identities[j].name)] = float(cross.max())
    return np.concatenate(genuine), np.concatenate(impostor), worst


def roc(genuine: np.ndarray, impostor: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    thresholds = np.unique(np.concatenate([genuine, impostor, [-1.0, 1.0 + 1e-9]]))
    far = np.array([(impostor >= t).mean() for t in thresholds])
    frr = np.array([(genuine < t).mean() for t in thresholds])
    return thresholds, far, frr


def equal_error(thresholds: np.ndarray, far: np.ndarray, frr: np.ndarray) -> tuple[float, float]:
    index = int(np.argmin(np.abs(far - frr)))
    return float((far[index] + frr[index]) / 2), float(thresholds[index])


def normal_quantile(p: float) -> float:
    """The standard normal's ``p`` quantile (bisection on erf; no scipy needed)."""
    lo, hi = -10.0, 10.0
    for _ in range(100):
        mid = (lo + hi) / 2
        if 0.5 * (1 + math.erf(mid / math.sqrt(2))) < p:
            lo = mid
        else:
            hi = mid
    return (lo + hi) / 2


def enrolled_probes(identities: list[Identity]) -> tuple[np.ndarray, np.ndarray]:
    """For each clip frame not enrolled: its best similarity to three enrolment frames of its clip, and its margin
    over the best other identity (all of whose embeddings are enrolled)."""
    best, margins = [], []
    for i, person in enumerate(identities):
        if person.kind != "clip" or len(person.vectors) < 6:
            continue
        n = len(person.vectors)
        enrol = {0, n // 2, n - 1}
        reference = np.stack([person.vectors[k] for k in sorted(enrol)]).astype(np.float64)
        rivals = np.concatenate([np.stack(p.vectors) for j, p in enumerate(identities) if j != i]).astype(np.float64)
        for k, vector in enumerate(person.vectors):
            if k in enrol:
                continue
            v = vector.astype(np.float64)
            best.append(float((reference @ v).max()))
            margins.append(best[-1] - float((rivals @ v).max()))
    return np.array(best), np.array(margins)


def plot(path: Path, *, genuine: np.ndarray, impostor: np.ndarray, far: np.ndarray, frr: np.ndarray,
         threshold: float, title: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 4.2))
    bins = np.linspace(min(genuine.min(), impostor.min()) - 0.01, 1.0, 80)
    left.hist(impostor, bins=bins, alpha=0.6, density=True, label=f"impostor ({len(impostor)} pairs)")
    left.hist(genuine, bins=bins, alpha=0.6, density=True, label=f"genuine ({len(genuine)} pairs)")
    left.axvline(threshold, color="k", linestyle="--", label=f"threshold {threshold:.3f}")
    left.set_xlabel("cosine similarity")
    left.set_ylabel("density")
    left.legend(fontsize=8)
    left.set_title("score distributions")
    far_floor, frr_floor = 0.5 / len(impostor), 0.5 / len(genuine)
    right.plot(np.maximum(far, far_floor), np.maximum(frr, frr_floor), drawstyle="steps-post")
    right.set_xscale("log")
    right.set_yscale("log")
    right.set_xlim(far_floor, 1)
    right.set_ylim(frr_floor, 1)
    right.axvline(1e-3, color="grey", linestyle=":", label="FAR 1e-3")
    right.axvline(1 / len(impostor), color="r", linestyle=":", label="one impostor pair (resolution)")
    right.plot([far_floor], [(genuine < threshold).mean()], "ko", label=f"chosen threshold (FAR 0 of {len(impostor)})")
    right.set_xlabel("false-accept rate (log; 0 drawn at half a pair)")
    right.set_ylabel("false-reject rate per pair (log)")
    right.legend(fontsize=8, loc="upper right")
    right.set_title("ROC as a DET curve")
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=Path(__file__).resolve().parents[2] / "shared" / "data")
    parser.add_argument("--frames", type=int, default=30, help="frames per clip, spread over the clip")
    parser.add_argument("--backend", default="dlib", choices=("dlib", "insightface"))
    parser.add_argument("--model-dir", type=Path, default=None, help="the insightface model directory")
    parser.add_argument("--target-far", type=float, default=1e-3)
    parser.add_argument("--guard", type=float, default=0.01, help="added to the highest impostor score")
    parser.add_argument("--min-margin", type=float, default=0.02, help="floor of the ambiguity margin")
    parser.add_argument("--png", type=Path, default=None, help="write the distributions and ROC here")
    parser.add_argument("--json", type=Path, default=None, help="write the numbers here")
    parser.add_argument("--write-card", action="store_true", help="insightface: write the model card")
    args = parser.parse_args()
    if not (args.data / "clips").is_dir():
        sys.exit(f"bench: no clips under {args.data / 'clips'}")

    started = time.perf_counter()
    backend = get_identity_backend(args.backend, model_dir=args.model_dir)
    load_started = time.perf_counter()
    if args.backend == "dlib":
        backend._models()  # type: ignore[attr-defined]  # hash check + load, timed apart from embedding
    load_ms = 1000 * (time.perf_counter() - load_started)
    find_face(read_image(matplotlib.cbook.get_sample_data("grace_hopper.jpg", asfileobj=False)))  # warm mediapipe
    embedder = Embedder(backend)
    print(f"embedding with {backend.name} ({backend.model_version}) …", file=sys.stderr)
    identities = collect(args.data, frames=args.frames, embedder=embedder)
    genuine, impostor, worst = pair_scores(identities)
    thresholds, far, frr = roc(genuine, impostor)
    eer, eer_threshold = equal_error(thresholds, far, frr)

    ok = far <= args.target_far
    empirical = float(thresholds[ok][0])
    highest = float(impostor.max())
    z = np.arctanh(np.clip(impostor, -0.999999, 0.999999))
    gaussian = float(np.tanh(z.mean() + normal_quantile(1 - args.target_far) * z.std()))
    threshold = math.ceil(max(empirical, highest + args.guard, gaussian) * 1000) / 1000
    far_at, frr_at = float((impostor >= threshold).mean()), float((genuine < threshold).mean())
    maxima = np.array(list(worst.values()))
    id_fit = {p: float(maxima.mean() + normal_quantile(1 - p) * maxima.std()) for p in (1e-2, 1e-3)}
    best, margins = enrolled_probes(identities)
    probe_frr = float((best < threshold).mean()) if len(best) else float("nan")
    min_margin = round(max(args.min_margin, float(margins.min()) / 2), 3) if len(margins) else args.min_margin
    ambiguous_share = float((margins < min_margin).mean()) if len(margins) else 0.0

    n_ids = len(identities)
    print(f"\n## Identity calibration: {backend.name} ({backend.model_version})\n")
    print(f"machine: {platform.machine()}, {platform.python_version()}; date {time.strftime('%Y-%m-%d')}; "
          f"total {time.perf_counter() - started:.0f} s\n")
    print("| identity | kind | embeddings | left out | yaw range ° | mouth opening range | genuine min / median |")
    print("|---|---|---|---|---|---|---|")
    for person in identities:
        m = np.stack(person.vectors).astype(np.float64)
        g = (m @ m.T)[np.triu_indices(len(m), k=1)]
        print(f"| {person.name} | {person.kind} | {len(person.vectors)} | {len(person.skipped)} | "
              f"{min(person.yaw):+.0f} to {max(person.yaw):+.0f} | {min(person.mouth):.2f}–{max(person.mouth):.2f} | "
              f"{g.min():.3f} / {np.median(g):.3f} |")
    for person in identities:
        for note in person.skipped:
            print(f"- left out: {person.name} {note}")
    print(f"\n{n_ids} identities, {len(genuine)} genuine pairs, {len(impostor)} impostor pairs "
          f"({n_ids * (n_ids - 1) // 2} pairs of identities).\n")
    print("| | min | 1 % | median | 99 % | max |")
    print("|---|---|---|---|---|---|")
    for name, scores in (("genuine", genuine), ("impostor", impostor)):
        q = np.quantile(scores, [0, 0.01, 0.5, 0.99, 1])
        print(f"| {name} | " + " | ".join(f"{v:.3f}" for v in q) + " |")
    print("\nvariants of the portraits (similarity to the original):\n")
    print("| variant | min | median | max |")
    print("|---|---|---|---|")
    for variant in VARIANTS:
        sims = [float(p.vectors[0] @ p.vectors[p.labels.index(variant)]) for p in identities
                if p.kind == "portrait" and p.labels and p.labels[0] == "original" and variant in p.labels]
        if sims:
            print(f"| {variant} | {min(sims):.3f} | {statistics.median(sims):.3f} | {max(sims):.3f} |")
    closest = sorted(worst.items(), key=lambda kv: -kv[1])[:5]
    print("\nclosest impostor identities (highest pair score): "
          + "; ".join(f"{a} vs {b} {s:.3f}" for (a, b), s in closest))
    print(f"\nEER {eer:.4f} at threshold {eer_threshold:.3f}")
    print(f"threshold for FAR ≤ {args.target_far:g}: empirical {empirical:.4f}; highest impostor {highest:.4f} "
          f"+ guard {args.guard} = {highest + args.guard:.4f}; normal fit after Fisher z {gaussian:.4f} → chosen "
          f"{threshold:.3f}")
    print(f"identity level: highest score per pair of identities, mean {maxima.mean():.4f}, sd {maxima.std():.4f}; "
          f"normal fit 1 % point {id_fit[1e-2]:.4f}, 0.1 % point {id_fit[1e-3]:.4f}; identity pairs reaching "
          f"{threshold:.3f}: {int((maxima >= threshold).sum())} of {len(maxima)}")
    print(f"at {threshold:.3f}: FAR {far_at:.2e} ({int((impostor >= threshold).sum())} of {len(impostor)}), "
          f"FRR {frr_at:.4f} ({int((genuine < threshold).sum())} of {len(genuine)}); empirical FAR resolution "
          f"1/{len(impostor)} = {1 / len(impostor):.1e} per pair, 1/{n_ids * (n_ids - 1) // 2} per identity pair")
    print(f"FRR per probe against 3 enrolment frames of its clip: {probe_frr:.4f} "
          f"({int((best < threshold).sum())} of {len(best)} clip frames)")
    if len(margins):
        print(f"ambiguity: genuine probe margins over the best other identity: min {margins.min():.3f}, "
              f"1 % {np.quantile(margins, 0.01):.3f}, median {np.median(margins):.3f} ({len(margins)} probes) → "
              f"min_margin {min_margin:.3f}; genuine probes refused as ambiguous: {ambiguous_share:.4f}")
    for t in (0.95, 0.96):
        print(f"(for comparison, at {t}: FAR {(impostor >= t).mean():.2e}, FRR {(genuine < t).mean():.4f}, "
              f"per probe {(best < t).mean():.4f})")
    print("\nROC points:\n")
    print("| threshold | FAR | FRR |")
    print("|---|---|---|")
    for t in sorted({round(eer_threshold, 3), threshold, *np.round(np.linspace(
            np.quantile(impostor, 0.5), max(genuine.max(), threshold), 12), 3)}):
        print(f"| {t:.3f} | {(impostor >= t).mean():.2e} | {(genuine < t).mean():.4f} |")
    find_ms, embed_ms = embedder.find_ms, embedder.embed_ms
    print(f"\nspeed on {len(embed_ms)} portraits (one at a time): find_face median {statistics.median(find_ms):.1f} ms "
          f"(max {max(find_ms):.1f}); embed median {statistics.median(embed_ms):.1f} ms (max {max(embed_ms):.1f}); "
          f"model hash check + load {load_ms:.0f} ms")

    numbers = {"backend": backend.name, "model_version": backend.model_version, "identities": n_ids,
               "genuine_pairs": len(genuine), "impostor_pairs": len(impostor), "eer": eer,
               "eer_threshold": eer_threshold, "threshold": threshold, "far": far_at, "frr": frr_at,
               "min_margin": min_margin, "empirical_threshold": empirical, "highest_impostor": highest,
               "fisher_z_threshold": gaussian, "probe_frr_3_refs": probe_frr,
               "identity_max_fit_1e-2": id_fit[1e-2], "identity_max_fit_1e-3": id_fit[1e-3],
               "find_ms_median": statistics.median(find_ms),
               "embed_ms_median": statistics.median(embed_ms), "load_ms": load_ms}
    if args.json:
        args.json.write_text(json.dumps(numbers, indent=2) + "\n")
    if args.png:
        plot(args.png, genuine=genuine, impostor=impostor, far=far, frr=frr, threshold=threshold,
             title=f"{backend.name} ({backend.model_version.split('+')[0]}): {n_ids} identities, "
                   f"EER {eer:.4f}, threshold {threshold:.3f} (FAR {far_at:.1e}, FRR {frr_at:.4f})")
        print(f"\nwrote {args.png}")
    if args.write_card:
        if backend.name != "insightface":
            sys.exit("bench: --write-card is for the insightface backend (dlib's calibration lives in faces/_dlib.py)")
        from faces._insightface import write_card

        provenance = (f"{time.strftime('%Y-%m-%d')}, bench/identity_calibration.py on {args.data} "
                      f"({n_ids} identities, {len(genuine)} genuine / {len(impostor)} impostor pairs): "
                      f"EER {eer:.4f}, FAR {far_at:.1e}, FRR {frr_at:.4f}")
        card = write_card(backend, threshold=threshold, min_margin=min_margin,  # type: ignore[arg-type]
                          provenance=provenance)
        print(f"wrote {card}")


if __name__ == "__main__":
    main()
