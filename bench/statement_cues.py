"""How often head motion meets the statement's head-turn cues: by chance, by our generator, when followed.

    .venv/bin/python bench/statement_cues.py [--data ../shared/data] [--schedules 2000] [--json out.json]

Prints tables (text) for docs/consent.md and docs/benchmarks.md:

(a) **chance**: the cue check (:func:`consent._cues.meets_cue`, the same code the statement runs)
    on the per-frame head yaw of the 12 real clips in ``<data>/clips`` — MediaPipe's tracker on
    frames scaled as :mod:`consent.statement` scales them — against random cues (a moment and a
    direction, as :func:`consent._cues.issue_cues` draws them). Per cue: a random moment anywhere
    the window fits; per schedule: three cues as issued, placed at a random offset, on the clips
    long enough to hold one (13 s).
    Clips shorter than a schedule are looped (forwards, backwards, forwards…) to 14.5 s.
(+) **followed**: the false-reject side, without a camera: in the same clips, each clear turn
    (the yaw leaves the clip's median by ≥ 12° and comes back) is taken as the answer to a cue
    placed 0.4, 0.8 or 1.2 s (:data:`REACTIONS`) before the turn's onset (reaction times). This is how
    "a real person following the cues passes" is measured here: from when the people in the
    clips actually turn, not from people who saw a cue.
    ``TURN_DEG`` and ``WINDOW_S`` are chosen by leave-one-clip-out over a grid: on the 11 other
    clips, the lowest per-cue chance rate among the settings whose followed-turn pass rate is the
    highest reachable (≥ 0.95 when some setting reaches it); the held-out clip is then scored.
(b) **our generator, pre-rendered**: the default generator at motion intensity 2 (its largest
    head motion), one portrait and espeak-ng speech, rendered once, yaw measured on the frames;
    and the best of a family of crafted pre-rendered head sweeps (sinusoidal yaw of a chosen
    amplitude and period, injected into the generator's motion track), against random schedules.
(c) **a real-time generator that watches the cues**: the same generator with the yaw of its
    motion track set to turn 0.4 s after each cue (what a live renderer could do): rendered,
    measured and checked for a few schedules.
"""

from __future__ import annotations

import argparse
import json
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from consent import _cues  # noqa: E402
from consent.statement import _scaled  # noqa: E402
from faces import FaceTracker, head_pose  # noqa: E402
from media import Audio, iter_frames, probe_video, read_audio  # noqa: E402

TURN_GRID = (6.0, 8.0, 10.0, 12.0, 15.0, 20.0)
WINDOW_GRID = (1.5, 2.0, 2.5, 3.0)
CLEAR_TURN_DEG = 12.0
REACTIONS = (0.4, 0.8, 1.2)  # s from a cue to the start of the turn: quick, typical, slow (reading while cued)
SCHEDULE_SPAN_S = _cues.LAST_S + 3.0  # a recording that holds a whole schedule (last cue + window + margin)


def yaw_of_frames(frames) -> np.ndarray:  # type: ignore[no-untyped-def]
    """Per-frame yaw (degrees, NaN untracked), as the statement check measures it."""
    out = []
    with FaceTracker() as tracker:
        for frame in frames:
            lm = tracker.track(_scaled(frame))
            out.append(float("nan") if lm is None else head_pose(lm)[0])
    return np.asarray(out)


def clip_yaws(data: Path) -> dict[str, tuple[np.ndarray, float]]:
    found = {}
    for clip in sorted((data / "clips").glob("*.mp4")):
        info = probe_video(clip)
        found[clip.stem] = (yaw_of_frames(iter_frames(clip)), float(info.fps))
    return found


def turn_events(yaw: np.ndarray, *, fps: float) -> list[tuple[float, str]]:
    """(cue time, direction): for each clear turn (an excursion ≥ 12°), cues REACTIONS s before its onset."""
    neutral = float(np.nanmedian(yaw))
    d = np.nan_to_num(yaw - neutral)
    events = []
    for sign, turn in ((1.0, "left"), (-1.0, "right")):
        s = sign * d
        i = 0
        while i < len(s):
            if s[i] >= CLEAR_TURN_DEG:
                onset = i
                while onset > 0 and s[onset - 1] > 3.0:  # back to where the turn began
                    onset -= 1
                end = i
                while end < len(s) and s[end] > 3.0:
                    end += 1
                for reaction in REACTIONS:
                    at = onset / fps - reaction
                    if at - _cues.PRE_S >= 0:
                        events.append((at, turn))
                i = end + 1
            else:
                i += 1
    return sorted(events)


