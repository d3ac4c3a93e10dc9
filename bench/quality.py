"""Quality harness for talking-face video, with no downloaded weights: our outputs against real clips.

Measured on the output itself with the landmark model (faces/), against the driving speech:

- lip-sync: Pearson r between mouth opening and the speech loudness envelope, best over lags of
  ±200 ms, and that lag (positive: the mouth follows the sound);
- viseme agreement: share of P/B/M phones whose centre frame has the mouth nearly closed, and of
  open vowels (AA AE AH AO AW AY) whose centre frame has it open wider than the clip's median
  (phones from pocketsphinx: aligned with a transcript where one is given, recognised otherwise);
- identity kept: landmark shape distance to the first frame after a similarity (Procrustes) fit,
  in % of the interocular distance (0 = the same geometry), and the identity embedding (dlib
  ResNet, faces.identity): mean cosine similarity of every second's frame to the reference face
  (the portrait for ours, the first frame for real clips), and the share of those frames that pass
  the calibrated same-person decision;
- blinks per minute (eye-openness dips below 55% of the clip's median);
- head motion: standard deviation of yaw, pitch and roll (degrees), and the correlation of head
  speed with loudness;
- jitter: frame-to-frame landmark noise (second difference of stable points) in % of interocular.

Rows: every portrait × speech pair of ``<shared data>`` rendered by the default generator (not
released: quality only), then the real clips of ``<shared data>/clips`` as the reference range.
A contact sheet (frames + the mouth/loudness curves) per clip goes to ``bench/out/quality/``.

With ``--live`` every pair is also rendered through a live session (:meth:`generator.Generator.live`,
20 ms chunks, the default 120 ms look-ahead; rows of kind ``live``) and a last table puts lip-sync r,
P/B/M closure and blinks per minute of the two paths side by side, pair by pair. ``--pairs`` picks
every N-th pair (so a short run still spans portraits and voices); ``--vasa1`` takes the held-out
pairs of ``<shared data>/vasa1_inputs`` (ref_N.jpg + speech_N.wav) instead.

    .venv/bin/python bench/quality.py [--data ../shared/data] [--seconds 8] [--limit N] [--live] [--pairs N]
"""

from __future__ import annotations

import argparse
import math
import platform
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from faces import FaceTracker, embed_face, get_identity_backend, head_pose, match
from faces import mesh as face_mesh
from generator import Controls, Generator, get_generator
from generator.speech import analyse_speech
from media import Audio, MediaError, iter_frames, probe_video, read_audio, read_image

OUT = Path(__file__).resolve().parent / "out" / "quality"
BILABIAL = {"P", "B", "M"}
OPEN_VOWELS = {"AA", "AE", "AH", "AO", "AW", "AY"}
STABLE = [33, 133, 362, 263, 168, 6, 197, 1]  # eye corners and the nose bridge: they move only with the head


@dataclass
class Metrics:
    name: str
    kind: str
    seconds: float
    tracked: float
    sync_r: float
    sync_lag_ms: float
    closure: float
    open_vowel: float
    identity_pct: float
    embed_sim: float
    embed_pass: float
    blinks_per_min: float
    head_std: tuple[float, float, float]
    head_speech_r: float
    jitter_pct: float


def loudness_envelope(audio: Audio, *, fps: float, n: int) -> np.ndarray:
    mono = audio.to_mono().samples[0]
    hop = audio.sample_rate / fps
    env = np.array([
        np.sqrt(np.mean(mono[int(i * hop): int((i + 1) * hop)] ** 2) + 1e-12) for i in range(n)
    ])
    db = 20 * np.log10(env + 1e-9)
    floor, top = np.percentile(db, 10), np.percentile(db, 98)
    return np.clip((db - floor) / max(top - floor, 1e-6), 0, 1)


def best_lag_corr(mouth: np.ndarray, loud: np.ndarray, *, fps: float) -> tuple[float, float]:
    best = (-1.0, 0.0)
    max_lag = round(0.2 * fps)
    for lag in range(-max_lag, max_lag + 1):
        a = mouth[max(lag, 0): len(mouth) + min(lag, 0)]
        b = loud[max(-lag, 0): len(loud) + min(-lag, 0)]
        if len(a) > 10 and a.std() > 0 and b.std() > 0:
            r = float(np.corrcoef(a, b)[0, 1])
            if r > best[0]:
                best = (r, lag * 1000.0 / fps)
    return best


