"""Motion evaluation on held-out clips: the real clip's own motion, the default backend's rules, the learned model.

For each clip with speech, three kinds of motion for the same audio, all as the renderer's per-frame
parameters (``generator.MotionTrack``) at 25 fps:

- **real**: the clip's own motion, extracted by the face model into the latent space and decoded
  (``generator.motion_data``; the expression basis fitted without the held-out clips);
- **rules**: ``generator.plan_motion`` on ``generator.analyse_speech`` of the clip's audio (one
  sample per seed);
- **learned**: the learned backend's motion for that audio (``generator.learned``: its model's
  latents decoded with its basis; one sample per seed), skipped with a note when the backend or its
  checkpoint is absent; and **learned+lp** the same motion low-passed like the training latents
  (a 40 ms Gaussian on everything but the blinks: what ``poses_from_latent(..., smooth_s=0.04)``
  does to the latents, applied here to the decoded track).

Metrics (mean over seeds, then over clips):

- *audio–pose*: Pearson r between head speed (|Δ(yaw, pitch, roll)| per frame) and loudness, and
  between head speed and loudness onsets (the positive part of the loudness's rise), best over lags
  of ±200 ms (positive: the head follows the sound);
- *ΔP* (VASA-1's pose variation intensity): mean absolute frame-to-frame change of the three head
  angles, degrees per frame; *σ 2 s*: the head angles' standard deviation within 2 s windows,
  averaged; *across seeds*: the per-frame standard deviation of the head angles across samples for
  the same audio (0 for the single real take);
- *lip-sync*: r between jaw opening and loudness at the best lag within ±200 ms and that lag
  (``bench/quality.py``'s ``best_lag_corr`` and ``loudness_envelope``);
- *jitter*: mean |second difference| per frame of the head angles (°) and of the expression
  controls jaw_open, lip_width, smile, brow_raise (renderer units).

    .venv/bin/python bench/motion_eval.py [--data ../shared/data] [--holdout lp_d11,lp_d12]
        [--dataset DIR] [--card generator/models/<card>.json] [--seeds 3]
"""

from __future__ import annotations

import argparse
import json
import math
import platform
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.quality import best_lag_corr, loudness_envelope
from generator import Controls, MotionTrack, analyse_speech, plan_motion
from generator.motion_data import SMOOTH_S, MotionBasis, clip_audio, poses_from_latent, prepare_dataset, smooth_time

OUT = Path(__file__).resolve().parent / "out" / "motion_eval"
FPS = 25.0
HEAD = ("yaw", "pitch", "roll")
EXPRESSION = ("jaw_open", "lip_width", "smile", "brow_raise")


@dataclass
class Scores:
    head_loud_r: float
    onset_r: float
    onset_lag_ms: float
    delta_p: float
    sigma_2s: float
    sync_r: float
    sync_lag_ms: float
    jitter_head: float
    jitter_expr: float


def _smooth(x: np.ndarray, sigma: float) -> np.ndarray:
    radius = max(1, int(3 * sigma))
    k = np.exp(-0.5 * (np.arange(-radius, radius + 1) / sigma) ** 2)
    return np.convolve(np.pad(x, radius, mode="edge"), k / k.sum(), mode="valid")


def score(track: MotionTrack, loud: np.ndarray) -> Scores:
    a = track.arrays
    n = min(len(track), len(loud))
    head = np.column_stack([a[k][:n] for k in HEAD]).astype(np.float64)
    expr = np.column_stack([a[k][:n] for k in EXPRESSION]).astype(np.float64)
    loud = loud[:n]
    speed = np.r_[0.0, np.linalg.norm(np.diff(head, axis=0), axis=1)]
    head_loud_r = float(np.corrcoef(speed, loud)[0, 1]) if speed.std() > 0 else math.nan
    onset = np.clip(np.diff(_smooth(loud, 1.0), prepend=loud[0]), 0, None)
    onset_r, onset_lag = best_lag_corr(_smooth(speed, 1.0), onset, fps=FPS)
    window = int(2 * FPS)
    sigmas = [head[s:s + window].std(axis=0).mean() for s in range(0, n - window + 1, window)]
    sync_r, sync_lag = best_lag_corr(expr[:, 0], loud, fps=FPS)
    return Scores(
        head_loud_r=head_loud_r, onset_r=onset_r, onset_lag_ms=onset_lag,  # positive: the head follows
        delta_p=float(np.abs(np.diff(head, axis=0)).mean()),
        sigma_2s=float(np.mean(sigmas)) if sigmas else math.nan,
        sync_r=sync_r, sync_lag_ms=sync_lag,
        jitter_head=float(np.abs(np.diff(head, 2, axis=0)).mean()),
        jitter_expr=float(np.abs(np.diff(expr, 2, axis=0)).mean()),
    )


def lowpassed(track: MotionTrack) -> MotionTrack:
    arrays = {k: v if k.startswith("blink") else smooth_time(v.astype(np.float64), SMOOTH_S * FPS)
              for k, v in track.arrays.items()}
    return MotionTrack(arrays, fps=track.fps)


def across_seeds(tracks: list[MotionTrack]) -> float:
    if len(tracks) < 2:
        return 0.0
    n = min(len(t) for t in tracks)
    head = np.stack([np.column_stack([t.arrays[k][:n] for k in HEAD]) for t in tracks])
    return float(head.std(axis=0).mean())


def mean_scores(rows: list[Scores]) -> Scores:
    return Scores(*(float(np.nanmean([getattr(r, f) for r in rows])) for f in Scores.__dataclass_fields__))


