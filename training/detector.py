"""``likeness detector train``: build the companion classifier's dataset with our generator, then train.

    $ likeness detector train --data ../shared/data/clips --out var/detector
    $ detect clip.mp4 --model var/detector/model/companion.json

For each real clip of ``--data`` (the first ``--seconds`` of it) the generator makes synthetic
*twins* from the clip's own frames and audio: twin A from its first frame with its own audio and
default controls; twin B from its middle frame with another clip's audio and random controls
(emotion, intensity, gaze, zoom). A clip whose audio is silent or missing (peak loudness — the
90th percentile of 20 ms RMS — under −40 dBFS) borrows the audio of the next audible clip in
name order; when no clip is audible, espeak-ng speaks a fixed sentence. The twins are never
written as video: their frames are cropped in memory (:mod:`detector.dataset`), so the
classifier learns the generator's traces on the same people, not who they are. This module
lives in ``training`` because it joins the generator and the detector, which must not import
each other (nothing imports ``training``; the ``likeness detector`` commands run it).

``--stills DIR`` (with ``--speech DIR``) adds synthetic sources with no real counterpart: the
generator driven by each portrait of DIR (resized by a random factor and re-saved as JPEG first,
so the source texture varies) with the speech files in turn. Twins made from video frames alone
taught the first model the texture of *these videos'* frames; faces generated from photographs
and paintings looked real to it (docs/detector.md). These sources are always in training, never
held out: the cross-validation still holds out real clips with their twins, so its false-alarm
numbers stay honest, and portraits kept out of ``DIR`` measure generalisation to unseen stills.

``likeness detector stack --model var/detector/model --data CLIPS`` (:func:`stack_model`; also
``python -m training.detector stack …``)
then fits the combined model (CNN logit + the frozen-texture cue of :mod:`detector.texture`) out of
fold: each clip and its twins, clean and under one random wild variant (in-memory codec round
trips), read by the fold CNN that never saw the clip (docs/detector.md).
"""

from __future__ import annotations

import logging
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from detector.classifier import Classifier
from detector.dataset import save_tracks, source_tracks
from detector.report import ClassifierEvidence
from generator import Controls, get_generator
from generator.motion import EMOTION_NAMES, GAZES
from likeness import LikenessError
from media import Audio, MediaError, iter_frames, probe_video, read_audio

logger = logging.getLogger(__name__)

AUDIBLE_DBFS = -40.0
DEFAULT_SECONDS = 12.0
SPOKEN = "The quick brown fox jumps over the lazy dog, and then it walks slowly back home again."


@dataclass
class RealClip:
    name: str
    frames: list[np.ndarray]
    fps: float
    audio: Audio | None  # None: missing or silent


def read_clip(path: Path, *, seconds: float) -> RealClip:
    """The first ``seconds`` of a clip: RGB frames, frame rate, and its audio when audible."""
    info = probe_video(path)
    count = max(1, round(seconds * info.fps))
    frames = list(iter_frames(path, max_frames=count))
    audio: Audio | None = None
    if info.has_audio:
        try:
            audio = read_audio(path).to_mono()
        except MediaError as exc:
            logger.warning("%s: audio unreadable (%s)", path.name, exc)
        if audio is not None and not audible(audio):
            audio = None
    return RealClip(name=path.stem, frames=frames, fps=info.fps, audio=audio)