def chance_per_cue(yaw: np.ndarray, *, fps: float, turn_deg: float, window_s: float, rng: random.Random,
                   n: int) -> float:
    duration = len(yaw) / fps
    if duration < _cues.PRE_S + window_s + 0.1:
        return float("nan")
    neutral = float(np.nanmedian(yaw))
    hits = 0
    for _ in range(n):
        at = rng.uniform(_cues.PRE_S, duration - window_s)
        ok, _ = _cues.meets_cue(yaw, fps=fps, at_s=at, turn=rng.choice(("left", "right")), neutral=neutral,
                                turn_deg=turn_deg, window_s=window_s)
        hits += ok
    return hits / n


def looped(yaw: np.ndarray, *, fps: float) -> np.ndarray:
    """The clip played forwards, backwards, forwards… until it lasts a schedule (continuous natural motion)."""
    out = yaw
    while len(out) / fps < SCHEDULE_SPAN_S + 1.0:
        out = np.concatenate([out, (yaw[::-1] if (len(out) // len(yaw)) % 2 else yaw)])
    return out


def chance_per_schedule(yaw: np.ndarray, *, fps: float, turn_deg: float, window_s: float, rng: random.Random,
                        n: int) -> float:
    yaw = looped(yaw, fps=fps)
    duration = len(yaw) / fps
    neutral = float(np.nanmedian(yaw))
    hits = 0
    for _ in range(n):
        offset = rng.uniform(0.0, duration - SCHEDULE_SPAN_S)
        cues = _cues.issue_cues()
        hits += all(_cues.meets_cue(yaw, fps=fps, at_s=offset + c.at_s, turn=c.turn, neutral=neutral,
                                    turn_deg=turn_deg, window_s=window_s)[0] for c in cues)
    return hits / n


def followed(yaw: np.ndarray, *, fps: float, turn_deg: float, window_s: float) -> tuple[int, int]:
    neutral = float(np.nanmedian(yaw))
    events = turn_events(yaw, fps=fps)
    ok = sum(_cues.meets_cue(yaw, fps=fps, at_s=at, turn=turn, neutral=neutral, turn_deg=turn_deg,  # type: ignore[arg-type]
                             window_s=window_s)[0] for at, turn in events)
    return ok, len(events)


def leave_one_out(yaws: dict[str, tuple[np.ndarray, float]], *, per_cue: int) -> list[dict[str, object]]:
    grid = [(t, w) for t in TURN_GRID for w in WINDOW_GRID]
    table: dict[tuple[str, float, float], tuple[float, int, int]] = {}
    for name, (yaw, fps) in yaws.items():
        for t, w in grid:
            rng = random.Random(f"{name}/{t}/{w}")
            ok, total = followed(yaw, fps=fps, turn_deg=t, window_s=w)
            table[(name, t, w)] = (chance_per_cue(yaw, fps=fps, turn_deg=t, window_s=w, rng=rng, n=per_cue),
                                   ok, total)
    rows = []
    for held in yaws:
        train = [n for n in yaws if n != held]

        def pooled(t: float, w: float, names: list[str]) -> tuple[float, float]:
            chances = [table[(n, t, w)][0] for n in names if np.isfinite(table[(n, t, w)][0])]
            ok = sum(table[(n, t, w)][1] for n in names)
            total = sum(table[(n, t, w)][2] for n in names)
            return float(np.mean(chances)), (ok / total if total else float("nan"))

        scored = {(t, w): pooled(t, w, train) for t, w in grid}
        best_follow = max(f for _, f in scored.values())
        floor = min(0.95, best_follow)
        eligible = [(c, -w, t, w) for (t, w), (c, f) in scored.items() if f >= floor]
        _, _, turn, window = min(eligible)
        chance, ok, total = table[(held, turn, window)]
        yaw, fps = yaws[held]
        schedule = chance_per_schedule(yaw, fps=fps, turn_deg=turn, window_s=window, rng=random.Random(held),
                                       n=per_cue)
        rows.append({"held_out": held, "turn_deg": turn, "window_s": window, "train_chance_per_cue":
                     round(scored[(turn, window)][0], 4), "train_followed": round(scored[(turn, window)][1], 3),
                     "chance_per_cue": None if not np.isfinite(chance) else round(chance, 4),
                     "followed": f"{ok}/{total}", "chance_per_schedule": round(schedule, 4)})
    return rows


# ------------------------------------------------------------------------------------------- generator


def _portrait_and_speech(data: Path, folder: Path):  # type: ignore[no-untyped-def]
    import matplotlib.cbook

    from media import read_image

    portrait = read_image(matplotlib.cbook.get_sample_data("grace_hopper.jpg", asfileobj=False))
    text = ("I, the person in this video, agree that Likeness may generate videos of my face for education by "
            "Acme. My passcode is tiger helmet garden pumpkin. Thank you.")
    wav = folder / "speech.wav"
    subprocess.run(["espeak-ng", "-v", "en-us", "-w", str(wav), text], check=True, capture_output=True)
    audio = read_audio(wav, sample_rate=16000, mono=True)
    samples = audio.samples[0]
    pad = np.zeros(max(0, round(SCHEDULE_SPAN_S * 16000) - len(samples)), np.float32)  # long enough for every cue
    return portrait, Audio(np.concatenate([samples, pad]), 16000), text


def render_yaw(generation, yaw_deg: np.ndarray | None) -> np.ndarray:  # type: ignore[no-untyped-def]
    """Render the generation (with its yaw track replaced by ``yaw_deg`` when given) and measure the yaw."""
    if yaw_deg is not None:
        arrays = generation.motion.arrays
        arrays["yaw"] = yaw_deg.astype(np.float32)
        arrays["tx"] = (0.35 * yaw_deg).astype(np.float32)
    return yaw_of_frames(generation.frame(i) for i in range(generation.n_frames))


def schedule_chance(yaw: np.ndarray, *, fps: float, rng: random.Random, n: int) -> float:
    duration = len(yaw) / fps
    neutral = float(np.nanmedian(yaw))
    hits = 0
    for _ in range(n):
        cues = _cues.issue_cues()
        offset = rng.uniform(0.0, max(0.0, duration - SCHEDULE_SPAN_S))
        hits += all(_cues.meets_cue(yaw, fps=fps, at_s=offset + c.at_s, turn=c.turn, neutral=neutral)[0]
                    for c in cues)
    return hits / n


def generator_rows(data: Path, *, schedules: int) -> list[dict[str, object]]:
    from generator import Controls, get_generator

    rows: list[dict[str, object]] = []
    rng = random.Random(7)
    with tempfile.TemporaryDirectory() as tmp:
        portrait, audio, text = _portrait_and_speech(data, Path(tmp))
        gen = get_generator()
        fps = 25.0
        for seed in (1, 2, 3):
            g = gen.prepare(portrait, audio, transcript=text, fps=fps, controls=Controls(intensity=2.0, seed=seed))
            planned = np.asarray(g.motion.arrays["yaw"], np.float64)
            yaw = render_yaw(g, None)
            rows.append({"attempt": f"generator, intensity 2, seed {seed}", "seconds": round(len(yaw) / fps, 1),
                         "planned_yaw_range": f"{planned.min():.1f}…{planned.max():.1f}",
                         "measured_yaw_p5_p95": "{:.1f}…{:.1f}".format(*np.nanpercentile(yaw, [5, 95])),
                         "schedule_pass": schedule_chance(yaw, fps=fps, rng=rng, n=schedules)})
        # crafted pre-rendered sweeps: the best a pre-rendered video can do without knowing the schedule
        g = gen.prepare(portrait, audio, transcript=text, fps=fps, controls=Controls(intensity=0.0, seed=1))
        t = np.arange(g.n_frames) / fps
        sweeps = []
        for amplitude in (15.0, 25.0):
            for period in (1.0, 1.5, 2.0, 3.0, 4.0):
                planned = amplitude * np.sin(2 * np.pi * t / period)
                yaw = render_yaw(g, planned)
                sweeps.append({"attempt": f"sweep ±{amplitude:.0f}°, period {period} s", "seconds":
                               round(len(yaw) / fps, 1), "planned_yaw_range": f"{-amplitude:.0f}…{amplitude:.0f}",
                               "measured_yaw_p5_p95": "{:.1f}…{:.1f}".format(*np.nanpercentile(yaw, [5, 95])),
                               "schedule_pass": schedule_chance(yaw, fps=fps, rng=rng, n=schedules)})
        rows.extend(sorted(sweeps, key=lambda r: -float(r["schedule_pass"]))[:3])  # type: ignore[arg-type]
        # a real-time generator that sees the cues: turns 0.4 s after each
        live = []
        for _ in range(3):
            cues = _cues.issue_cues()
            planned = np.zeros(g.n_frames)
            for c in cues:
                bump = np.clip(1 - np.abs(t - (c.at_s + 0.4 + 0.5)) / 0.5, 0, 1) * 20.0
                planned += (1 if c.turn == "left" else -1) * bump
            yaw = render_yaw(g, planned)
            neutral = float(np.nanmedian(yaw))
            live.append(all(_cues.meets_cue(yaw, fps=fps, at_s=c.at_s, turn=c.turn, neutral=neutral)[0]
                            for c in cues))
        rows.append({"attempt": "real-time: turns 0.4 s after each cue (20°)", "seconds": round(len(t) / fps, 1),
                     "planned_yaw_range": "−20…20", "measured_yaw_p5_p95": "", "schedule_pass": sum(live) / len(live),
                     "schedules_tried": len(live)})
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "data")
    parser.add_argument("--schedules", type=int, default=2000)
    parser.add_argument("--per-cue", type=int, default=1000)
    parser.add_argument("--json", type=Path)
    parser.add_argument("--skip-generator", action="store_true")
    args = parser.parse_args()
    started = time.perf_counter()
    yaws = clip_yaws(args.data)
    print(f"yaw measured on {len(yaws)} clips in {time.perf_counter() - started:.1f} s")
    print("\nclip      s     yaw p5…p95   clear turns  chance/cue (shipped)  chance/schedule (shipped)")
    per_clip = []
    rng = random.Random(1)
    for name, (yaw, fps) in yaws.items():  # a few lines below: per schedule on clips looped to 14.5 s
        neutral = float(np.nanmedian(yaw))
        p5, p95 = np.nanpercentile(yaw - neutral, [5, 95])
        per_cue = chance_per_cue(yaw, fps=fps, turn_deg=_cues.TURN_DEG, window_s=_cues.WINDOW_S, rng=rng,
                                 n=args.per_cue)
        per_schedule = chance_per_schedule(yaw, fps=fps, turn_deg=_cues.TURN_DEG, window_s=_cues.WINDOW_S, rng=rng,
                                           n=args.schedules)
        ok, total = followed(yaw, fps=fps, turn_deg=_cues.TURN_DEG, window_s=_cues.WINDOW_S)
        per_clip.append({"clip": name, "seconds": round(len(yaw) / fps, 1), "yaw_p5": round(p5, 1),
                         "yaw_p95": round(p95, 1), "clear_turns": total, "followed_pass": ok,
                         "chance_per_cue": per_cue, "chance_per_schedule": per_schedule})
        print(f"{name:8s} {len(yaw) / fps:5.1f}  {p5:6.1f}…{p95:5.1f}   {ok:2d}/{total:<2d} followed   "
              f"{per_cue:8.3f}              {per_schedule:8.4f}")
    loo = leave_one_out(yaws, per_cue=args.per_cue)
    print("\nleave-one-clip-out choice of (TURN_DEG, WINDOW_S):")
    print("held-out  turn°  window s  train chance/cue  train followed  held-out chance/cue  held-out followed  "
          "held-out chance/schedule")
    for r in loo:
        chance = "n/a" if r["chance_per_cue"] is None else f"{r['chance_per_cue']:.3f}"
        print(f"{r['held_out']:8s}  {r['turn_deg']:5.0f}  {r['window_s']:8.1f}  {r['train_chance_per_cue']:16.3f}  "
              f"{r['train_followed']:14.3f}  {chance:>19s}  {r['followed']:>17s}  {r['chance_per_schedule']:.4f}")
    result: dict[str, object] = {"per_clip": per_clip, "leave_one_out": loo,
                                 "shipped": {"turn_deg": _cues.TURN_DEG, "window_s": _cues.WINDOW_S}}
    if not args.skip_generator:
        rows = generator_rows(args.data, schedules=args.schedules)
        print("\nour generator against random schedules (3 cues):")
        for r in rows:
            print(f"  {r['attempt']:48s} {r['seconds']:5.1f} s  yaw planned {r['planned_yaw_range']:>12s}  "
                  f"measured p5…p95 {r['measured_yaw_p5_p95']:>12s}  schedules passed {r['schedule_pass']:.4f}")
        result["generator"] = rows
    print(f"\ntotal {time.perf_counter() - started:.0f} s")
    if args.json:
        args.json.write_text(json.dumps(result, indent=2, default=float))


if __name__ == "__main__":
    main()
