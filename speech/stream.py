"""Incremental acoustic features: push 16 kHz samples in chunks of any size, read features as they complete.

>>> import numpy as np
>>> from speech.prosody import acoustic_features
>>> from speech.stream import FeatureStream
>>> t = np.arange(16_000, dtype=np.float32) / 16_000
>>> x = (0.3 * np.sin(2 * np.pi * 150 * t)).astype(np.float32)
>>> stream = FeatureStream()
>>> for chunk in np.array_split(x, 37):
...     stream.push(chunk)
>>> stream.ready < 101                 # the last frames wait for audio their windows need
True
>>> stream.finish()
>>> whole = acoustic_features(x)
>>> stream.ready, bool(np.array_equal(stream.features(start=0, stop=101).loudness, whole.loudness))
(101, True)

The per-frame measures (level, spectral shape, YIN pitch and voicing before gating) are those of
:func:`speech.prosody.raw_features`, computed once per 10 ms frame as soon as the samples its
windows read (``REACH_AFTER``, 25 ms past its centre) have arrived, and identical whatever the chunk
sizes were. What needs more than one frame — loudness (the level range), voicing gated by
loudness, the pitch median — is :func:`speech.prosody.finish_features` over a window of frames the
caller chooses (:meth:`FeatureStream.features`): over the whole clip it is exactly
:func:`speech.prosody.acoustic_features`. Only the samples still needed are kept; raw frames are
kept until :meth:`FeatureStream.forget` drops them.

:class:`PhoneStream` recognises phones incrementally (pocketsphinx allphone decoding with
``process_raw(full_utt=False)``): :meth:`PhoneStream.phones` is what is decided so far plus the
current best path. Measured on the shared speech, 99.6 % of the phones that ended more than 120 ms
before the latest audio are those of the final result; decoding costs ~0.08× real time.
"""

from __future__ import annotations

import numpy as np

from speech.phones import FRAMES_PER_S, Timed, label, new_recogniser
from speech.prosody import HOP, RAW_FIELDS, REACH_AFTER, REACH_BEFORE, Features, finish_features, raw_features


