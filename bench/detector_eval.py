"""The companion classifier on files, leave-clips-out: AUC, TPR at 1 % FPR and Brier, clean and attacked.

    .venv/bin/python bench/detector_eval.py --model var/detector/model [--data ../shared/data] [--out DIR]

``--model`` is the output folder of ``likeness detector train``: its card (``companion.json``)
and the fold models it cross-validated (``folds/foldN.onnx`` + ``foldN.json`` naming the clips
each one never saw). For each fold, the held-out real clip (the whole file, as shipped) and its
two generator twins (made exactly as for training, written as H.264 CRF 20 veryfast — what the
release path writes — but without watermark or manifest) are read by ``detect``'s own classifier
path (``detector.analyse`` with the fold's ONNX model and the card's temperature), clean and after
``ffmpeg -vf scale=iw/2:ih/2 -c:v libx264 -crf 28`` (the issue's attack). Metrics are video-level,
with 90 % intervals from a bootstrap over clips (a clip and its twins resampled together), and
segment-level (3 consecutive windows ≈ 3 s) as a finer but correlated view.

Then the shipped model (``--shipped``, default the packaged card) on clips it never saw in any
form: the generator driven by the shared *portraits* that were not in its training (its card
lists the ones that were) and by Grace Hopper's photo, with English speech, clean and attacked;
and on every real clip (in-sample: the shipped model trained on them, so this is a regression
check, not evidence; the out-of-fold false alarms above are the evidence).
"""

from __future__ import annotations

import argparse
import json
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from detector import Classifier, analyse
from detector.classifier import DEFAULT_CARD
from detector.metrics import auc, bootstrap_by_group, brier, tpr_at_fpr
from generator import Controls, get_generator
from media import read_audio, read_image
from media.samples import default_portrait
from training.detector import DEFAULT_SECONDS, fold_card, make_twins, read_clip

FFMPEG = shutil.which("ffmpeg")



