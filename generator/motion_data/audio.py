"""The per-frame audio condition, computed the same way in training and at inference: 40 log-mel bands,
log pitch, voicing and loudness (:func:`audio_features`), or a learned encoder's features (:class:`AudioEncoder`).

>>> import numpy as np
>>> from media import Audio
>>> from generator.motion_data.audio import audio_features
>>> t = np.arange(16_000, dtype=np.float32) / 16_000
>>> audio_features(Audio(0.3 * np.sin(2 * np.pi * 150 * t).astype(np.float32), 16_000), fps=25, n_frames=25).shape
(25, 43)
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from generator.errors import GeneratorError
from generator.motion_data.layout import AUDIO_DIM, MEL_FMAX, MEL_FMIN, N_MELS
from media import Audio, file_sha256
from speech import prosody as _prosody

# --- audio features ------------------------------------------------------------------------------


def _mel_filters(n_fft: int, sample_rate: int) -> np.ndarray:
    """(N_MELS, n_fft // 2 + 1) triangular filters on the HTK mel scale, each of unit area."""
    mel = lambda f: 2595.0 * np.log10(1.0 + f / 700.0)  # noqa: E731
    hz = lambda m: 700.0 * (10.0 ** (m / 2595.0) - 1.0)  # noqa: E731
    edges = hz(np.linspace(mel(MEL_FMIN), mel(MEL_FMAX), N_MELS + 2))
    bins = np.linspace(0.0, sample_rate / 2.0, n_fft // 2 + 1)
    lo, mid, hi = edges[:-2, None], edges[1:-1, None], edges[2:, None]
    tri = np.maximum(0.0, np.minimum((bins - lo) / (mid - lo), (hi - bins) / (hi - mid)))
    return (tri / np.maximum(tri.sum(axis=1, keepdims=True), 1e-9)).astype(np.float32)


_MEL = _mel_filters(_prosody.N_FFT, _prosody.SAMPLE_RATE)


def audio_features(audio: Audio, *, fps: float, n_frames: int, encoder: AudioEncoder | None = None) -> np.ndarray:
    """Per video frame (float32 ``[n_frames, AUDIO_DIM]``): 40 log-mel bands, log pitch, voicing, loudness.

    16 kHz mono, 25 ms Hann windows every 10 ms (NumPy FFT); each video frame averages the power of
    the analysis frames centred inside it. Levels are relative to the recording (its 95th
    percentile frame level is 0 dB, so a quiet or loud recording gives the same features), in
    units of 20 dB, floored 60 dB under that; digital silence sits at the floor (−3). Log pitch is
    in octaves from the speaker's median (0 where unvoiced); voicing and loudness are 0–1 (the
    loudness of :mod:`generator.speech`). Frames past the audio's end get the silence values.

    With an ``encoder`` (:func:`load_audio_encoder`: a wav2vec2-style network the user supplies),
    its hidden states, interpolated to the video frames, follow: ``[n_frames, AUDIO_DIM + encoder.dim]``.
    """
    if not isinstance(audio, Audio):
        raise GeneratorError(f"audio features need media.Audio, not {type(audio).__name__}")
    fps = float(fps)
    if not math.isfinite(fps) or not 1.0 <= fps <= _prosody.FRAME_RATE:
        raise GeneratorError(f"fps must be between 1 and {_prosody.FRAME_RATE:g}, not {fps}")
    if n_frames < 0:
        raise GeneratorError(f"n_frames must be at least 0, not {n_frames}")
    out = np.zeros((n_frames, AUDIO_DIM), np.float32)
    out[:, :N_MELS] = -3.0
    if n_frames == 0 or audio.n_samples == 0:
        if encoder is not None:
            out = np.concatenate([out, np.zeros((n_frames, encoder.dim), np.float32)], axis=1)
        return out
    if not np.isfinite(audio.samples).all():
        raise GeneratorError("the audio contains NaN or infinite samples")
    x = np.clip(audio.to_mono().resample(_prosody.SAMPLE_RATE).samples[0], -1.0, 1.0).astype(np.float32)
    if encoder is not None:
        return np.concatenate([_default_features(x, fps, n_frames, out), encoder.per_frame(x, fps=fps,
                                                                                           n_frames=n_frames)], axis=1)
    return _default_features(x, fps, n_frames, out)


def _default_features(x: np.ndarray, fps: float, n_frames: int, out: np.ndarray) -> np.ndarray:
    frames = _prosody.frame_windows(x, _prosody.WINDOW)
    window = np.hanning(_prosody.WINDOW).astype(np.float32)
    mel = np.concatenate([
        (np.abs(np.fft.rfft(frames[b] * window, n=_prosody.N_FFT, axis=1)) ** 2 / _prosody.WINDOW) @ _MEL.T
        for b in _prosody.blocks_of(len(frames))
    ])
    db = np.concatenate([_prosody.rms_db(frames[b]) for b in _prosody.blocks_of(len(frames))])
    loudness = _prosody.loudness_from_db(db)
    f0, voiced = _prosody.yin(x, active=loudness > 0.05)
    owner = np.floor(np.arange(len(frames)) / _prosody.FRAME_RATE * fps + 1e-9).astype(np.int64)
    keep = owner < n_frames
    owner = owner[keep]
    counts = np.bincount(owner, minlength=n_frames).astype(np.float64)
    has = counts > 0

    def per_frame(values: np.ndarray, weights: np.ndarray | None = None) -> np.ndarray:
        v = values[keep].astype(np.float64)
        w = np.ones(len(owner)) if weights is None else weights[keep].astype(np.float64)
        total = np.zeros((n_frames, *v.shape[1:]))
        np.add.at(total, owner, v * (w if v.ndim == 1 else w[:, None]))
        norm = np.bincount(owner, weights=w, minlength=n_frames)
        shape = (-1,) + (1,) * (v.ndim - 1)
        return np.where(norm.reshape(shape) > 0, total / np.maximum(norm, 1e-12).reshape(shape), 0.0)

    power = per_frame(mel)
    band_db = 10.0 * np.log10(np.maximum(power, 1e-12))
    level = 10.0 * np.log10(np.maximum(power.sum(axis=1), 1e-12))
    reference = float(np.percentile(level[has], 95)) if has.any() else 0.0
    rel = np.clip(band_db - reference, -60.0, 10.0)
    rel[band_db < -95.0] = -60.0  # digital silence
    out[has, :N_MELS] = (rel[has] / 20.0).astype(np.float32)
    semitones = np.where(f0 > 0, _prosody.semitones(f0), 0.0) if (f0 > 0).any() else np.zeros_like(f0)
    is_voiced = (f0 > 0).astype(np.float64)
    pitch = per_frame(semitones / 12.0, is_voiced)
    out[:, N_MELS] = np.where(per_frame(is_voiced) > 0, pitch, 0.0)
    out[:, N_MELS + 1] = per_frame(voiced)
    out[:, N_MELS + 2] = per_frame(loudness)
    return out


class AudioEncoder:
    """A wav2vec2-style speech encoder the user supplies as a file (no weights ship or download).

    The module takes a float32 waveform ``[1, samples]`` at 16 kHz, normalised to zero mean and unit
    variance (as wav2vec2's feature extractor does), and returns hidden states ``[1, frames, dim]``
    (or a tuple/list whose first element is that, e.g. a traced Hugging Face model with
    ``return_dict=False``). Its frame rate and width are measured once on a second of silence.
    The file is a ``torch.export`` program (``torch.export.save``, with the sample count as a dynamic
    dimension) or, for older exports, TorchScript (``torch.jit.save``); ``sha256`` identifies it
    in meta.json so training and inference can check they use the same encoder.
    """

    def __init__(self, path: Path | str) -> None:
        import torch

        self.path = Path(path)
        if not self.path.is_file():
            raise GeneratorError(f"no audio encoder at {self.path}")
        try:
            try:
                self._module = torch.export.load(str(self.path)).module()
            except Exception:  # not a torch.export archive: try TorchScript
                self._module = torch.jit.load(str(self.path), map_location="cpu").eval()
            probe = self._hidden(np.zeros(_prosody.SAMPLE_RATE, np.float32))
        except Exception as exc:  # whatever the file holds, the user gets one line
            first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
            raise GeneratorError(f"{self.path} is not a usable audio encoder (torch.export or TorchScript): "
                                 f"{first[:200]}") from None
        self.rate = float(probe.shape[0])  # frames per second of audio
        self.dim = int(probe.shape[1])
        self.sha256 = file_sha256(self.path)

    def _hidden(self, x: np.ndarray) -> np.ndarray:
        import torch

        wave = torch.from_numpy(((x - x.mean()) / (x.std() + 1e-7)).astype(np.float32))[None]
        with torch.inference_mode():
            hidden = self._module(wave)
        if isinstance(hidden, (tuple, list)):
            hidden = hidden[0]
        if not isinstance(hidden, torch.Tensor) or hidden.ndim != 3 or hidden.shape[0] != 1:
            raise ValueError(f"the encoder must return [1, frames, dim], not {getattr(hidden, 'shape', type(hidden))}")
        return hidden[0].float().numpy()

    def per_frame(self, x: np.ndarray, *, fps: float, n_frames: int) -> np.ndarray:
        """Hidden states of 16 kHz mono ``x`` linearly interpolated to the centres of ``n_frames`` video frames."""
        try:
            hidden = self._hidden(np.pad(x, (0, max(0, _prosody.SAMPLE_RATE - len(x)))))  # at least a second
        except Exception as exc:  # the user's network failing on this audio: one line, not a traceback
            first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
            raise GeneratorError(f"the audio encoder {self.path.name} failed: {first[:200]}") from None
        t_hidden = (np.arange(len(hidden)) + 0.5) / self.rate
        t_video = (np.arange(n_frames) + 0.5) / fps
        out = np.stack([np.interp(t_video, t_hidden, hidden[:, j]) for j in range(self.dim)], axis=1)
        out[t_video > len(x) / _prosody.SAMPLE_RATE] = 0.0
        return out.astype(np.float32)


def load_audio_encoder(path: Path | str) -> AudioEncoder:
    """The user's wav2vec2-style encoder at ``path`` (torch.export or TorchScript), checked by running it once."""
    return AudioEncoder(path)