class FeatureStream:
    """Per-10 ms-frame features of a stream of 16 kHz mono float samples, computed as the samples arrive."""

    def __init__(self) -> None:
        self.n_samples = 0  # samples pushed so far
        self.ready = 0  # raw frames computed so far (frame i is centred on sample i * HOP)
        self.finished = False
        self._buf = np.zeros(0, np.float32)
        self._buf_origin = 0  # stream index of _buf[0]
        self._raw = {k: np.zeros(0, np.float32) for k in RAW_FIELDS}
        self._raw_origin = 0  # frame index of the first kept raw frame

    def push(self, samples: np.ndarray) -> None:
        """Append float32 samples (already checked: 1-D, finite, 16 kHz) and compute the frames they complete."""
        if self.finished:
            raise ValueError("the feature stream is finished")
        self._buf = np.concatenate([self._buf, np.asarray(samples, np.float32)])
        self.n_samples += len(samples)
        complete = max(0, (self.n_samples - REACH_AFTER) // HOP + 1)
        self._compute(complete)

    def finish(self) -> None:
        """The stream has ended: the last frames are computed with zeros after the end (a whole clip's padding)."""
        if not self.finished:
            self._compute(self.n_samples // HOP + 1)
            self.finished = True

    @property
    def total(self) -> int | None:
        """How many frames the stream has in all, once finished (``n_samples // HOP + 1``); else None."""
        return self.n_samples // HOP + 1 if self.finished else None

    def features(self, *, start: int, stop: int) -> Features:
        """The features of frames ``start … stop - 1`` (all computed, not forgotten), normalised over them."""
        if not self._raw_origin <= start < stop <= self.ready:
            raise ValueError(f"frames {start}–{stop} are not available ({self._raw_origin}–{self.ready})")
        a, b = start - self._raw_origin, stop - self._raw_origin
        return finish_features({k: v[a:b] for k, v in self._raw.items()})

    def forget(self, before: int) -> None:
        """Drop the raw frames before frame ``before`` (a caller's window never reaches back that far again)."""
        drop = min(before, self.ready) - self._raw_origin
        if drop > 0:
            self._raw = {k: v[drop:] for k, v in self._raw.items()}
            self._raw_origin += drop

    def _compute(self, upto: int) -> None:
        if upto > self.ready:
            new = raw_features(self._buf, origin=self._buf_origin, first=self.ready, count=upto - self.ready)
            self._raw = {k: np.concatenate([self._raw[k], new[k]]) for k in RAW_FIELDS}
            self.ready = upto
        keep_from = max(self.ready * HOP - REACH_BEFORE, 0)  # the next frame's windows start here
        if keep_from > self._buf_origin:
            self._buf = self._buf[keep_from - self._buf_origin :]
            self._buf_origin = keep_from


class PhoneStream:
    """Phones of a stream of 16 kHz mono float samples, recognised as the samples arrive.

    The result after a given sequence of :meth:`push` calls depends only on those calls (feed it
    fixed blocks for results independent of how the audio arrived). An utterance is closed and a
    new one begun at a pause once it is :data:`MIN_UTTERANCE_S` long (at :data:`MAX_UTTERANCE_S`
    whatever), so the work per push stays bounded however long the stream.
    """

    MIN_UTTERANCE_S = 8.0
    MAX_UTTERANCE_S = 30.0
    PAUSE_S = 0.15
    #: For the first seconds the cepstral mean is this session's own, re-estimated after every push
    #: (:meth:`_adapt`). pocketsphinx's live mean starts from a generic prior that weighs as much as 5 s of
    #: speech (re-reading it after every push, as before, does not change that weight), so early in a session
    #: the features are off and bilabials go missing: measured on 12 clips, 30 of 53 bilabials found in time
    #: with that mean, 36 with this one, 41 with each clip's own whole-clip mean (an oracle: it needs the whole clip).
    ADAPT_S = 5.0
    #: The prior the session's mean starts from, and its weight in 10 ms frames (the mean after ``n``
    #: frames is ``(PRIOR_FRAMES × CMN_PRIOR + their sum) / (PRIOR_FRAMES + n)``): pocketsphinx's own
    #: initial mean, so no voice or channel is built in, worth 0.1 s of speech. Weights of 0–25 frames did
    #: about equally well, 100 and more worse, leaving one clip out (docs/benchmarks.md).
    CMN_PRIOR = (40.0, 3.0, -1.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0)
    PRIOR_FRAMES = 10

    def __init__(self) -> None:
        self._decoder = new_recogniser()
        self._cmn = np.asarray(self.CMN_PRIOR, np.float64)
        self._cmn_sum = np.zeros_like(self._cmn)  # of the session's cepstra so far (while adapting)
        self._cmn_frames = 0
        self._adapting = self.ADAPT_S > 0
        self._tail = np.zeros(0, np.int16)  # the last samples, for the frames that straddle pushes
        self._decoder.set_cmn(_cmn_text(self._cmn))
        self._decoder.start_utt()
        self._utt_start = 0  # 10 ms frame of the stream where the current utterance began
        self._frames = 0  # 10 ms frames pushed (samples // HOP)
        self._samples = 0
        self._done: list[Timed] = []
        self.finished = False

    def push(self, samples: np.ndarray) -> None:
        if self.finished:
            raise ValueError("the phone stream is finished")
        pcm = (np.clip(np.asarray(samples, np.float32), -1.0, 1.0) * 32767.0).astype("<i2")
        step = len(pcm) if not self._adapting else _ADAPT_BLOCK
        for i in range(0, len(pcm), max(step, 1)):
            block = pcm[i : i + step]
            self._decoder.process_raw(block.tobytes(), full_utt=False)
            if self._adapting:
                self._adapt(block)
            self._samples += len(block)
        length_s = (self._samples / HOP - self._utt_start) / FRAMES_PER_S
        if length_s >= self.MAX_UTTERANCE_S or (length_s >= self.MIN_UTTERANCE_S and self._pausing()):
            self._close()
            self._decoder.start_utt()

    def _adapt(self, block: np.ndarray) -> None:
        """Fold the cepstra of ``block`` (just decoded) into the session's mean and give the decoder that mean.

        pocketsphinx does not hand out cepstra, but its live mean is a running sum: after ``set_cmn(m)`` it
        holds ``_PS_CMN_WEIGHT × m`` over as many frames, and adds each new frame (but all-zero ones); so
        ``get_cmn(update=True)`` after ``k`` new frames is ``(_PS_CMN_WEIGHT × m + their sum) / (_PS_CMN_WEIGHT + k)``,
        which gives their sum. ``k`` comes from the samples (its frames are ``_PS_WINDOW`` samples every ``HOP``).
        """
        before, after = _ps_frames(self._samples), _ps_frames(self._samples + len(block))
        recent = np.concatenate([self._tail, block])  # from stream sample self._samples - len(self._tail)
        starts = np.arange(before, after) * HOP - (self._samples - len(self._tail))
        new = sum(bool(recent[a : a + _PS_WINDOW].any()) for a in starts)
        self._tail = recent[-_PS_WINDOW:]
        if new > 0:
            mean = np.array([float(v) for v in self._decoder.get_cmn(True).split(",")])
            self._cmn_sum += mean * (_PS_CMN_WEIGHT + new) - _PS_CMN_WEIGHT * self._cmn
            self._cmn_frames += new
            self._cmn = (self.PRIOR_FRAMES * np.asarray(self.CMN_PRIOR) + self._cmn_sum) / (
                self.PRIOR_FRAMES + self._cmn_frames)
            self._decoder.set_cmn(_cmn_text(self._cmn))
        if self._samples + len(block) >= self.ADAPT_S * 16_000:
            self._adapting = False  # the decoder's own live mean carries on from the session's

    def finish(self) -> None:
        if not self.finished:
            self._close()
            self.finished = True

    def phones(self, *, since_s: float = 0.0) -> list[Timed]:
        """The phones so far (times in seconds of the stream) that end after ``since_s``."""
        current = [] if self.finished else self._current()
        return [p for p in self._done + current if p.end_s > since_s]

    def forget(self, *, before_s: float) -> None:
        """Drop the decided phones that ended before ``before_s``."""
        self._done = [p for p in self._done if p.end_s >= before_s]

    def _current(self) -> list[Timed]:
        if self._decoder.hyp() is None:
            return []
        offset = self._utt_start / FRAMES_PER_S
        return [Timed(label(s.word), offset + s.start_frame / FRAMES_PER_S, offset + (s.end_frame + 1) / FRAMES_PER_S)
                for s in self._decoder.seg()]

    def _pausing(self) -> bool:
        current = self._current()
        return bool(current) and current[-1].label == "SIL" and current[-1].end_s - current[-1].start_s >= self.PAUSE_S

    def _close(self) -> None:
        self._adapting = False  # the frame count of :meth:`_adapt` holds within the first utterance
        self._decoder.end_utt()
        self._done += self._current()
        self._utt_start = self._samples // HOP


#: pocketsphinx's live cepstral mean: the weight in frames of a mean set with ``set_cmn`` (``CMN_WIN`` in its
#: cmn_live.c), the frame count at which it starts to decay (``CMN_WIN_HWM``), and its analysis window in samples
#: (0.025625 s at 16 kHz; a frame every ``HOP``). tests/speech checks that :meth:`PhoneStream._adapt` recovers the
#: whole-clip mean with them.
_PS_CMN_WEIGHT = 500
_PS_CMN_DECAY = 800
_PS_WINDOW = 410
_ADAPT_BLOCK = (_PS_CMN_DECAY - _PS_CMN_WEIGHT) * HOP // 2  # samples: a block never starts the decay


def _ps_frames(samples: int) -> int:
    """How many frames pocketsphinx has analysed after ``samples`` samples of an utterance."""
    return max(0, (samples - _PS_WINDOW) // HOP + 1)


def _cmn_text(mean: np.ndarray) -> str:
    return ",".join(f"{v:.4f}" for v in mean)


__all__ = ["FeatureStream", "PhoneStream"]