def write_mp4(path: Path, frames: list[np.ndarray], *, fps: float, crf: int = 20) -> Path:
    """``frames`` as an unmarked H.264 MP4 (libx264 veryfast, 4:2:0): what a release looks like once its marks
    are gone. Evaluation only: this bench plays the outsider who strips them; the product never writes
    unmarked video (the release path is its one writer)."""
    import av

    with av.open(str(path), mode="w") as container:
        stream = container.add_stream("libx264", rate=round(fps), options={"crf": str(crf), "preset": "veryfast"})
        stream.height, stream.width = frames[0].shape[0] // 2 * 2, frames[0].shape[1] // 2 * 2
        stream.pix_fmt = "yuv420p"
        for frame in frames:
            frame = np.ascontiguousarray(frame[: stream.height, : stream.width])
            container.mux(stream.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")))
        container.mux(stream.encode())
    return path

def attack(path: Path, work: Path) -> Path:
    """``path`` halved and re-encoded at CRF 28, written in ``work`` (never beside a source clip: the shared data
    directory is read by path only)."""
    out = work / f"{path.stem}-half-crf28.mp4"
    subprocess.run([FFMPEG, "-v", "error", "-y", "-i", str(path), "-vf", "scale=iw/2:ih/2", "-c:v", "libx264",
                    "-crf", "28", "-an", str(out)], check=True)
    return out


def fold_classifier(card_path: Path, fold_json: Path, work: Path) -> Classifier:
    """The fold's network and combined model (fitted without the fold's clips, ``foldN.json``) under the
    final card's geometry, thresholds and temperature."""
    stacking = json.loads(fold_json.read_text()).get("stacking")
    if json.loads(card_path.read_text()).get("stacking") and not stacking:
        sys.exit(f"{fold_json} has no combined model: run `likeness detector stack` first")
    return Classifier.load(fold_card(card_path, onnx_path=fold_json.with_suffix(".onnx"), work=work, stacking=stacking))


def score(path: Path, classifier: Classifier) -> dict:
    report = analyse(path, trust_anchors_pem=None, watermark_key=None, repository=None, classifier=classifier)
    c = report.classifier
    return {"score": c.score, "logit": c.logit, "cnn_logit": c.cnn_logit, "frozen_texture": c.frozen_texture,
            "verdict": c.verdict, "band": c.band, "windows": c.windows,
            "window_logits": [p["logit"] for p in c.curve], "reason": c.reason, "seconds": report.elapsed_s}


def metrics(rows: list[dict], *, temperature: float, segments: bool = True) -> dict:
    usable = [r for r in rows if r["logit"] is not None]
    labels = np.array([r["label"] for r in usable])
    probs = np.array([r["score"] for r in usable])
    groups = np.array([r["clip"] for r in usable])
    out = {"real": int((labels == 0).sum()), "synthetic": int((labels == 1).sum()),
           "undetermined": len(rows) - len(usable)}
    for name, fn in (("auc", auc), ("tpr_at_1pct_fpr", lambda y, s: tpr_at_fpr(y, s, fpr=0.01)), ("brier", brier)):
        out[name] = round(fn(labels, probs), 4)
        out[name + "_90ci"] = [round(v, 3) for v in bootstrap_by_group(labels, scores=probs, groups=groups, metric=fn)]
    if not segments:
        return out
    seg_labels, seg_probs, seg_groups = [], [], []
    for r in usable:  # segments of 3 consecutive windows
        w = np.array(r["window_logits"])
        for k in range(0, len(w) - 2, 3):
            seg_labels.append(r["label"])
            seg_probs.append(1 / (1 + np.exp(-w[k:k + 3].mean() / temperature)))
            seg_groups.append(r["clip"])
    seg_labels, seg_probs = np.array(seg_labels), np.array(seg_probs)
    out["segments"] = {"real": int((seg_labels == 0).sum()), "synthetic": int((seg_labels == 1).sum()),
                       "auc": round(auc(seg_labels, seg_probs), 4),
                       "auc_90ci": [round(v, 3) for v in bootstrap_by_group(seg_labels, scores=seg_probs,
                                                                            groups=np.array(seg_groups), metric=auc)],
                       "tpr_at_1pct_fpr": round(tpr_at_fpr(seg_labels, seg_probs, fpr=0.01), 4),
                       "brier": round(brier(seg_labels, seg_probs), 4)}
    out["likely_synthetic_on_real"] = sum(1 for r in usable if r["label"] == 0 and r["verdict"] == "likely-synthetic")
    out["likely_synthetic_on_synthetic"] = sum(1 for r in usable if r["label"] == 1 and
                                               r["verdict"] == "likely-synthetic")
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", type=Path, required=True, help="the --out/model folder of `likeness detector train`")
    parser.add_argument("--data", type=Path, default=Path(__file__).resolve().parents[2] / "shared" / "data")
    parser.add_argument("--shipped", type=Path, default=DEFAULT_CARD)
    parser.add_argument("--out", type=Path, default=Path(__file__).resolve().parent / "out" / "detector")
    parser.add_argument("--seconds", type=float, default=DEFAULT_SECONDS)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    if FFMPEG is None:
        sys.exit("the ffmpeg CLI is needed for the attack")
    args.out.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix="likeness-detector-eval-"))
    card_path = args.model / "companion.json"
    temperature = json.loads(card_path.read_text())["calibration"]["temperature"]
    started = time.perf_counter()

    clip_paths = sorted((args.data / "clips").glob("*.mp4"))
    clips = [read_clip(p, seconds=args.seconds) for p in clip_paths]
    donors = [c.audio for c in clips if c.audio is not None]
    files: dict[str, list[tuple[str, int, Path]]] = {}
    for index, (path, clip) in enumerate(zip(clip_paths, clips, strict=True)):
        entries = [("real", 0, path)]
        for twin_name, frames in make_twins(clip, donors=donors, index=index, seed=args.seed):
            entries.append((twin_name, 1, write_mp4(work / f"{clip.name}-{twin_name}.mp4", frames, fps=clip.fps)))
        files[clip.name] = entries
        print(f"twins of {clip.name} ready ({time.perf_counter() - started:.0f} s)", flush=True)

    rows: dict[str, list[dict]] = {"clean": [], "attacked": []}
    for fold_json in sorted((args.model / "folds").glob("fold*.json")):
        if fold_json.name == "out_of_fold.json":
            continue
        held = json.loads(fold_json.read_text())["held_out"]
        classifier = fold_classifier(card_path, fold_json, work)
        for clip in held:
            for kind, label, path in files[clip]:
                for condition, target in (("clean", path), ("attacked", attack(path, work))):
                    row = {"clip": clip, "kind": kind, "label": label, "fold": fold_json.stem,
                           **score(target, classifier)}
                    rows[condition].append(row)
                    print(f"{condition:8s} {clip:7s} {kind:6s} score {row['score']} ({row['verdict']})", flush=True)

    results: dict = {"machine": f"{platform.machine()} {platform.processor()} cpus={__import__('os').cpu_count()}",
                     "temperature": temperature, "rows": rows}
    results["out_of_fold"] = {c: metrics(rows[c], temperature=temperature) for c in rows}
    cnn_temperature = json.loads(card_path.read_text())["calibration"].get("cnn_only_temperature")
    if cnn_temperature:  # the same files through the CNN alone (the fold models, no texture cue): before/after
        cnn_rows = {c: [{**r, "logit": r["cnn_logit"], "score": None if r["cnn_logit"] is None else
                         float(1 / (1 + np.exp(-r["cnn_logit"] / cnn_temperature))),
                         "window_logits": []} for r in rs] for c, rs in rows.items()}
        results["out_of_fold_cnn_only"] = {c: metrics(cnn_rows[c], temperature=cnn_temperature, segments=False)
                                           for c in cnn_rows}

    shipped = Classifier.load(args.shipped)
    real_rows = []
    for path in clip_paths:
        copy = work / f"real-{path.name}"
        shutil.copy(path, copy)
        for condition, target in (("clean", path), ("attacked", attack(copy, work))):
            real_rows.append({"clip": path.stem, "condition": condition, **score(target, shipped)})
    results["shipped_on_real_in_sample"] = real_rows

    shipped_card = json.loads(args.shipped.read_text())
    trained = {name.split("still-", 1)[1].rsplit("-", 1)[0]
               for name in shipped_card["training"].get("synthetic_only_sources", []) if "still-" in name}
    portraits = [p for p in sorted((args.data / "portraits").glob("*")) if p.stem not in trained]
    portraits.append(default_portrait())  # Grace Hopper: never in any training set
    speech = [p for p in sorted((args.data / "speech").glob("*.wav")) if "chinese" not in p.name
              and "imagine" not in p.name]
    still_rows = []
    generator = get_generator("default")
    for index, portrait in enumerate(portraits):
        audio = read_audio(speech[index % len(speech)])
        frames = list(generator.prepare(read_image(portrait), audio, controls=Controls(seed=index)).frames())
        path = write_mp4(work / f"still-{portrait.stem}.mp4", frames[: 25 * 10], fps=25)
        for condition, target in (("clean", path), ("attacked", attack(path, work))):
            still_rows.append({"portrait": portrait.name, "condition": condition, **score(target, shipped)})
    results["shipped_on_stills"] = still_rows
    results["seconds"] = round(time.perf_counter() - started, 1)
    (args.out / "eval.json").write_text(json.dumps(results, indent=1))
    report(results)