def procrustes_distance(points: np.ndarray, reference: np.ndarray) -> float:
    a = points - points.mean(0)
    b = reference - reference.mean(0)
    scale_b = np.linalg.norm(b)
    a, b = a / np.linalg.norm(a), b / scale_b
    u, _, vt = np.linalg.svd(a.T @ b)
    aligned = a @ (u @ vt)
    return float(np.sqrt(np.mean(np.sum((aligned - b) ** 2, axis=1)))) * scale_b


IDENTITY = get_identity_backend("dlib")


def embedding_identity(frames: list[np.ndarray], reference: np.ndarray, *, fps: float) -> tuple[float, float]:
    ref = embed_face(reference, backend=IDENTITY, min_face_px=48)
    sims, passes = [], []
    for frame in frames[:: max(1, round(fps))]:
        result = match(embed_face(frame, backend=IDENTITY, min_face_px=48), reference=[ref],
                       calibration=IDENTITY.calibration)
        sims.append(result.similarity)
        passes.append(result.same_person)
    return float(np.mean(sims)), float(np.mean(passes))


def measure(name: str, kind: str, frames: list[np.ndarray], audio: Audio, *, fps: float,
            transcript: str | None, reference: np.ndarray) -> Metrics:
    tracker = FaceTracker()
    landmarks = [tracker.track(frame) for frame in frames]
    tracker.close()
    ok = [lm for lm in landmarks if lm is not None]
    n = len(frames)
    idx = [i for i, lm in enumerate(landmarks) if lm is not None]
    mouth = np.interp(np.arange(n), idx, [face_mesh.mouth_opening(lm) for lm in ok])
    eyes = np.interp(np.arange(n), idx, [np.mean(face_mesh.eye_openness(lm)) for lm in ok])
    poses = np.array([head_pose(lm) for lm in ok])
    pts = np.array([lm.points[:, :2] for lm in ok])
    iod = float(np.median([face_mesh.interocular(lm) for lm in ok]))
    loud = loudness_envelope(audio, fps=fps, n=n)
    sync_r, lag = best_lag_corr(mouth, loud, fps=fps)

    speech = analyse_speech(audio, fps=fps, transcript=transcript)
    closed_thr = np.percentile(mouth, 20)
    centres = lambda labels: [int(((p.start_s + p.end_s) / 2) * fps) for p in speech.phones if p.label in labels]  # noqa: E731
    bil = [c for c in centres(BILABIAL) if c < n]
    opn = [c for c in centres(OPEN_VOWELS) if c < n]
    closure = float(np.mean([mouth[c] <= closed_thr * 1.5 + 1e-3 for c in bil])) if bil else math.nan
    open_vowel = float(np.mean([mouth[c] > np.median(mouth) for c in opn])) if opn else math.nan

    identity = float(np.mean([procrustes_distance(p, pts[0]) for p in pts[:: max(1, len(pts) // 50)]])) / iod * 100
    dips = (eyes < 0.55 * np.median(eyes)).astype(int)
    blinks = int(np.sum(np.diff(dips) == 1))
    speed = np.r_[0, np.linalg.norm(np.diff(poses, axis=0), axis=1)]
    loud_tracked = loud[idx]
    head_r = float(np.corrcoef(speed, loud_tracked)[0, 1]) if speed.std() > 0 else math.nan
    stable = pts[:, STABLE]
    second = stable[2:] - 2 * stable[1:-1] + stable[:-2]
    jitter = float(np.mean(np.linalg.norm(second, axis=-1))) / iod * 100 if len(stable) > 2 else math.nan
    embed_sim, embed_pass = embedding_identity(frames, reference, fps=fps)
    contact_sheet(name, frames, mouth, loud, fps=fps)
    return Metrics(name, kind, n / fps, len(ok) / n, sync_r, lag, closure, open_vowel, identity, embed_sim,
                   embed_pass, blinks / (n / fps) * 60, tuple(poses.std(0)), head_r, jitter)


def contact_sheet(name: str, frames: list[np.ndarray], mouth: np.ndarray, loud: np.ndarray, *, fps: float) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    OUT.mkdir(parents=True, exist_ok=True)
    picks = np.linspace(0, len(frames) - 1, 8).astype(int)
    fig = plt.figure(figsize=(16, 6))
    for k, i in enumerate(picks):
        ax = fig.add_subplot(2, 8, k + 1)
        ax.imshow(frames[i])
        ax.set_title(f"{i / fps:.1f} s", fontsize=8)
        ax.axis("off")
    ax = fig.add_subplot(2, 1, 2)
    t = np.arange(len(mouth)) / fps
    ax.plot(t, mouth / max(mouth.max(), 1e-6), label="mouth opening (normalised)")
    ax.plot(t, loud, label="speech loudness", alpha=0.7)
    ax.set_xlabel("s")
    ax.legend(loc="upper right")
    fig.suptitle(name)
    fig.tight_layout()
    fig.savefig(OUT / f"{name}.png", dpi=60)
    plt.close(fig)


def row(m: Metrics) -> str:
    yaw, pitch, roll = m.head_std
    return (f"| {m.name} | {m.kind} | {m.seconds:.1f} | {m.tracked:.2f} | {m.sync_r:.2f} | {m.sync_lag_ms:+.0f} | "
            f"{m.closure:.2f} | {m.open_vowel:.2f} | {m.identity_pct:.1f} | {m.embed_sim:.3f} | {m.embed_pass:.2f} | "
            f"{m.blinks_per_min:.0f} | "
            f"{yaw:.1f}/{pitch:.1f}/{roll:.1f} | {m.head_speech_r:.2f} | {m.jitter_pct:.2f} |")


def summary(rows: list[Metrics], label: str) -> str:
    def rng(values: list[float], fmt: str = "{:.2f}") -> str:
        v = [x for x in values if not math.isnan(x)]
        return (fmt.format(min(v)) + "–" + fmt.format(max(v))) if v else "–"

    return (f"| **{label}** ({len(rows)}) | | | | {rng([m.sync_r for m in rows])} | "
            f"{rng([m.sync_lag_ms for m in rows], '{:+.0f}')} | {rng([m.closure for m in rows])} | "
            f"{rng([m.open_vowel for m in rows])} | {rng([m.identity_pct for m in rows], '{:.1f}')} | "
            f"{rng([m.embed_sim for m in rows], '{:.3f}')} | {rng([m.embed_pass for m in rows])} | "
            f"{rng([m.blinks_per_min for m in rows], '{:.0f}')} | "
            f"{rng([float(np.mean(m.head_std)) for m in rows], '{:.1f}')} (mean) | "
            f"{rng([m.head_speech_r for m in rows])} | {rng([m.jitter_pct for m in rows])} |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=Path(__file__).resolve().parents[2] / "shared" / "data")
    parser.add_argument("--seconds", type=float, default=8.0, help="at most this much of each speech/clip")
    parser.add_argument("--limit", type=int, default=0, help="only the first N portrait × speech pairs")
    parser.add_argument("--pairs", type=int, default=1, help="only every N-th portrait × speech pair")
    parser.add_argument("--live", action="store_true", help="also render each pair through a live session")
    parser.add_argument("--no-real", action="store_true", help="skip the real clips")
    parser.add_argument("--vasa1", action="store_true",
                        help="the pairs of <data>/vasa1_inputs instead (ref_N.jpg + speech_N.wav: a held-out set)")
    args = parser.parse_args()
    portraits = sorted((args.data / "portraits").glob("*"))
    speeches = sorted((args.data / "speech").glob("*.wav"))
    clips = sorted((args.data / "clips").glob("*.mp4"))
    generator = get_generator("default")
    print(f"# quality — {time.strftime('%Y-%m-%d')} — {platform.node()}, default generator, "
          f"≤ {args.seconds:g} s per clip\n")
    print("| clip | kind | s | tracked | sync r | lag ms | P/B/M closed | open vowels open | identity Δ % IOD | "
          "embedding sim | same person | blinks/min | head σ yaw/pitch/roll ° | head–speech r | jitter % IOD |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|")
    generated: list[Metrics] = []
    pairs = [(p, s) for p in portraits for s in speeches][:: max(1, args.pairs)]
    if args.vasa1:
        held_out = args.data / "vasa1_inputs"
        pairs = [(ref, held_out / ref.name.replace("ref_", "speech_").replace(".jpg", ".wav"))
                 for ref in sorted(held_out.glob("ref_*.jpg"))]
    live: list[Metrics] = []
    if args.limit:
        pairs = pairs[: args.limit]
    for portrait, speech in pairs:
        audio = read_audio(speech)
        audio = audio.trim_or_pad(min(audio.n_samples, int(args.seconds * audio.sample_rate)))
        image = read_image(portrait)
        generation = generator.prepare(image, audio, controls=Controls(seed=7))
        frames = list(generation.frames())
        m = measure(f"{portrait.stem}+{speech.stem}", "ours", frames, audio, fps=generation.fps, transcript=None,
                    reference=image)
        generated.append(m)
        print(row(m), flush=True)
        if args.live:
            frames = live_frames(generator, image, audio)
            m = measure(f"{portrait.stem}+{speech.stem}", "live", frames, audio, fps=generation.fps, transcript=None,
                        reference=image)
            live.append(m)
            print(row(m), flush=True)
    real: list[Metrics] = []
    for clip in clips if not args.no_real else []:
        try:
            audio = read_audio(clip)
        except MediaError:
            continue  # lp_d0 has no audio track
        if float(np.sqrt(np.mean(audio.samples**2))) < 1e-3:
            continue  # silent tracks (lp_d3, lp_d9): no speech to sync with
        info = probe_video(clip)
        frames = list(iter_frames(clip, max_frames=int(args.seconds * info.fps)))
        audio = audio.trim_or_pad(min(audio.n_samples, int(len(frames) / info.fps * audio.sample_rate)))
        m = measure(clip.stem, "real", frames, audio, fps=info.fps, transcript=None, reference=frames[0])
        real.append(m)
        print(row(m), flush=True)
    if generated:
        print(summary(generated, "ours"))
    if live:
        print(summary(live, "live"))
    if real:
        print(summary(real, "real"))
    if live:
        side_by_side(generated, live)
        blink_rates(pairs[0][1], seeds=20)
    print(f"\ncontact sheets: {OUT}")


def live_frames(generator: Generator, image: np.ndarray, audio: Audio) -> list[np.ndarray]:
    """The pair's frames from a live session fed 20 ms chunks of 16 kHz mono (as fast as it goes)."""
    session = generator.live(image, controls=Controls(seed=7))
    x = audio.to_mono().resample(16_000).samples[0]
    frames: list[np.ndarray] = []
    for i in range(0, len(x), 320):
        frames += session.feed(x[i : i + 320])
    return frames + session.finish()


def blink_rates(speech_path: Path, *, seeds: int) -> None:
    """Blinks per minute of the motion itself (closure > 0.5 onsets), offline vs live, over ``seeds`` seeds × 60 s:
    an 8 s clip holds 2–5 blinks, so one seed per pair says little about the rate."""
    from generator.motion import LiveMotion, plan_motion
    from generator.speech import SpeechStream

    x = np.resize(read_audio(speech_path).to_mono().resample(16_000).samples[0], 60 * 16_000).astype(np.float32)
    track = analyse_speech(Audio(samples=x[None], sample_rate=16_000), fps=25.0)
    stream = SpeechStream(fps=25.0, lookahead_s=0.12)
    values = stream.push(x) + stream.finish()

    def onsets(blink: np.ndarray) -> int:
        return int(np.sum(np.diff((blink > 0.5).astype(int)) == 1))

    offline = [onsets(plan_motion(track, controls=Controls(seed=s)).arrays["blink_left"]) for s in range(seeds)]
    live = []
    for s in range(seeds):
        motion = LiveMotion(controls=Controls(seed=s), fps=25.0)
        live.append(onsets(np.array([motion.pose(v).blink_left for v in values])))
    print(f"\nblinks per minute of the motion ({speech_path.stem} × 60 s, seeds 0–{seeds - 1}): offline "
          f"{np.mean(offline):.1f} ± {np.std(offline):.1f}, live {np.mean(live):.1f} ± {np.std(live):.1f}")


def side_by_side(offline: list[Metrics], live: list[Metrics]) -> None:
    """Offline vs live per pair and on average: lip-sync r, P/B/M closure, blinks per minute (live − offline)."""
    print("\n| pair | sync r offline / live | P/B/M closed offline / live | blinks/min offline / live |")
    print("|---|---|---|---|")
    for a, b in zip(offline, live, strict=True):
        print(f"| {a.name} | {a.sync_r:.2f} / {b.sync_r:.2f} | {a.closure:.2f} / {b.closure:.2f} | "
              f"{a.blinks_per_min:.0f} / {b.blinks_per_min:.0f} |")

    def mean(rows: list[Metrics], attr: str) -> float:
        return float(np.nanmean([getattr(m, attr) for m in rows]))

    deltas = [mean(live, k) - mean(offline, k) for k in ("sync_r", "closure", "blinks_per_min")]
    print(f"| **mean** ({len(live)}) | {mean(offline, 'sync_r'):.2f} / {mean(live, 'sync_r'):.2f} "
          f"(Δ {deltas[0]:+.2f}) | {mean(offline, 'closure'):.2f} / {mean(live, 'closure'):.2f} (Δ {deltas[1]:+.2f}) | "
          f"{mean(offline, 'blinks_per_min'):.1f} / {mean(live, 'blinks_per_min'):.1f} (Δ {deltas[2]:+.1f}) |")


if __name__ == "__main__":
    main()
