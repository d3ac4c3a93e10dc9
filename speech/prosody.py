"""Frame-level acoustic features of 16 kHz mono speech, at 100 frames a second (10 ms hop).

>>> import numpy as np
>>> t = np.arange(16_000, dtype=np.float32) / 16_000
>>> feats = acoustic_features(0.3 * np.sin(2 * np.pi * 150 * t).astype(np.float32))
>>> feats.n, round(float(np.median(feats.f0[feats.voiced > 0.5])))
(101, 150)

Everything is vectorised NumPy over frames: an RMS envelope in dB, a YIN pitch track (60–400 Hz)
with a soft voicing value, and the spectral shape used by the acoustic viseme path (centroid,
flatness, zero-crossing rate, low-band and high-band energy). Frame ``i`` is centred on sample
``i * HOP`` (time ``i / FRAME_RATE``).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

SAMPLE_RATE = 16_000
HOP = 160
FRAME_RATE = SAMPLE_RATE / HOP  # 100 frames a second
WINDOW = 400  # 25 ms spectral window
N_FFT = 512
FMIN, FMAX = 60.0, 400.0
YIN_THRESHOLD = 0.15
TAU_MIN = int(SAMPLE_RATE / FMAX)  # shortest period, samples
TAU_MAX = int(np.ceil(SAMPLE_RATE / FMIN))  # longest period, samples
YIN_WIN = TAU_MAX + 1  # integration window ≥ the longest period
SILENCE_DB = -100.0


@dataclass(frozen=True)
class Features:
    """Per analysis frame (100 a second), float32 arrays of length ``n``."""

    db: np.ndarray  # RMS level, dBFS
    loudness: np.ndarray  # 0–1, floor and ceiling estimated from this clip
    f0: np.ndarray  # Hz, 0 where unvoiced
    voiced: np.ndarray  # 0–1
    centroid: np.ndarray  # Hz
    flatness: np.ndarray  # 0 (tonal) … 1 (noise)
    zcr: np.ndarray  # zero crossings per sample
    low_band: np.ndarray  # fraction of energy below 1 kHz
    high_band: np.ndarray  # fraction of energy above 3 kHz
    f1_centroid: np.ndarray  # Hz, centroid of 250–1200 Hz: rises with the first formant (jaw opening)
    f2_centroid: np.ndarray  # Hz, centroid of 1–3 kHz: rises with the second formant (front, spread)

    @property
    def n(self) -> int:
        return int(self.db.shape[0])


def acoustic_features(x: np.ndarray) -> Features:
    """All frame features of ``x`` (float32 mono at :data:`SAMPLE_RATE`): the per-frame measures of
    :func:`raw_features` over the whole clip, normalised over it by :func:`finish_features`
    (:class:`speech.stream.FeatureStream` runs the same two steps incrementally)."""
    x = np.asarray(x, dtype=np.float32)
    return finish_features(raw_features(x, origin=0, first=0, count=len(x) // HOP + 1))


#: Samples after frame ``i``'s centre (``i * HOP``) that its windows read: the YIN window's reach.
REACH_AFTER = YIN_WIN + TAU_MAX + 1 - YIN_WIN // 2
#: Samples before frame ``i``'s centre that its windows read: the spectral window's half.
REACH_BEFORE = max(WINDOW // 2, YIN_WIN // 2)
RAW_FIELDS = ("db", "f0", "voiced", "centroid", "flatness", "zcr", "low_band", "high_band", "f1_centroid",
              "f2_centroid")


def raw_features(x: np.ndarray, *, origin: int, first: int, count: int) -> dict[str, np.ndarray]:
    """The measures of frames ``first … first + count - 1`` that depend on their own windows only:
    level (dB), spectral shape, and YIN pitch and voicing not yet gated by loudness or median-filtered.

    ``x`` holds the samples from index ``origin`` of the stream; samples outside it read as zeros
    (so the first frames see the same zero padding as a whole clip's, and so do the last ones).
    """
    lo = first * HOP - REACH_BEFORE
    hi = (first + max(count, 1) - 1) * HOP + REACH_AFTER
    seg = np.zeros(hi - lo, np.float32)
    a, b = max(lo, origin), min(hi, origin + len(x))
    if b > a:
        seg[a - lo : b - lo] = x[a - origin : b - origin]
    spec = np.lib.stride_tricks.sliding_window_view(seg[REACH_BEFORE - WINDOW // 2 :], WINDOW)[::HOP][:count]
    yin_len = YIN_WIN + TAU_MAX + 1
    pitch = np.lib.stride_tricks.sliding_window_view(seg[REACH_BEFORE - YIN_WIN // 2 :], yin_len)[::HOP][:count]
    out: dict[str, list[np.ndarray]] = {k: [] for k in RAW_FIELDS}
    for block in blocks_of(count):
        if block.stop <= block.start:
            continue
        out["db"].append(rms_db(spec[block]))
        for k, v in _spectral(spec[block]).items():
            out[k].append(v)
        f0, voiced = _yin_block(pitch[block].astype(np.float64), active=np.ones(block.stop - block.start))
        out["f0"].append(f0.astype(np.float32))
        out["voiced"].append(voiced.astype(np.float32))
    return {k: np.concatenate(v) if v else np.zeros(0, np.float32) for k, v in out.items()}


def finish_features(raw: dict[str, np.ndarray]) -> Features:
    """:class:`Features` of consecutive raw frames (:func:`raw_features`), normalised over them: loudness from
    their level range, voicing gated where it is quiet, pitch median-filtered."""
    db = raw["db"]
    loudness = loudness_from_db(db)
    f0, voiced = voicing(raw["f0"], voiced=raw["voiced"], active=loudness > 0.05)
    spectral = {k: raw[k] for k in RAW_FIELDS if k not in ("db", "f0", "voiced")}
    return Features(db=db, loudness=loudness, f0=f0, voiced=voiced, **spectral)


def voicing(f0: np.ndarray, *, voiced: np.ndarray, active: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """YIN's per-frame f0 and voicing gated by ``active`` (loud enough), then the 3-frame median over f0."""
    voiced = voiced * active
    f0 = _median3(np.where(voiced > 0.5, f0, 0.0))
    voiced = np.where(f0 > 0, voiced, np.minimum(voiced, 0.5))
    return f0.astype(np.float32), voiced.astype(np.float32)


def blocks_of(n: int, *, size: int = 2048) -> list[slice]:
    """Row blocks that bound memory on long audio (10 minutes: 60 000 frames)."""
    return [slice(i, min(i + size, n)) for i in range(0, max(n, 1), size)]


def frame_windows(x: np.ndarray, length: int, *, offset: int | None = None) -> np.ndarray:
    """(n, length) frames starting ``offset`` (default: half of ``length``) before ``i * HOP``."""
    n = len(x) // HOP + 1
    offset = length // 2 if offset is None else offset
    padded = np.pad(x, (offset, length + HOP))
    view = np.lib.stride_tricks.sliding_window_view(padded, length)[::HOP]
    return view[:n]


def rms_db(frames: np.ndarray) -> np.ndarray:
    power = np.mean(frames.astype(np.float64) ** 2, axis=1)
    db = 10.0 * np.log10(np.maximum(power, 1e-10))
    return np.maximum(db, SILENCE_DB).astype(np.float32)


def loudness_from_db(db: np.ndarray) -> np.ndarray:
    """dB → 0–1: 0 at the noise floor (the quietest 10 % of frames), 1 near the loudest frames.

    The floor sits at least 30 dB under the ceiling (so a clip at one steady level, or with no
    pauses, still reads as loud) and never under -75 dBFS (so digital silence or faint noise does
    not get stretched to full scale). Smoothed over ~30 ms.
    """
    if db.size == 0:
        return db.astype(np.float32)
    ordered = np.sort(db)
    ceiling = float(np.percentile(db, 97))
    floor = float(np.mean(ordered[: max(1, db.size // 10)]))
    floor = max(min(floor, ceiling - 30.0), -75.0)
    ceiling = max(ceiling, floor + 20.0)
    margin = 0.1 * (ceiling - floor)  # the floor's own fluctuation stays at 0
    loud = np.clip((db - floor - margin) / (ceiling - floor - margin), 0.0, 1.0)
    return smooth(loud, 1.5).astype(np.float32)


def smooth(x: np.ndarray, sigma: float) -> np.ndarray:
    """Gaussian smoothing along the last axis (``sigma`` in frames), edges held."""
    if sigma <= 0 or x.shape[-1] < 2:
        return x
    radius = max(1, int(3 * sigma))
    k = np.exp(-0.5 * (np.arange(-radius, radius + 1) / sigma) ** 2)
    k /= k.sum()
    padded = np.pad(x, [(0, 0)] * (x.ndim - 1) + [(radius, radius)], mode="edge")
    out = np.apply_along_axis(lambda row: np.convolve(row, k, mode="valid"), -1, padded)
    return out.astype(np.float32)


def yin(x: np.ndarray, *, active: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """YIN f0 (Hz, 0 where unvoiced) and a 0–1 voicing value per frame, for 60–400 Hz.

    The difference function comes from an FFT autocorrelation of every frame (blocks at once),
    then the cumulative-mean normalisation, the first dip under the threshold (else the global
    minimum) and parabolic interpolation. ``active`` (per frame) gates out silence.
    """
    frames = frame_windows(x, YIN_WIN + TAU_MAX + 1, offset=YIN_WIN // 2)
    parts = [_yin_block(frames[b].astype(np.float64), active=np.ones(b.stop - b.start)) for b in blocks_of(len(frames))]
    f0 = np.concatenate([p[0] for p in parts])
    voiced = np.concatenate([p[1] for p in parts])
    return voicing(f0, voiced=voiced, active=np.asarray(active)[: len(f0)])


def _yin_block(frames: np.ndarray, *, active: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    tau_min, tau_max, win = TAU_MIN, TAU_MAX, YIN_WIN
    length = frames.shape[1]
    n_fft = 1 << int(np.ceil(np.log2(length + win)))
    head = np.zeros_like(frames)
    head[:, :win] = frames[:, :win]
    spec = np.fft.rfft(frames, n_fft) * np.conj(np.fft.rfft(head, n_fft))
    acf = np.fft.irfft(spec, n_fft)[:, : tau_max + 1]  # r(τ) = Σ_{j<win} x[j] x[j+τ]
    energy = np.cumsum(np.pad(frames**2, ((0, 0), (1, 0))), axis=1)
    e_tau = energy[:, win : win + tau_max + 1] - energy[:, : tau_max + 1]  # Σ_{j<win} x[j+τ]²
    diff = np.maximum(e_tau[:, :1] + e_tau - 2.0 * acf, 0.0)
    cum = np.cumsum(diff[:, 1:], axis=1)
    taus = np.arange(1, tau_max + 1)
    cmnd = np.ones_like(diff)
    silent = e_tau[:, 0] < win * 1e-7  # under -70 dBFS: no pitch to find
    cmnd[:, 1:] = np.where(cum > 1e-9, diff[:, 1:] * taus / np.maximum(cum, 1e-9), 1.0)
    band = cmnd[:, tau_min : tau_max + 1]
    # first local minimum under the threshold, else the global minimum of the band
    below = band < YIN_THRESHOLD
    is_min = np.zeros_like(below)
    is_min[:, 1:-1] = (band[:, 1:-1] <= band[:, :-2]) & (band[:, 1:-1] <= band[:, 2:])
    candidates = below & is_min
    has = candidates.any(axis=1)
    first = np.where(has, candidates.argmax(axis=1), band.argmin(axis=1))
    rows = np.arange(band.shape[0])
    idx = np.clip(first, 1, band.shape[1] - 2)
    left, mid, right = band[rows, idx - 1], band[rows, idx], band[rows, idx + 1]
    denom = left - 2 * mid + right
    shift = np.where(np.abs(denom) > 1e-12, 0.5 * (left - right) / np.where(denom == 0, 1, denom), 0.0)
    shift = np.clip(shift, -1, 1)
    tau = (idx + tau_min + shift).astype(np.float64)
    depth = band[rows, first]
    inside = (first > 0) & (first < band.shape[1] - 1)  # a minimum at the band's edge is no pitch
    voiced = np.clip((0.45 - depth) / 0.3, 0.0, 1.0) * active * inside * ~silent
    f0 = np.where(voiced > 0.5, SAMPLE_RATE / tau, 0.0)
    return f0, voiced


def _median3(f0: np.ndarray) -> np.ndarray:
    """A 3-frame median over voiced frames (removes single-frame octave jumps)."""
    if f0.size < 3:
        return f0
    stacked = np.stack([np.r_[f0[:1], f0[:-1]], f0, np.r_[f0[1:], f0[-1:]]])
    med = np.median(stacked, axis=0)
    return np.where((f0 > 0) & (med > 0), med, f0)


def _spectral(frames: np.ndarray) -> dict[str, np.ndarray]:
    window = np.hanning(frames.shape[1]).astype(np.float32)
    power = np.abs(np.fft.rfft(frames * window, N_FFT)) ** 2 + 1e-12
    freqs = np.fft.rfftfreq(N_FFT, 1.0 / SAMPLE_RATE)
    total = power.sum(axis=1)
    centroid = (power * freqs).sum(axis=1) / total
    flatness = np.exp(np.mean(np.log(power), axis=1)) / np.mean(power, axis=1)
    signs = np.signbit(frames)
    zcr = np.mean(signs[:, 1:] != signs[:, :-1], axis=1)
    low = power[:, freqs < 1000].sum(axis=1) / total
    high = power[:, freqs >= 3000].sum(axis=1) / total
    band1 = (freqs >= 250) & (freqs < 1200)
    band2 = (freqs >= 1000) & (freqs < 3000)
    f1 = (power[:, band1] * freqs[band1]).sum(axis=1) / power[:, band1].sum(axis=1)
    f2 = (power[:, band2] * freqs[band2]).sum(axis=1) / power[:, band2].sum(axis=1)
    as32 = {
        "centroid": centroid, "flatness": flatness, "zcr": zcr, "low_band": low, "high_band": high,
        "f1_centroid": f1, "f2_centroid": f2,
    }
    return {k: v.astype(np.float32) for k, v in as32.items()}


def semitones(f0: np.ndarray) -> np.ndarray:
    """Semitones relative to the median voiced f0; 0 where unvoiced."""
    voiced = f0 > 0
    if not voiced.any():
        return np.zeros_like(f0, dtype=np.float32)
    ref = float(np.median(f0[voiced]))
    out = np.zeros_like(f0, dtype=np.float32)
    out[voiced] = 12.0 * np.log2(f0[voiced] / ref)
    return out


def singing_likelihood(f0: np.ndarray, *, voiced: np.ndarray) -> float:
    """0–1: how much the voicing looks sung — the fraction of voiced frames in runs of ≥ 300 ms.

    Speech breaks its voicing every few syllables (measured here: at most ~40 % of voiced frames
    in such runs, on English, French and Mandarin speech); singing holds notes (~80 %).
    """
    on = (voiced > 0.5) & (f0 > 0)
    total = int(on.sum())
    if total < 20:
        return 0.0
    edges = np.flatnonzero(np.diff(np.r_[0, on.astype(np.int8), 0]))
    runs = edges[1::2] - edges[::2]
    return float(runs[runs >= 30].sum() / total)