def report(results: dict) -> None:
    print("\n## Leave-clips-out, video level (fold models on files)\n")
    print("| condition | real / synthetic videos | AUC (90% CI) | TPR @ 1% FPR (90% CI) | Brier (90% CI) | "
          "segments AUC | segments TPR@1%FPR | 'likely-synthetic' on real | on synthetic |")
    print("|---|---|---|---|---|---|---|---|---|")
    for condition, m in results["out_of_fold"].items():
        s = m["segments"]
        print(f"| {condition} | {m['real']} / {m['synthetic']} | {m['auc']:.3f} ({m['auc_90ci'][0]:.2f}–"
              f"{m['auc_90ci'][1]:.2f}) | {m['tpr_at_1pct_fpr']:.2f} ({m['tpr_at_1pct_fpr_90ci'][0]:.2f}–"
              f"{m['tpr_at_1pct_fpr_90ci'][1]:.2f}) | {m['brier']:.3f} ({m['brier_90ci'][0]:.3f}–"
              f"{m['brier_90ci'][1]:.3f}) | {s['auc']:.3f} ({s['real']}/{s['synthetic']}) | "
              f"{s['tpr_at_1pct_fpr']:.2f} | {m['likely_synthetic_on_real']} / {m['real']} | "
              f"{m['likely_synthetic_on_synthetic']} / {m['synthetic']} |")
    for condition, m in results.get("out_of_fold_cnn_only", {}).items():
        print(f"| {condition}, CNN alone | {m['real']} / {m['synthetic']} | {m['auc']:.3f} ({m['auc_90ci'][0]:.2f}–"
              f"{m['auc_90ci'][1]:.2f}) | {m['tpr_at_1pct_fpr']:.2f} | {m['brier']:.3f} ({m['brier_90ci'][0]:.3f}–"
              f"{m['brier_90ci'][1]:.3f}) | | | | |")
    print("\n## Per clip (out-of-fold score, verdict)\n")
    print("| clip | real clean | real attacked | twin A clean | twin A attacked | twin B clean | twin B attacked |")
    print("|---|---|---|---|---|---|---|")
    by = {(r["clip"], r["kind"], c): r for c, rs in results["rows"].items() for r in rs}
    for clip in sorted({r["clip"] for r in results["rows"]["clean"]}):
        cells = []
        for kind in ("real", "twinA", "twinB"):
            for c in ("clean", "attacked"):
                r = by.get((clip, kind, c))
                cells.append("—" if r is None else f"{r['score'] if r['score'] is not None else 'n/a'} {r['verdict']}"
                             f" (CNN {r['cnn_logit']}, texture {r['frozen_texture']})")
        print(f"| {clip} | " + " | ".join(cells) + " |")
    _shipped_table("Shipped model on generated clips from stills it never saw", results["shipped_on_stills"],
                   key="portrait")
    _shipped_table("Shipped model on the real clips (in-sample: trained on them)",
                   results["shipped_on_real_in_sample"], key="clip")
    print(f"\ntemperature {results['temperature']}; {results['seconds']} s; {results['machine']}")



def _shipped_table(title: str, rows: list[dict], *, key: str) -> None:
    """A section with one line per ``key`` (portrait or clip): the shipped model's score and verdict, clean and
    attacked."""
    print(f"\n## {title}\n")
    print(f"| {key} | clean | attacked |")
    print("|---|---|---|")
    for name in sorted({r[key] for r in rows}):
        cells = [next(f"{r['score']} {r['verdict']}" for r in rows if r[key] == name and r["condition"] == c)
                 for c in ("clean", "attacked")]
        print(f"| {name} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
