"""Train the companion classifier from a built dataset: cross-validate, calibrate, export ONNX and its card.

    $ likeness detector train --data ../shared/data/clips --out var/detector    # builds the dataset, then this
    $ python -m detector.train --tracks var/detector/dataset --out var/detector/model

>>> from detector.train import TrainConfig, fit_temperature
>>> TrainConfig().steps, TrainConfig().batch
(250, 32)
>>> import numpy as np
>>> round(fit_temperature(np.array([-4.0, -2.0, 1.0, 3.0]), labels=np.array([0, 1, 0, 1])), 2) > 1
True

Training (:func:`train_model`) samples windows of ``window`` consecutive frames, half real, half
synthetic, from random tracks (variants of each source, :mod:`detector.dataset`), at frame
stride 1 or 2 (frame-rate change), and augments each window: a random crop inside the stored
margin (small shifts and crops), horizontal flip, brightness/contrast/gamma, and now and then a
blur or per-frame JPEG. Loss: binary cross-entropy on the window logit plus a smaller term on
each frame's logit. AdamW with a cosine schedule, from scratch (no pretrained weights).

Calibration (:func:`cross_validate`): the clips are split into folds (leave one clip out up to
ten clips, five folds above), each clip's real and synthetic tracks held out together
(synthetic-only sources, such as clips generated from stills, are in every fold's training); a
model trained on the other folds scores the held-out tracks exactly as ``detect`` windows a clip.
The temperature is fitted to those out-of-fold clip logits (negative log-likelihood), and the
``likely-synthetic`` threshold is set above every out-of-fold real score (and at least 0.9).
The final model is trained on every clip, exported to ONNX (opset 17, IR ≤ 10, inputs uint8
crops) and described by a JSON card: its SHA-256, the data, the split, the cross-validated
metrics, the limits. The fold models are kept (``folds/``) for file-level evaluation (bench/).
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import hashlib
import io
import json
import logging
import math
import time
import warnings
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import torch
import torch.nn.functional as F

from detector._align import CropGeometry
from detector.classifier import plan_windows
from detector.dataset import Track, load_tracks
from detector.metrics import auc, brier, tpr_at_fpr
from detector.model import INPUTS, CompanionNet

logger = logging.getLogger(__name__)

MODEL_NAME = "likeness-companion"
ONNX_OPSET = 17
MAX_IR_VERSION = 10  # onnxruntime-gpu rejects IR 14 (DESIGN.md)
MIN_INTEROCULAR_PX = 30.0
MIN_SECONDS = 1.0
MAX_WINDOWS = 20
FRAME_RATE = 25.0


@dataclass(frozen=True)
class TrainConfig:
    steps: int = 250
    batch: int = 32
    lr: float = 2e-3
    weight_decay: float = 1e-2
    window: int = 8
    frame_loss: float = 0.3
    seed: int = 0
    inputs: str = "residual"  # detector.model.INPUTS: what each frame enters the network as


class WindowSampler:
    """Random augmented windows from tracks, balanced between the classes."""

    def __init__(self, tracks: Sequence[Track], *, geometry: CropGeometry, window: int, rng: np.random.Generator):
        self.geometry, self.window, self.rng = geometry, window, rng
        self.by_label: dict[int, list[tuple[Track, dict[int, np.ndarray]]]] = {0: [], 1: []}
        for track in tracks:
            starts = {s: self._starts(track.valid, stride=s) for s in (1, 2)}
            if len(starts[1]):
                self.by_label[track.label].append((track, starts))
        if not self.by_label[0] or not self.by_label[1]:
            raise ValueError("training needs windows of both real and synthetic tracks")

    def _starts(self, valid: np.ndarray, *, stride: int) -> np.ndarray:
        span = (self.window - 1) * stride + 1
        if len(valid) < span:
            return np.zeros(0, int)
        ok = np.ones(len(valid) - span + 1, bool)
        for k in range(self.window):
            ok &= valid[k * stride: k * stride + len(ok)]
        return np.flatnonzero(ok)

    def batch(self, size: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        g, rng = self.geometry, self.rng
        faces = np.empty((size, self.window, g.face_size, g.face_size, 3), np.uint8)
        mouths = np.empty((size, self.window, g.mouth_size, g.mouth_size, 3), np.uint8)
        labels = np.zeros(size, np.float32)
        for b in range(size):
            label = b % 2
            track, starts = self.by_label[label][rng.integers(len(self.by_label[label]))]
            stride = 2 if rng.random() < 0.3 and len(starts[2]) else 1
            start = int(rng.choice(starts[stride]))
            index = start + stride * np.arange(self.window)
            faces[b] = self._augment(np.asarray(track.face[index]), size=g.face_size)
            mouths[b] = self._augment(np.asarray(track.mouth[index]), size=g.mouth_size)
            labels[b] = label
        self._photometric(faces, mouths)
        return faces, mouths, labels

    def _augment(self, crops: np.ndarray, *, size: int) -> np.ndarray:
        rng = self.rng
        room = crops.shape[1] - size
        dy, dx = rng.integers(0, room + 1, 2)
        out = crops[:, dy:dy + size, dx:dx + size]
        if rng.random() < 0.5:
            out = out[:, :, ::-1]
        out = np.ascontiguousarray(out)
        if rng.random() < 0.15:
            sigma = float(rng.uniform(0.3, 1.0))
            out = np.stack([cv2.GaussianBlur(f, (0, 0), sigma) for f in out])
        if rng.random() < 0.2:
            quality = int(rng.integers(40, 91))
            out = np.stack([cv2.imdecode(cv2.imencode(".jpg", f, [cv2.IMWRITE_JPEG_QUALITY, quality])[1],
                                         cv2.IMREAD_UNCHANGED) for f in out])
        return out

    def _photometric(self, faces: np.ndarray, mouths: np.ndarray) -> None:
        rng = self.rng
        x = np.arange(256) / 255.0
        for b in range(len(faces)):
            gamma, gain, bias = rng.uniform(0.8, 1.25), rng.uniform(0.8, 1.2), rng.uniform(-0.08, 0.08)
            lut = np.clip((x ** gamma * gain + bias) * 255 + 0.5, 0, 255).astype(np.uint8)
            faces[b] = lut[faces[b]]
            mouths[b] = lut[mouths[b]]


def train_model(
    tracks: Sequence[Track],
    *,
    config: TrainConfig,
    geometry: CropGeometry,
    log: Callable[[str], None] | None = None,
) -> CompanionNet:
    """A network trained from scratch on ``tracks``."""
    torch.manual_seed(config.seed)
    rng = np.random.default_rng(config.seed)
    sampler = WindowSampler(tracks, geometry=geometry, window=config.window, rng=rng)
    net = CompanionNet(inputs=config.inputs)
    optimiser = torch.optim.AdamW(net.parameters(), lr=config.lr, weight_decay=config.weight_decay)
    warmup = max(1, config.steps // 20)

    def rate(step: int) -> float:
        if step < warmup:
            return (step + 1) / warmup
        return 0.5 * (1 + math.cos(math.pi * (step - warmup) / max(1, config.steps - warmup)))

    schedule = torch.optim.lr_scheduler.LambdaLR(optimiser, rate)
    net.train()
    started, running = time.perf_counter(), []
    for step in range(config.steps):
        face, mouth, labels = sampler.batch(config.batch)
        window_logit, frame_logit = net(torch.from_numpy(face), torch.from_numpy(mouth))
        target = torch.from_numpy(labels)
        loss = F.binary_cross_entropy_with_logits(window_logit, target)
        loss = loss + config.frame_loss * F.binary_cross_entropy_with_logits(
            frame_logit, target[:, None].expand_as(frame_logit))
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()
        schedule.step()
        running.append(loss.item())
        if log and (step + 1) % 50 == 0:
            log(f"step {step + 1}/{config.steps}  loss {np.mean(running[-50:]):.3f}  "
                f"{time.perf_counter() - started:.0f} s")
    return net.eval()


@torch.no_grad()
def track_window_logits(net: CompanionNet, track: Track, *, geometry: CropGeometry, window: int) -> np.ndarray:
    """The logits of the windows ``detect`` would read in this track (those with a face throughout)."""
    step, starts = plan_windows(len(track), fps=track.fps, window=window, frame_rate=FRAME_RATE,
                                max_windows=MAX_WINDOWS)
    usable = []
    for s in starts:
        index = s + step * np.arange(window)
        if track.valid[index].all() and (track.scale[index] >= MIN_INTEROCULAR_PX).all():
            usable.append(index)
    if not usable:
        return np.zeros(0)
    fo = (track.face.shape[1] - geometry.face_size) // 2
    mo = (track.mouth.shape[1] - geometry.mouth_size) // 2
    face = np.stack([track.face[i][:, fo:fo + geometry.face_size, fo:fo + geometry.face_size] for i in usable])
    mouth = np.stack([track.mouth[i][:, mo:mo + geometry.mouth_size, mo:mo + geometry.mouth_size] for i in usable])
    logits, _ = net(torch.from_numpy(face), torch.from_numpy(mouth))
    return logits.numpy().astype(np.float64)


def clip_folds(clips: Sequence[str], *, folds: int | None = None) -> list[list[str]]:
    """Groups of clips held out together: one clip each up to ten clips (or ``folds`` groups)."""
    names = sorted(set(clips))
    count = folds or (len(names) if len(names) <= 10 else 5)
    return [names[i::count] for i in range(count)]


def cross_validate(
    tracks: Sequence[Track],
    *,
    config: TrainConfig,
    geometry: CropGeometry,
    folds: int | None = None,
    folds_dir: Path | None = None,
    log: Callable[[str], None] | None = None,
) -> list[dict[str, Any]]:
    """Out-of-fold window logits for every track (its clip held out with its twins)."""
    rows = []
    # Folds over clips with real footage; synthetic-only sources (generated from stills) always train.
    for number, held in enumerate(clip_folds([t.clip for t in tracks if t.label == 0], folds=folds), start=1):
        if log:
            log(f"fold {number}: holding out {', '.join(held)}")
        train = [t for t in tracks if t.clip not in held]
        net = train_model(train, config=config, geometry=geometry, log=log)
        if folds_dir is not None:
            folds_dir.mkdir(parents=True, exist_ok=True)
            export_onnx(net, folds_dir / f"fold{number}.onnx", geometry=geometry, window=config.window)
            (folds_dir / f"fold{number}.json").write_text(json.dumps({"held_out": held}))
        for track in tracks:
            if track.clip in held:
                logits = track_window_logits(net, track, geometry=geometry, window=config.window)
                rows.append({"track": track.name, "clip": track.clip, "label": track.label,
                             "variant": track.variant, "fold": number, "window_logits": logits.round(4).tolist(),
                             "logit": float(logits.mean()) if len(logits) else None})
    return rows


def fit_temperature(logits: np.ndarray, *, labels: np.ndarray) -> float:
    """The temperature minimising the negative log-likelihood of ``labels`` (searched on 0.25–50)."""
    logits, labels = np.asarray(logits, np.float64), np.asarray(labels, np.float64)
    grid = np.exp(np.linspace(np.log(0.25), np.log(50.0), 800))
    z = logits[None, :] / grid[:, None]
    nll = (np.logaddexp(0, z) - labels[None, :] * z).mean(axis=1)
    return float(grid[int(np.argmin(nll))])


def summarise(rows: Sequence[dict[str, Any]], *, temperature: float) -> dict[str, Any]:
    """Clip-level metrics of out-of-fold rows, per variant and pooled."""
    usable = [r for r in rows if r["logit"] is not None]
    out: dict[str, Any] = {}
    for name in [*sorted({r["variant"] for r in usable}), "all"]:
        chosen = [r for r in usable if name in ("all", r["variant"])]
        labels = np.array([r["label"] for r in chosen])
        probs = 1 / (1 + np.exp(-np.array([r["logit"] for r in chosen]) / temperature))
        out[name] = {"real": int((labels == 0).sum()), "synthetic": int((labels == 1).sum()),
                     "auc": round(auc(labels, probs), 4),
                     "tpr_at_1pct_fpr": round(tpr_at_fpr(labels, probs, fpr=0.01), 4),
                     "brier": round(brier(labels, probs), 4)}
    return out


def export_onnx(net: CompanionNet, path: Path, *, geometry: CropGeometry, window: int) -> None:
    """The network as ONNX (opset 17, IR ≤ 10): uint8 crops in, window and frame logits out."""
    g = geometry
    face = torch.zeros(2, window, g.face_size, g.face_size, 3, dtype=torch.uint8)
    mouth = torch.zeros(2, window, g.mouth_size, g.mouth_size, 3, dtype=torch.uint8)
    buffer = io.BytesIO()
    with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()):
        warnings.simplefilter("ignore")
        torch.onnx.export(
            # torch annotates f as a path; its TorchScript exporter (dynamo=False) also writes to a file object
            net.eval(), (face, mouth), buffer,  # type: ignore[arg-type]
            dynamo=False, opset_version=ONNX_OPSET,
            input_names=["face", "mouth"], output_names=["window_logit", "frame_logit"],
            dynamic_axes={"face": {0: "windows", 1: "frames"}, "mouth": {0: "windows", 1: "frames"},
                          "window_logit": {0: "windows"}, "frame_logit": {0: "windows", 1: "frames"}},
        )
    import onnx

    model = onnx.load_from_string(buffer.getvalue())
    model.ir_version = min(model.ir_version, MAX_IR_VERSION)
    model.producer_name = MODEL_NAME
    onnx.checker.check_model(model)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(model.SerializeToString())


def write_card(
    onnx_path: Path,
    *,
    version: str,
    geometry: CropGeometry,
    config: TrainConfig,
    temperature: float,
    likely_synthetic: float,
    training: dict[str, Any],
    evaluation: dict[str, Any],
    limits: list[str],
) -> Path:
    """The model card beside ``onnx_path``: what the file is, how to use it, what it saw, how it scored."""
    blob = onnx_path.read_bytes()
    net = CompanionNet(inputs=config.inputs)
    seen = {"motion": "the frame difference", "residual": "the high-pass residual and the frame difference",
            "rgb": "the colours and the frame difference"}[config.inputs]
    card = {
        "name": MODEL_NAME,
        "version": version,
        "file": onnx_path.name,
        "sha256": hashlib.sha256(blob).hexdigest(),
        "bytes": len(blob),
        "format": {"onnx_opset": ONNX_OPSET, "ir_version_max": MAX_IR_VERSION,
                   "inputs": {"face": "uint8 [windows, frames, 128, 128, 3] RGB",
                              "mouth": "uint8 [windows, frames, 96, 96, 3] RGB"},
                   "outputs": {"window_logit": "float [windows]", "frame_logit": "float [windows, frames]"}},
        "architecture": {"description": f"per-frame face and mouth CNN streams on {seen} (4x4 stride-4 stem, 3x3 "
                                        "conv, 3 stride-2 stages, global average pooling), temporal 1-D "
                                        "convolution, mean over the window; trained from scratch (no pretrained "
                                        "weights)",
                         "inputs": config.inputs,
                         "parameters": sum(p.numel() for p in net.parameters())},
        "input": {"geometry": geometry.to_dict(), "window": config.window, "frame_rate": FRAME_RATE,
                  "max_windows": MAX_WINDOWS, "min_seconds": MIN_SECONDS,
                  "min_interocular_px": MIN_INTEROCULAR_PX},
        "calibration": {"method": "temperature scaling of the clip logit (mean of window logits)",
                        "temperature": round(temperature, 4),
                        "fitted_on": "out-of-fold clip logits of the cross-validation (every variant)"},
        "thresholds": {"likely_synthetic": round(likely_synthetic, 4), "not_detected": 0.5},
        "training": {**training, "config": asdict(config)},
        "evaluation": evaluation,
        "limits": limits,
    }
    card_path = onnx_path.with_suffix(".json")
    card_path.write_text(json.dumps(card, indent=2, ensure_ascii=False) + "\n")
    return card_path


DEFAULT_LIMITS = [
    "Trained on a handful of real clips and their twins: the numbers have wide uncertainty; see docs/detector.md.",
    "Knows only this platform's default generator: other generators, face swaps and edits are out of scope; "
    "a low score means 'no traces of our generator', not 'real'.",
    "One frontal-ish face, at least 30 px between the eyes, at least 1 s; otherwise 'undetermined'.",
    "Training twins are made from frames of the same videos as the real clips (same people, light, camera).",
]


def train(
    tracks_dir: Path,
    *,
    out: Path,
    config: TrainConfig | None = None,
    folds: int | None = None,
    version: str | None = None,
    data_description: str = "",
    log: Callable[[str], None] | None = None,
) -> Path:
    """Cross-validate, calibrate, train on everything, export: returns the card's path."""
    config = config or TrainConfig()
    geometry = CropGeometry()
    tracks = load_tracks(tracks_dir)
    clips = sorted({t.clip for t in tracks if t.label == 0})
    started = time.perf_counter()
    out.mkdir(parents=True, exist_ok=True)
    temperature, likely = 1.0, 0.9
    evaluation: dict[str, Any] = {"note": "not cross-validated (--folds 0)"}
    if folds != 0:
        rows = cross_validate(tracks, config=config, geometry=geometry, folds=folds, folds_dir=out / "folds", log=log)
        (out / "folds" / "out_of_fold.json").write_text(json.dumps(rows))
        usable = [r for r in rows if r["logit"] is not None]
        temperature = fit_temperature(np.array([r["logit"] for r in usable]),
                                      labels=np.array([r["label"] for r in usable]))
        real = np.array([r["logit"] for r in usable if r["label"] == 0])
        top_real = float(1 / (1 + np.exp(-real.max() / temperature))) if len(real) else 0.0
        likely = max(0.9, min(0.99, top_real + 0.01))
        evaluation = {
            "method": f"cross-validation over clips ({len(clip_folds(clips, folds=folds))} folds), each clip held "
                      "out with its twins; clip-level scores of the held-out tracks (crops made in memory, "
                      "see bench/detector_eval.py for the file-level evaluation)",
            "clip_level": summarise(rows, temperature=temperature),
        }
    net = train_model(tracks, config=config, geometry=geometry, log=log)
    onnx_path = out / "companion.onnx"
    export_onnx(net, onnx_path, geometry=geometry, window=config.window)
    counts = {label: sum(1 for t in tracks if t.label == label) for label in (0, 1)}
    training = {
        "date": dt.date.today().isoformat(),
        "data": data_description or str(tracks_dir),
        "clips": clips,
        "synthetic_only_sources": sorted({t.clip for t in tracks if t.clip not in clips}),
        "tracks": {"real": counts[0], "synthetic": counts[1]},
        "frames": int(sum(int(t.valid.sum()) for t in tracks)),
        "variants": sorted({t.variant for t in tracks}),
        "seconds": round(time.perf_counter() - started, 1),
        "torch": torch.__version__,
    }
    return write_card(onnx_path, version=version or dt.date.today().strftime("%Y.%m.%d"), geometry=geometry,
                      config=config, temperature=temperature, likely_synthetic=likely, training=training,
                      evaluation=evaluation, limits=DEFAULT_LIMITS)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m detector.train", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tracks", type=Path, required=True, help="a dataset built by `likeness detector train`")
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--folds", type=int, default=None, help="0: no cross-validation (temperature 1)")
    parser.add_argument("--steps", type=int, default=TrainConfig.steps)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--version", default=None)
    parser.add_argument("--inputs", choices=INPUTS, default=TrainConfig.inputs,
                        help="what each frame enters the network as (default: the high-pass residual and the frame "
                             "difference, as shipped)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    card = train(args.tracks, out=args.out, config=TrainConfig(steps=args.steps, seed=args.seed, inputs=args.inputs),
                 folds=args.folds,
                 version=args.version, log=logger.info)
    print(card)  # noqa: T201


if __name__ == "__main__":
    main()
