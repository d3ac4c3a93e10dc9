"""Do the lips move with the voice? Mouth opening per video frame against the loudness of the speech.

>>> import numpy as np
>>> from consent._liveness import lip_sync
>>> rng = np.random.default_rng(0)
>>> voice = np.convolve(rng.random(250), np.ones(5) / 5, mode="same")
>>> mouth = np.roll(voice, 2) + 0.01 * rng.standard_normal(250)     # lips lag the sound by 2 frames
>>> corr, lag = lip_sync(mouth, loudness=voice, max_lag=5)
>>> round(corr, 2) > 0.9, lag
(True, 2)

The loudness envelope is the RMS level in dB over one video frame's worth of audio centred on each
frame, clipped to the 40 dB below its 98th percentile (so breath noise and silence count as
"closed"). The score is Pearson's correlation between the two series at the best lag within
±``max_lag`` frames (positive: the mouth follows the sound), after both are smoothed over three
frames. Frames without a tracked face are left out.
"""

from __future__ import annotations

import numpy as np

_RANGE_DB = 40.0


def loudness_envelope(x: np.ndarray, *, rate: int, fps: float, n_frames: int) -> np.ndarray:
    """Loudness (dB relative to the 98th percentile, clipped at −40) at each of ``n_frames`` video frames."""
    half = max(1, round(rate / fps / 2))
    centres = np.round((np.arange(n_frames) + 0.5) * rate / fps).astype(int)
    power = np.concatenate([[0.0], np.cumsum(x.astype(np.float64) ** 2)])
    lo = np.clip(centres - half, 0, len(x))
    hi = np.clip(centres + half, 0, len(x))
    mean_power = (power[hi] - power[lo]) / np.maximum(hi - lo, 1)
    db = 10.0 * np.log10(mean_power + 1e-12)
    top = float(np.percentile(db, 98)) if n_frames else 0.0
    return np.clip(db - top, -_RANGE_DB, 0.0)


def _smooth(x: np.ndarray) -> np.ndarray:
    filled = np.where(np.isnan(x), np.nanmean(x) if np.isfinite(x).any() else 0.0, x)
    return np.convolve(np.pad(filled, 1, mode="edge"), np.ones(3) / 3, mode="valid")


def lip_sync(mouth: np.ndarray, *, loudness: np.ndarray, max_lag: int) -> tuple[float, int]:
    """The best correlation of ``mouth`` with ``loudness`` within ±``max_lag`` frames, and its lag.

    ``mouth`` may hold NaN (no face); the correlation is 0 where either series is constant.
    """
    n = min(len(mouth), len(loudness))
    valid = ~np.isnan(mouth[:n])
    m, v = _smooth(mouth[:n]), _smooth(loudness[:n])
    best, best_lag = -1.0, 0
    for lag in range(-max_lag, max_lag + 1):
        # mouth at frame t + lag against loudness at frame t
        a = slice(max(lag, 0), n + min(lag, 0))
        b = slice(max(-lag, 0), n - max(lag, 0))
        keep = valid[a]
        ma, vb = m[a][keep], v[b][keep]
        if len(ma) < 3 or ma.std() < 1e-9 or vb.std() < 1e-9:
            corr = 0.0
        else:
            corr = float(np.corrcoef(ma, vb)[0, 1])
        if corr > best:
            best, best_lag = corr, lag
    return best, best_lag