def audible(audio: Audio) -> bool:
    """The 90th percentile of 20 ms RMS loudness is above ``AUDIBLE_DBFS``."""
    samples = audio.to_mono().samples[0]
    hop = max(1, audio.sample_rate // 50)
    usable = samples[: len(samples) // hop * hop].reshape(-1, hop)
    if usable.size == 0:
        return False
    rms = 20 * np.log10(np.sqrt((usable.astype(np.float64) ** 2).mean(axis=1)) + 1e-9)
    return bool(np.percentile(rms, 90) > AUDIBLE_DBFS)


def _trim(audio: Audio, *, seconds: float) -> Audio:
    """``audio`` cut to ``seconds``, or looped up to it."""
    need = round(seconds * audio.sample_rate)
    samples = audio.samples[0]
    if len(samples) < need:
        samples = np.tile(samples, int(np.ceil(need / max(1, len(samples)))))
    return Audio(samples=samples[:need].copy(), sample_rate=audio.sample_rate)


def make_twins(clip: RealClip, *, donors: list[Audio], index: int, seed: int) -> list[tuple[str, list[np.ndarray]]]:
    """Twin A (first frame, own audio or a donor's) and twin B (middle frame, another donor, random controls)."""
    generator = get_generator("default")
    rng = np.random.default_rng([seed, index])
    seconds = len(clip.frames) / clip.fps
    own = clip.audio if clip.audio is not None else donors[index % len(donors)]
    other = donors[(index + 1) % len(donors)]
    controls_b = Controls(
        # an index drawn by rng.choice(n) is the same draw as rng.choice of an n-item list
        emotion=EMOTION_NAMES[int(rng.choice(len(EMOTION_NAMES)))],
        intensity=float(rng.uniform(0.6, 1.6)), gaze=GAZES[int(rng.choice(len(GAZES)))],
        zoom=float(rng.uniform(0.9, 1.15)), seed=int(rng.integers(1 << 30)),
    )
    plans = [("twinA", clip.frames[0], own, Controls(seed=int(rng.integers(1 << 30)))),
             ("twinB", clip.frames[len(clip.frames) // 2], other, controls_b)]
    twins = []
    for name, portrait, audio, controls in plans:
        generation = generator.prepare(portrait, _trim(audio, seconds=seconds), controls=controls, fps=clip.fps)
        twins.append((name, list(generation.frames())))
    return twins


def still_sources(
    stills: list[Path], *, speech: list[Path], seed: int, seconds: float = 8.0, per_still: int = 2
) -> list[tuple[str, list[np.ndarray]]]:
    """Generated clips from portraits (a random resize and JPEG pass first), ``per_still`` speech files each."""
    import cv2

    from media import read_image

    generator = get_generator("default")
    out = []
    for index, still in enumerate(stills):
        rng = np.random.default_rng([seed, 1000 + index])
        image = read_image(still)
        for k in range(per_still):
            factor = float(rng.uniform(0.7, 1.3))
            size = (max(64, round(image.shape[1] * factor)), max(64, round(image.shape[0] * factor)))
            resized = cv2.resize(image, size, interpolation=cv2.INTER_AREA if factor < 1 else cv2.INTER_CUBIC)
            ok, jpeg = cv2.imencode(".jpg", resized, [cv2.IMWRITE_JPEG_QUALITY, int(rng.integers(60, 96))])
            portrait = cv2.imdecode(jpeg, cv2.IMREAD_UNCHANGED) if ok else resized
            audio = _trim(read_audio(speech[(index + k) % len(speech)]).to_mono(), seconds=seconds)
            controls = Controls(emotion=EMOTION_NAMES[int(rng.choice(3))],  # neutral, happy or sad
                                intensity=float(rng.uniform(0.7, 1.4)), seed=int(rng.integers(1 << 30)))
            try:
                frames = list(generator.prepare(portrait, audio, controls=controls).frames())
            except LikenessError as exc:
                logger.warning("%s: no generated clip (%s)", still.name, exc)
                continue
            out.append((f"still-{still.stem}-{k}", frames))
    return out


def _donors(clips: list[RealClip], *, work: Path) -> list[Audio]:
    donors = [clip.audio for clip in clips if clip.audio is not None]
    if donors:
        return donors
    from speech import synthesise_speech

    return [read_audio(synthesise_speech(SPOKEN, dest=work / "speech.wav")).to_mono()]


def build_dataset(
    data: Path,
    *,
    out: Path,
    seconds: float = DEFAULT_SECONDS,
    seed: int = 0,
    stills: Path | None = None,
    speech: Path | None = None,
    progress: Callable[[str], None] | None = None,
) -> Path:
    """Crops of every clip in ``data`` and of its two twins (and of clips generated from ``stills``),
    under every variant, saved to ``out``."""
    paths = sorted(p for p in data.iterdir() if p.suffix.lower() in {".mp4", ".mov", ".mkv", ".webm"})
    if len(paths) < 2:
        raise LikenessError(f"{data} holds {len(paths)} video clips; at least 2 are needed to train")
    if (out / "index.json").exists():
        raise LikenessError(f"{out} already holds a dataset; choose another --out or remove it")
    clips = [read_clip(path, seconds=seconds) for path in paths]
    with tempfile.TemporaryDirectory() as work:
        donors = _donors(clips, work=Path(work))
    for index, clip in enumerate(clips):
        rng = np.random.default_rng([seed, index, 0])
        if progress:
            progress(f"{clip.name}: real frames")
        tracks = source_tracks(clip.frames, name=clip.name, clip=clip.name, label=0, fps=clip.fps, rng=rng)
        for twin_name, frames in make_twins(clip, donors=donors, index=index, seed=seed):
            if progress:
                progress(f"{clip.name}: {twin_name}")
            tracks += source_tracks(frames, name=f"{clip.name}-{twin_name}", clip=clip.name, label=1, fps=clip.fps,
                                    rng=rng, synthetic_release=True)
        save_tracks(tracks, folder=out)
    if stills is not None:
        add_stills(out, stills=stills, speech=speech, seed=seed, progress=progress)
    return out


def add_stills(
    out: Path, *, stills: Path, speech: Path | None, seed: int = 0, progress: Callable[[str], None] | None = None
) -> None:
    """Append generated clips from the portraits in ``stills`` (speech from ``speech``) to the dataset ``out``."""
    portraits = sorted(p for p in stills.iterdir() if p.suffix.lower() in {".jpg", ".jpeg", ".png", ".webp"})
    voices = sorted(p for p in (speech or stills).iterdir() if p.suffix.lower() in {".wav", ".mp3", ".flac", ".m4a"})
    if not portraits or not voices:
        raise LikenessError(f"--stills needs portraits in {stills} and speech files in {speech or stills}")
    for index, (name, frames) in enumerate(still_sources(portraits, speech=voices, seed=seed)):
        if progress:
            progress(name)
        rng = np.random.default_rng([seed, 2000 + index])
        save_tracks(source_tracks(frames, name=name, clip=f"still:{name}", label=1, fps=25.0, rng=rng,
                                  synthetic_release=True), folder=out)


# --- the combined model (CNN logit + frozen-texture cue), fitted out of fold on files -------------------


def fold_card(card_path: Path, *, onnx_path: Path, work: Path, stacking: dict | None) -> Path:
    """A card for a fold's network: the final card's geometry, thresholds and temperature, the fold's own
    file (hash) and combined model (``stacking``: None for the CNN alone)."""
    import hashlib
    import json
    import shutil

    card = json.loads(card_path.read_text())
    target = work / f"card-{onnx_path.stem}"
    target.mkdir(parents=True, exist_ok=True)
    shutil.copy(onnx_path, target / onnx_path.name)
    card.update(file=onnx_path.name, sha256=hashlib.sha256(onnx_path.read_bytes()).hexdigest(), stacking=stacking)
    (target / "card.json").write_text(json.dumps(card))
    return target / "card.json"


def stacking_sources(
    clips: list[RealClip], *, donors: list[Audio], index: int, seed: int,
) -> list[dict]:
    """One real clip (``clips[index]``) and its two twins, clean (twins: H.264 CRF 20, what the release path
    writes, without marks) and under one random wild variant (0.5–0.8× downscale, H.264 CRF 23–35), as
    decoded frames: ``[{kind, label, condition, frames}]``. Every encode is an in-memory codec round trip:
    no unmarked generated video is ever written (the release path is the only writer of video)."""
    from detector import wild_copy

    clip = clips[index]
    rng = np.random.default_rng([seed, index, 7])
    sources = [("real", 0, clip.frames), *((name, 1, frames) for name, frames in
                                            make_twins(clip, donors=donors, index=index, seed=seed))]
    entries = []
    for kind, label, frames in sources:
        clean = frames if label == 0 else wild_copy(frames, crf=20, fps=clip.fps)
        factor, crf = float(rng.uniform(0.5, 0.8)), int(rng.integers(23, 36))
        wild = wild_copy(frames, factor=factor, crf=crf, fps=clip.fps)
        entries += [{"kind": kind, "label": label, "condition": "clean", "frames": clean},
                    {"kind": kind, "label": label, "condition": f"x{factor:.2f}-crf{crf}", "frames": wild}]
    return entries


def score_frames(classifier: Classifier, frames: list[np.ndarray], *, fps: float) -> ClassifierEvidence:
    """The classifier's evidence on decoded frames, with the frozen-texture cue measured (``detect`` on a file)."""
    run = classifier.start(frame_count=len(frames), fps=fps, texture=True)
    for index, frame in enumerate(frames):
        if run.wants(index):
            run.add(index, frame)
    return run.finish()


def stack_model(
    model_dir: Path, *, data: Path, seconds: float = DEFAULT_SECONDS, seed: int = 0, work: Path | None = None,
    form: str = "tied", cue: str = "always", progress: Callable[[str], None] | None = None,
) -> Path:
    """Fit the combined model of ``model_dir`` (the ``--out/model`` of ``train``) out of fold and update its card.

    Each fold's network (``folds/foldN.onnx``) scores the clips it never saw and their twins, clean and
    wild (:func:`stacking_sources`, decoded frames from in-memory encodes: no unmarked video is written);
    :func:`detector.stacking.nested_stacking` fits one combined model per fold without that fold's rows
    (saved in ``foldN.json`` for the file-level evaluation); the temperature and the
    ``likely-synthetic`` threshold are refitted on those held-out combined logits; the shipped combined
    model is fitted on every row. ``work`` keeps the scored rows (``rows.json``) and reuses them when
    present. ``form`` is the combined model's form (:func:`detector.stacking.fit_stacking`: ``tied``, equal
    weight on the two standardised cues, or ``free``). ``cue="always"`` (the default) combines; ``"auto"``
    keeps the combination only when its held-out AUC on these rows beats the fold CNNs' own logits on the same
    rows, otherwise the card stays the CNN alone (``stacking`` null, its own temperature and threshold);
    ``"never"`` keeps the CNN alone. The comparison is recorded either way (``stacking_fit``). Returns the card's path.
    """
    import datetime as dt
    import json

    from detector.metrics import auc, brier, tpr_at_fpr
    from detector.stacking import L2, fit_stacking, nested_stacking
    from detector.train import fit_temperature

    card_path = model_dir / "companion.json"
    folds = sorted((model_dir / "folds").glob("fold*.json"), key=lambda p: int(p.stem[4:]) if p.stem[4:].isdigit()
                   else 0)
    folds = [f for f in folds if f.stem[4:].isdigit()]
    if not folds:
        raise LikenessError(f"{model_dir / 'folds'} holds no fold models: train with cross-validation first")
    rows: list[dict] = []
    cached = work / "rows.json" if work is not None else None
    if cached is not None and cached.exists():
        rows = json.loads(cached.read_text())
    if not rows:
        paths = sorted(p for p in data.iterdir() if p.suffix.lower() in {".mp4", ".mov", ".mkv", ".webm"})
        clips = [read_clip(path, seconds=seconds) for path in paths]
        index_of = {clip.name: i for i, clip in enumerate(clips)}
        with tempfile.TemporaryDirectory(prefix="likeness-stacking-") as tmp:
            scratch = Path(tmp)
            donors = _donors(clips, work=scratch)
            for fold in folds:
                held = json.loads(fold.read_text())["held_out"]
                classifier = Classifier.load(fold_card(card_path, onnx_path=fold.with_suffix(".onnx"), work=scratch,
                                                       stacking=None))
                for clip_name in held:
                    if clip_name not in index_of:
                        continue
                    clip = clips[index_of[clip_name]]
                    for entry in stacking_sources(clips, donors=donors, index=index_of[clip_name], seed=seed):
                        c = score_frames(classifier, entry["frames"], fps=clip.fps)
                        if c.cnn_logit is None:
                            continue
                        rows.append({"clip": clip_name, "fold": fold.stem, "kind": entry["kind"],
                                     "label": entry["label"], "condition": entry["condition"],
                                     "cnn_logit": c.cnn_logit, "texture": c.frozen_texture})
                        if progress:
                            progress(f"{fold.stem} {clip_name} {entry['kind']} {entry['condition']}: CNN logit "
                                     f"{c.cnn_logit:+.2f}, frozen texture {c.frozen_texture}")
    if cached is not None and not cached.exists():
        cached.parent.mkdir(parents=True, exist_ok=True)
        cached.write_text(json.dumps(rows))
    nested = nested_stacking([{**r, "group": r["fold"]} for r in rows], group="group", form=form)
    held_rows = nested["rows"]
    logits = np.array([r["logit"] for r in held_rows])
    labels = np.array([r["label"] for r in held_rows])
    cnn_logits = np.array([r["cnn_logit"] for r in held_rows])
    temperature = fit_temperature(logits, labels=labels)
    probs = 1 / (1 + np.exp(-logits / temperature))
    combined_auc, cnn_auc = auc(labels, probs), auc(labels, cnn_logits)
    use_cue = {"auto": combined_auc > cnn_auc, "always": True, "never": False}[cue]
    for fold in folds:
        meta = json.loads(fold.read_text())
        meta["stacking"] = nested["models"][fold.stem].to_dict() if use_cue else None
        fold.write_text(json.dumps(meta))
    (model_dir / "folds" / "stacking_rows.json").write_text(json.dumps(held_rows, indent=1))
    card = json.loads(card_path.read_text())
    calibration = card["calibration"]
    cnn_temperature = calibration.get("cnn_only_temperature", calibration["temperature"])
    cnn_likely = calibration.get("cnn_only_likely_synthetic", card["thresholds"]["likely_synthetic"])
    card["stacking_fit"] = {
        "form": form, "l2": L2, "rows": len(rows), "cue": cue,
        "chosen": "combined" if use_cue else "cnn-alone",
        "held_out_auc": {"combined": round(combined_auc, 4), "cnn_alone": round(cnn_auc, 4)},
        "method": "penalised logistic regression on the standardised CNN logit and cue"
                  + (" added with equal weight (the cue's sign flipped): only the common scale and the bias are "
                     "fitted" if form == "tied" else ", one weight each"),
    }
    if use_cue:
        top_real = float(probs[labels == 0].max())
        card["stacking"] = fit_stacking(rows, form=form).to_dict()
        card["architecture"]["combined"] = (
            "window logit = bias + cnn × CNN window logit + texture × the clip's frozen-texture cue (detector.texture: "
            "log of the background's motion-compensated high-pass change over its level; median over ≤ 8 windows)")
        card["calibration"] = {
            "method": "temperature scaling of the combined clip logit",
            "temperature": round(temperature, 4),
            "fitted_on": "held-out combined logits: each fold's CNN on the files of the clips it never saw, combined "
                         "by a model fitted without them (clean and one 0.5–0.8× + CRF 23–35 variant per file)",
            "cnn_only_temperature": cnn_temperature,
            "cnn_only_likely_synthetic": cnn_likely,
        }
        card["thresholds"]["likely_synthetic"] = round(max(0.9, min(0.99, top_real + 0.01)), 4)
    else:  # the CNN alone, as train() calibrated it
        card["stacking"] = None
        card["architecture"].pop("combined", None)
        card["calibration"] = {"method": "temperature scaling of the clip logit (mean of window logits)",
                               "temperature": cnn_temperature,
                               "fitted_on": "out-of-fold clip logits of the cross-validation (every variant)"}
        card["thresholds"]["likely_synthetic"] = cnn_likely
    card.setdefault("evaluation", {})["combined_file_level"] = {
        "date": dt.date.today().isoformat(),
        "rows": {"real": int((labels == 0).sum()), "synthetic": int((labels == 1).sum())},
        "auc": round(combined_auc, 4), "tpr_at_1pct_fpr": round(tpr_at_fpr(labels, probs, fpr=0.01), 4),
        "brier": round(brier(labels, probs), 4),
        "cnn_only_auc": round(cnn_auc, 4),
        "texture_only_auc": round(auc(labels, -np.array([r["texture"] if r["texture"] is not None else 0.0
                                                         for r in held_rows])), 4),
    }
    card_path.write_text(json.dumps(card, indent=2, ensure_ascii=False) + "\n")
    return card_path


def main(argv: list[str] | None = None) -> None:
    """``python -m training.detector stack --model DIR --data CLIPS``: fit the combined model
    (``likeness detector stack`` is the same)."""
    import argparse

    parser = argparse.ArgumentParser(prog="python -m training.detector")
    sub = parser.add_subparsers(dest="command", required=True)
    stack = sub.add_parser("stack", help="fit the combined model (CNN + frozen texture) of a trained model folder")
    stack.add_argument("--model", type=Path, required=True, help="the --out/model folder of `likeness detector train`")
    stack.add_argument("--data", type=Path, required=True, help="the real clips the model was trained on")
    stack.add_argument("--seconds", type=float, default=DEFAULT_SECONDS)
    stack.add_argument("--seed", type=int, default=0)
    stack.add_argument("--work", type=Path, default=None, help="keep (and reuse) the scored rows here")
    stack.add_argument("--form", choices=("tied", "free"), default="tied",
                       help="tied: equal weight on the standardised cues (default); free: one weight each (v2.0)")
    stack.add_argument("--cue", choices=("always", "auto", "never"), default="always",
                       help="always (default): combine; auto: only if it beats the CNN alone on the held-out rows")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    print(stack_model(args.model, data=args.data, seconds=args.seconds, seed=args.seed, work=args.work,  # noqa: T201
                      form=args.form, cue=args.cue, progress=lambda line: print(line, flush=True)))  # noqa: T201


if __name__ == "__main__":
    main()
