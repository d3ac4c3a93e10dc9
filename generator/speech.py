"""Speech → per-video-frame mouth shapes (visemes with co-articulation), loudness and pitch.

>>> import numpy as np
>>> from media import Audio
>>> from generator.speech import analyse_speech
>>> t = np.arange(32_000, dtype=np.float32) / 16_000
>>> hum = 0.3 * np.sin(2 * np.pi * 140 * t) * (np.sin(np.pi * t / 2) > 0.3)
>>> track = analyse_speech(Audio(samples=hum.astype(np.float32), sample_rate=16_000), fps=25)
>>> track.n_frames, track.jaw_open.shape, track.jaw_open.dtype
(50, (50,), dtype('float32'))
>>> track.source in ("recognition", "acoustic"), float(track.jaw_open[0])
(True, 0.0)

:func:`analyse_speech` resamples to 16 kHz mono and measures, at 100 frames a second, an RMS
loudness envelope (0 at this clip's noise floor, 1 near its loudest), YIN pitch and voicing, and
the spectral shape. The phones come from pocketsphinx: forced alignment when a transcript is
given (``source="alignment"``), else phone recognition (``"recognition"``); when there is no
usable result — nothing recognised, an implausible phone rate, sung audio (long held notes), or
silence — the mouth follows the sound itself (``"acoustic"``). Phones become mouth targets blended
with their neighbours by dominance functions (:mod:`generator._visemes`), the jaw scaled by
loudness; each video frame then averages the 10 ms frames it covers, except lip closures, lip
tucks and tongue contacts, which take their peak so that a 30 ms closure still shows.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass, field, fields
from typing import Literal

import numpy as np

from generator import _visemes
from generator.errors import SpeechError
from media import Audio
from speech import phones as _phones
from speech import prosody as _prosody
from speech.stream import FeatureStream, PhoneStream
from speech.text import words_of

logger = logging.getLogger(__name__)

MIN_DURATION_S = 0.1
MAX_FPS = 240.0
Source = Literal["alignment", "recognition", "acoustic"]
_PEAK_PARAMS = ("lip_press", "lip_tuck", "tongue")  # brief contacts: a video frame keeps their peak
_CLOSURES = frozenset({"P", "B", "M"})  # phones that close the lips
_SINGING = 0.6  # singing_likelihood at which phone recognition is not trusted
_PHONE_RATE = (3.0, 22.0)  # plausible phones per second of recognised speech
_MIN_COVERAGE = 0.5  # of the loud 10 ms frames, how many recognised phones must cover
# Alignment score per frame / free phone-loop score per frame: measured 1.3–2.7 for right
# transcripts (4 espeak-ng voices at 2 speeds, 2 real English recordings), 2.7–7.3 for wrong ones
# (which mostly fail to align at all): a wrong transcript may pass, a right one is not refused.
_MAX_MISFIT = 3.0


@dataclass(frozen=True)
class Phone:
    """One phone: ARPAbet label without stress (``SIL`` for silence and noise), times in seconds."""

    label: str
    start_s: float
    end_s: float


@dataclass(frozen=True, eq=False)
class SpeechTrack:
    """Per video frame features (float32 arrays of length ``n_frames``), frame ``k`` covering
    ``[k / fps, (k + 1) / fps)`` of the audio; ``phones`` and the ``source`` of the mouth shapes."""

    fps: float
    n_frames: int
    loudness: np.ndarray
    voiced: np.ndarray
    pitch: np.ndarray
    jaw_open: np.ndarray
    lip_width: np.ndarray
    lip_press: np.ndarray
    lip_tuck: np.ndarray
    teeth: np.ndarray
    tongue: np.ndarray
    phones: list[Phone] = field(default_factory=list)
    source: Source = "acoustic"

    def __post_init__(self) -> None:
        for name in ("loudness", "voiced", "pitch", *_visemes.PARAMS):
            values = getattr(self, name)
            if values.shape != (self.n_frames,):
                raise ValueError(f"SpeechTrack.{name} has shape {values.shape}, not ({self.n_frames},)")

    @property
    def duration_s(self) -> float:
        return self.n_frames / self.fps


def analyse_speech(audio: Audio, *, fps: float, transcript: str | None = None) -> SpeechTrack:
    """The speech track of ``audio`` at ``fps`` video frames a second (``ceil(duration × fps)`` frames).

    ``transcript`` (the words spoken, any punctuation or case) enables forced alignment, which
    is much more accurate than recognition. Raises :class:`SpeechError` for an unusable ``fps``
    and for audio that is empty, shorter than 0.1 s, or not finite.
    """
    fps = _check_fps(fps)
    x = _samples_16k(audio)
    n_frames = max(1, math.ceil(round(len(x) / _prosody.SAMPLE_RATE * fps, 6)))
    feats = _prosody.acoustic_features(x)
    timed, source = _phones_for(x, feats, transcript=transcript)
    if source == "acoustic":
        mouth = _visemes.mouth_from_sound(feats)
    else:
        mouth = _visemes.mouth_from_phones(timed, n=feats.n, loudness=feats.loudness)
    owner = np.minimum((np.arange(feats.n) * fps / _prosody.FRAME_RATE).astype(np.int64), n_frames - 1)
    values = frame_values(feats, mouth, semitones=_prosody.semitones(feats.f0), owner=owner, n_frames=n_frames)
    track = SpeechTrack(
        fps=fps,
        n_frames=n_frames,
        **values,
        phones=[Phone(p.label, round(p.start_s, 3), round(p.end_s, 3)) for p in timed],
        source=source,
    )
    logger.info("speech: %.2f s, %d frames at %g fps, %d phones, mouth from %s", len(x) / 16_000, n_frames, fps,
                len(timed), source)
    return track


class SpeechStream:
    """The speech track computed as audio arrives: video frame ``k`` from the audio before
    ``k / fps + lookahead_s`` only, whatever comes later and however the audio was chunked.

    >>> import numpy as np
    >>> stream = SpeechStream(fps=25, lookahead_s=0.12)
    >>> len(stream.push(np.zeros(1_600, np.float32)))       # 100 ms in: frame 0 needs 120 ms
    0
    >>> len(stream.push(np.zeros(1_600, np.float32))), len(stream.finish())
    (3, 2)

    The features are :class:`speech.stream.FeatureStream`'s; each frame normalises them over the
    last :data:`CONTEXT_S` of audio it may see (loudness range, pitch median). Phones come from
    :class:`speech.stream.PhoneStream` (incremental recognition, fed exactly up to each frame's
    horizon, so its result does not depend on the chunking; a lip closure it dropped since an earlier
    frame is kept, :meth:`_recall`); where the recent phones pass the offline
    checks (speech, not singing, a plausible phone rate and coverage) the mouth comes from them
    (:func:`generator._visemes.mouth_from_phones`), else from the sound (``mouth_from_sound``), both the
    offline code over the window. Per frame values come from :func:`frame_values`, as offline.
    :meth:`push` and :meth:`finish` return the frames that became ready, in order; ``sources`` counts
    the frames whose mouth came from each path.
    """

    CONTEXT_S = 4.0
    #: How long before a frame's own audio a closure that the recogniser dropped still counts (:meth:`_recall`):
    #: 0.05–0.2 s gave the same closures, leaving one clip out (docs/benchmarks.md).
    RECALL_S = 0.1

    def __init__(self, *, fps: float, lookahead_s: float) -> None:
        self.fps = _check_fps(fps)
        if self.fps > _prosody.FRAME_RATE:
            raise SpeechError(f"live speech runs at most {_prosody.FRAME_RATE:g} fps, not {fps!r}")
        low = round(1.0 / self.fps + _prosody.REACH_AFTER / _prosody.SAMPLE_RATE, 3)
        if not low <= float(lookahead_s) <= 1.0:
            raise SpeechError(f"the look-ahead must be between {low:g} s (a frame and the pitch window) and 1 s "
                              f"at {self.fps:g} fps, not {lookahead_s!r}")
        self.lookahead_s = float(lookahead_s)
        self.features = FeatureStream()
        self.phones = PhoneStream()
        self.next_frame = 0
        self.sources: dict[str, int] = {"recognition": 0, "acoustic": 0}
        self._context = int(self.CONTEXT_S * _prosody.FRAME_RATE)
        self._pending = np.zeros(0, np.float32)  # samples not yet given to the phone recogniser
        self._phones_fed = 0
        self._closures: list[_phones.Timed] = []  # bilabials seen in the phones of earlier frames (_recall)

    @property
    def n_frames(self) -> int | None:
        """Frames in all once finished (``ceil(duration × fps)``), else None."""
        if not self.features.finished:
            return None
        return math.ceil(round(self.features.n_samples / _prosody.SAMPLE_RATE * self.fps, 6))

    def horizon(self, frame: int) -> int:
        """How many samples frame ``frame`` may depend on (those before ``frame / fps + lookahead_s``)."""
        return math.ceil(round((frame / self.fps + self.lookahead_s) * _prosody.SAMPLE_RATE, 6))

    def push(self, samples: np.ndarray) -> list[dict[str, float]]:
        """Append 16 kHz mono float32 samples (checked by the caller); the values of the frames now ready."""
        self.features.push(samples)
        self._pending = np.concatenate([self._pending, np.asarray(samples, np.float32)])
        return self._drain()

    def finish(self) -> list[dict[str, float]]:
        """The audio has ended: the values of every remaining frame."""
        self.features.finish()
        self._feed_phones(self.features.n_samples)
        self.phones.finish()
        return self._drain()

    def _drain(self) -> list[dict[str, float]]:
        out = []
        total = self.n_frames
        while (self.next_frame < total if total is not None
               else self.features.n_samples >= self.horizon(self.next_frame)):
            out.append(self._frame(self.next_frame))
            self.next_frame += 1
        return out

    def _feed_phones(self, upto: int) -> None:
        """Give the recogniser the samples before ``upto`` (frame horizons: the same blocks however audio came)."""
        if upto > self._phones_fed and not self.phones.finished:
            n = upto - self._phones_fed
            self.phones.push(self._pending[:n])
            self._pending = self._pending[n:]
            self._phones_fed = upto

    def _mouth(self, feats: _prosody.Features, *, start: int, first: int) -> dict[str, np.ndarray]:
        """Mouth shapes of the window's 10 ms frames from ``first`` on (``start``: the window's first frame)."""
        shift = start / _prosody.FRAME_RATE
        current = self.phones.phones(since_s=shift)
        recalled = self._recall(current, since_s=first / _prosody.FRAME_RATE - self.RECALL_S)
        timed = [_phones.Timed(p.label, max(p.start_s - shift, 0.0), p.end_s - shift) for p in current]
        usable = (float(feats.loudness.max(initial=0.0)) >= 0.05
                  and _prosody.singing_likelihood(feats.f0, voiced=feats.voiced) < _SINGING
                  and _implausible(timed, feats) is None)
        self.sources["recognition" if usable else "acoustic"] += 1
        if not usable:
            return {name: v[first - start :] for name, v in _visemes.mouth_from_sound(feats).items()}
        sub = max(0, first - start - int(_prosody.FRAME_RATE))  # a phone's reach is well under 1 s
        cut = sub / _prosody.FRAME_RATE
        near = [_phones.Timed(p.label, max(p.start_s - cut, 0.0), p.end_s - cut)
                for p in timed + [_phones.Timed(p.label, p.start_s - shift, p.end_s - shift) for p in recalled]
                if p.end_s > cut]
        mouth = _visemes.mouth_from_phones(near, n=feats.n - sub, loudness=feats.loudness[sub:])
        return {name: v[first - start - sub :] for name, v in mouth.items()}

    def _recall(self, current: list[_phones.Timed], *, since_s: float) -> list[_phones.Timed]:
        """The lip closures that earlier frames' phones held and the current best path has dropped (it
        still overlaps none of them with a closure of its own), ending after ``since_s``; ``current``'s
        closures are remembered for the next frames.

        At the newest audio the recogniser's best path flickers: a bilabial is in it at one frame's horizon,
        gone at the next (another consonant in its place), back in the final result. Measured on the
        shared and held-out speech (12 clips, ≤ 8 s), keeping them closes 41 of the 53 bilabials of
        offline recognition in time instead of 36, at the cost of 6 more closures at the 118 open vowels
        (16; offline 15) and 3 more at the 79 T/D/K/G (10; offline 1). A closure once heard is kept until
        its frames are out.
        """
        closures = [p for p in current if p.label in _CLOSURES]
        dropped = [p for p in self._closures if p.end_s > since_s
                   and not any(q.start_s < p.end_s and p.start_s < q.end_s for q in closures)]
        self._closures = closures + dropped
        return dropped

    def _owned(self, frame: int) -> int:
        """The first 10 ms frame that belongs to video frame ``frame`` (``int(i × fps / 100)`` as offline)."""
        i = max(0, math.floor(frame * _prosody.FRAME_RATE / self.fps) - 1)
        while int(i * self.fps / _prosody.FRAME_RATE) < frame:
            i += 1
        return i

    def _frame(self, k: int) -> dict[str, float]:
        stop = (self.horizon(k) - _prosody.REACH_AFTER) // _prosody.HOP + 1
        first, last = self._owned(k), self._owned(k + 1)
        if self.features.finished:
            stop = min(stop, self.features.ready)
            if k == (self.n_frames or 0) - 1:
                last = self.features.ready  # the last video frame takes the 10 ms frames after it, as offline
        last = min(last, stop)
        start = max(0, stop - self._context)
        self._feed_phones(self.horizon(k))
        feats = self.features.features(start=start, stop=stop)
        mouth = self._mouth(feats, start=start, first=first)
        semitones = _prosody.semitones(feats.f0)
        a, b = first - start, last - start
        own = _prosody.Features(**{f.name: getattr(feats, f.name)[a:b] for f in fields(feats)})
        values = frame_values(own, {name: v[: b - a] for name, v in mouth.items()}, semitones=semitones[a:b],
                              owner=np.zeros(b - a, np.int64), n_frames=1)
        self.features.forget(start)
        self.phones.forget(before_s=start / _prosody.FRAME_RATE)
        return {name: float(v[0]) for name, v in values.items()}


def frame_values(feats: _prosody.Features, mouth: dict[str, np.ndarray], *, semitones: np.ndarray, owner: np.ndarray,
                 n_frames: int) -> dict[str, np.ndarray]:
    """10 ms features and mouth shapes → per video frame values (``owner[i]``: the video frame of 10 ms frame i):
    loudness, voicing and pitch averaged, the mouth averaged except brief contacts (their peak)."""
    per_frame = {name: _per_frame(values, owner, n_frames, peak=name in _PEAK_PARAMS) for name, values in mouth.items()}
    per_frame["jaw_open"] *= 1.0 - 0.9 * per_frame["lip_press"]  # pressed lips hold the jaw nearly shut
    voiced = feats.voiced > 0.5
    weight = _per_frame(voiced.astype(np.float32), owner, n_frames)
    pitch_sum = _per_frame(semitones * voiced, owner, n_frames)
    pitch = np.where(weight > 0, pitch_sum / np.maximum(weight, 1e-6), 0.0)
    return {
        "loudness": np.clip(_per_frame(feats.loudness, owner, n_frames), 0, 1).astype(np.float32),
        "voiced": np.clip(_per_frame(feats.voiced, owner, n_frames), 0, 1).astype(np.float32),
        "pitch": pitch.astype(np.float32),
        **{name: values.astype(np.float32) for name, values in per_frame.items()},
    }


def _samples_16k(audio: Audio) -> np.ndarray:
    if not isinstance(audio, Audio):
        raise SpeechError(f"expected media.Audio, not {type(audio).__name__}")
    if audio.n_samples == 0:
        raise SpeechError("the audio is empty: there is no speech to animate")
    if audio.duration_s < MIN_DURATION_S:
        raise SpeechError(f"the audio is {audio.duration_s:.3f} s long; at least {MIN_DURATION_S} s is needed")
    if not np.isfinite(audio.samples).all():
        raise SpeechError("the audio contains NaN or infinite samples")
    mono = audio.to_mono().resample(_prosody.SAMPLE_RATE)
    return np.clip(mono.samples[0], -1.0, 1.0).astype(np.float32)


def _check_fps(fps: float) -> float:
    try:
        value = float(fps)
    except (TypeError, ValueError):
        raise SpeechError(f"fps must be a number, not {fps!r}") from None
    if not math.isfinite(value) or not 1.0 <= value <= MAX_FPS:
        raise SpeechError(f"fps must be between 1 and {MAX_FPS:g}, not {fps!r}")
    return value


def _phones_for(
    x: np.ndarray, feats: _prosody.Features, *, transcript: str | None
) -> tuple[list[_phones.Timed], Source]:
    """The timed phones and where they came from (no phones: the acoustic path)."""
    if float(feats.loudness.max(initial=0.0)) < 0.05:
        logger.info("no speech above the noise floor: the mouth stays closed")
        return [], "acoustic"
    pcm = _phones.to_pcm16(x)
    singing = _prosody.singing_likelihood(feats.f0, voiced=feats.voiced)
    recognised = None
    if transcript and words_of(transcript):
        recognised = _phones.recognise(pcm)  # the free phone loop: the best any transcript can fit
        try:
            aligned = _phones.align(pcm, transcript=transcript)
        except _phones.AlignmentFailed as exc:
            logger.warning("forced alignment failed (%s); recognising phones instead", exc)
        else:
            misfit = aligned.score / min(recognised.score, -1.0)
            if misfit <= _MAX_MISFIT:
                return aligned.phones, "alignment"
            logger.warning(
                "forced alignment failed: the transcript fits the audio %.1f× worse than free phone "
                "recognition, so it is probably not what was said; recognising phones instead", misfit
            )
    if singing >= _SINGING:
        logger.info("the audio sounds sung (%.0f %% of voicing in held notes): mouth from the sound", 100 * singing)
        return [], "acoustic"
    recognised = recognised or _phones.recognise(pcm)
    problem = _implausible(recognised.phones, feats)
    if problem:
        logger.info("phone recognition not usable (%s): mouth from the sound", problem)
        return [], "acoustic"
    return recognised.phones, "recognition"


def _implausible(phones: list[_phones.Timed], feats: _prosody.Features) -> str | None:
    """Why recognised phones should not drive the mouth, or None when they look like speech."""
    spoken = [p for p in phones if p.label != "SIL"]
    if len(spoken) < 2:
        return "fewer than two phones recognised"
    seconds = sum(p.end_s - p.start_s for p in spoken)
    rate = len(spoken) / max(seconds, 1e-3)
    if not _PHONE_RATE[0] <= rate <= _PHONE_RATE[1]:
        return f"{rate:.1f} phones a second"
    covered = np.zeros(feats.n, bool)
    for p in spoken:
        covered[int(p.start_s * _prosody.FRAME_RATE) : int(p.end_s * _prosody.FRAME_RATE) + 1] = True
    loud = feats.loudness > 0.3
    coverage = float(covered[loud].mean()) if loud.any() else 1.0
    if coverage < _MIN_COVERAGE:
        return f"only {100 * coverage:.0f} % of the loud audio recognised as speech"
    return None


def _per_frame(values: np.ndarray, owner: np.ndarray, n_frames: int, *, peak: bool = False) -> np.ndarray:
    """10 ms frames → video frames: the mean (or ``peak``) of the frames each covers."""
    values = np.asarray(values, np.float32)[: owner.size]
    counts = np.bincount(owner, minlength=n_frames)
    if peak:
        out = np.full(n_frames, -np.inf, np.float32)
        np.maximum.at(out, owner, values)
    else:
        out = (np.bincount(owner, weights=values, minlength=n_frames) / np.maximum(counts, 1)).astype(np.float32)
    empty = counts == 0  # video frames faster than 100 a second: take the nearest 10 ms frame
    if empty.any():
        frames_per_video_frame = owner.size / n_frames
        centres = (np.flatnonzero(empty) + 0.5) * frames_per_video_frame
        out[empty] = values[np.clip(centres.astype(np.int64), 0, owner.size - 1)]
    return out