COLUMNS = ("head–loud r", "head–onset r", "onset lag ms", "ΔP °/frame", "σ 2 s °", "across seeds °", "sync r",
           "sync lag ms", "jitter head °", "jitter expr")


def row(label: str, s: Scores, diversity: float) -> str:
    return (f"| {label} | {s.head_loud_r:.2f} | {s.onset_r:.2f} | {s.onset_lag_ms:+.0f} | {s.delta_p:.3f} | "
            f"{s.sigma_2s:.2f} | {diversity:.2f} | {s.sync_r:.2f} | {s.sync_lag_ms:+.0f} | {s.jitter_head:.3f} | "
            f"{s.jitter_expr:.4f} |")


def learned_backend(card: Path | None):  # type: ignore[no-untyped-def]
    """(the learned backend or None, a note)."""
    try:
        from generator.learned import LearnedGenerator
        from generator.learned.checkpoint import load_from_card
    except ImportError as exc:
        return None, f"learned backend absent ({exc})"
    try:
        if card is None:
            backend = LearnedGenerator()
        else:  # a model trained elsewhere (e.g. without the held-out clips): its basis sits beside its card
            from generator.learned.checkpoint import file_sha256

            model = load_from_card(card)
            entry = model.card["basis"]
            if file_sha256(card.parent / entry["file"]) != entry["sha256"]:
                raise ValueError(f"{entry['file']} does not match the card's SHA-256")
            backend = LearnedGenerator(model, basis=MotionBasis.load(card.parent / entry["file"]))
    except Exception as exc:  # any failure to load is reported as a skipped column
        return None, f"learned backend not loadable: {exc}"
    card_info = backend.model.card
    training = card_info.get("training") if isinstance(card_info.get("training"), dict) else {}
    data = card_info.get("data") or training.get("data") or card_info.get("dataset", "?")
    return backend, f"learned: {backend.version} (card data: {json.dumps(data)[:300]})"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=Path(__file__).resolve().parents[2] / "shared" / "data")
    parser.add_argument("--holdout", default="lp_d11,lp_d12", help="clips left out of the expression basis")
    parser.add_argument("--clips", default="", help="clips to evaluate (default: the held-out ones)")
    parser.add_argument("--dataset", type=Path, help="a prepared dataset (default: prepared here with --holdout)")
    parser.add_argument("--card", type=Path, help="the learned model's card (default: the shipped model)")
    parser.add_argument("--seeds", type=int, default=3)
    args = parser.parse_args()
    holdout = tuple(c for c in args.holdout.split(",") if c)
    dataset = args.dataset
    if dataset is None:
        dataset = OUT / ("dataset-" + "-".join(holdout))
        if not (dataset / "meta.json").is_file():
            print(f"preparing {dataset} (holding out {', '.join(holdout)}) …", file=sys.stderr, flush=True)
            prepare_dataset(args.data / "clips", out_dir=dataset, holdout=holdout)
    meta = json.loads((dataset / "meta.json").read_text())
    basis = MotionBasis.load(dataset)
    splits = {c["name"]: c for c in meta["clips"]}
    names = [c for c in (args.clips.split(",") if args.clips else holdout) if c]
    backend, note = learned_backend(args.card)

    print(f"# motion evaluation — {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())} — {platform.node()} "
          f"({platform.processor() or platform.machine()}), {args.seeds} seeds\n")
    print(f"- dataset {dataset}: basis fitted on {[n for n, c in splits.items() if c['split'] == 'train']}")
    print(f"- {note}\n")
    header = "| clip · motion | " + " | ".join(COLUMNS) + " |"
    print(header)
    print("|" + "---|" * (len(COLUMNS) + 1))
    totals: dict[str, list[Scores]] = {"real": [], "rules": [], "learned": [], "learned+lp": []}
    spreads: dict[str, list[float]] = {kind: [] for kind in totals}
    for name in names:
        info = splits.get(name)
        if info is None:
            print(f"| {name} | not in the dataset |")
            continue
        audio, what = clip_audio(args.data / "clips" / info["source"])
        if audio is None or what != "speech":
            print(f"| {name} | {what}: nothing to align with |")
            continue
        with np.load(dataset / info["file"]) as npz:
            latent = npz["latent"]
        n = len(latent)
        loud = loudness_envelope(audio, fps=FPS, n=n)
        speech = analyse_speech(audio, fps=FPS)
        kinds: dict[str, list[MotionTrack]] = {"real": [poses_from_latent(latent, basis=basis, fps=FPS, speech=speech)]}
        kinds["rules"] = [plan_motion(speech, controls=Controls(seed=s)) for s in range(args.seeds)]
        if backend is not None:
            kinds["learned"] = [backend.motion(audio, n_frames=n, fps=FPS, controls=Controls(seed=s), speech=speech)
                                for s in range(args.seeds)]
            kinds["learned+lp"] = [lowpassed(t) for t in kinds["learned"]]
        tag = "held out" if info["split"] == "holdout" else "train"
        for kind, tracks in kinds.items():
            s = mean_scores([score(t, loud) for t in tracks])
            spread = across_seeds(tracks)
            totals[kind].append(s)
            spreads[kind].append(spread)
            print(row(f"{name} ({tag}, {n / FPS:.1f} s) · {kind}", s, spread), flush=True)
    for kind, rows in totals.items():
        if rows:
            print(row(f"**mean · {kind}** ({len(rows)} clips)", mean_scores(rows), float(np.mean(spreads[kind]))))
    if backend is None:
        print(f"\nlearned column skipped: {note}")


if __name__ == "__main__":
    main()
