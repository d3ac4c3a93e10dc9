"""The ``learned`` backend: motion from the trained model, drawn by the default backend's rig and renderer.

>>> from generator import get_generator
>>> generator = get_generator("learned")                                          # doctest: +SKIP
>>> generation = generator.prepare(portrait_rgb, audio, controls=Controls(seed=3))  # doctest: +SKIP
>>> first_second = next(generation.windows(25))                                   # doctest: +SKIP

Preparing builds the rig and analyses the speech as :class:`generator.DefaultGenerator` does, computes
the audio features of :func:`generator.motion_data.audio_features`, samples motion latents window by
window (:mod:`generator.learned.inference`) and decodes them with
:func:`generator.motion_data.poses_from_latent`: head pose, blinks, gaze, jaw, lip width, smile and
brows come from the model; lip press, lip tuck, teeth and tongue from the speech visemes (the mesh
cannot see them; docs/learned_generator.md). :class:`~generator.motion.Controls` map to the model's
conditions where it has one and to the default backend's treatment where it does not:

- ``gaze="camera"`` conditions on looking at the camera (gaze 0, 0); ``"free"`` leaves gaze unconditioned.
- head distance is conditioned on the clip's median (log scale 0); ``zoom`` frames the rig as before.
- ``emotion``: a condition only if the model was trained with that label; the shipped model saw no
  labelled emotions, so the default backend's offsets (:data:`generator.motion.EMOTIONS`) are added.
- ``intensity`` scales head, brow and gaze motion around their rest values; ``still_head`` removes head motion.
- ``seed`` fixes the sampling noise (same seed, same motion).
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Iterator

import numpy as np

from generator.backends import LiveSession
from generator.errors import GeneratorError
from generator.learned.checkpoint import MODELS_DIR, MotionModel, file_sha256, load_from_card
from generator.learned.flow import DEFAULT_GUIDANCE, Guidance
from generator.learned.inference import generate_latents, iter_latent_windows
from generator.learned.model import EMOTION_NAMES
from generator.motion import EMOTIONS, Controls, MotionTrack
from generator.motion_data import SMOOTH_S, AudioEncoder, MotionBasis, audio_features, poses_from_latent
from generator.pipeline import Generation, prepare_generation, rig_and_speech
from generator.render import render_frame
from generator.speech import SpeechTrack
from likeness import __version__
from media import Audio

_HEAD = ("yaw", "pitch", "roll", "tx", "ty")


@functools.cache
def shipped_model() -> MotionModel:
    """The shipped small model (loaded once, after checking its card's SHA-256)."""
    return load_from_card()


def load_basis(model: MotionModel) -> MotionBasis:
    """The expression basis named by the model's card, beside the card (checked against its SHA-256)."""
    entry = model.card.get("basis")
    if not entry:
        raise GeneratorError("the motion model's card names no expression basis")
    path = (model.card_dir or MODELS_DIR) / entry["file"]
    if file_sha256(path) != entry["sha256"]:
        raise GeneratorError(f"the expression basis {path.name} does not match the model's card: refusing to use it")
    return MotionBasis.load(path)


class LearnedGenerator:
    """Motion from the trained motion model; rig, speech analysis and rendering of the default backend."""

    name = "learned"

    def __init__(self, model: MotionModel | None = None, *, basis: MotionBasis | None = None,
                 guidance: Guidance = DEFAULT_GUIDANCE, audio_encoder: AudioEncoder | None = None) -> None:
        """``audio_encoder``: the wav2vec2-style encoder a model was trained with (its features follow the 43)."""
        self.model = model or shipped_model()
        self.audio_encoder = audio_encoder
        self.basis = basis or load_basis(self.model)
        if self.basis.n_expr + 10 != self.model.config.latent_dim:
            raise GeneratorError("the expression basis does not fit the motion model's latents")
        self.guidance = guidance
        self.version = f"{__version__}+{self.model.card.get('version', self.model.sha256[:12])}"

    def motion(self, audio: Audio, *, n_frames: int, fps: float, controls: Controls,
               speech: SpeechTrack | None = None, guidance: Guidance | None = None) -> MotionTrack:
        """The motion track for ``audio`` (model latents decoded, then the controls applied)."""
        feats, conditions, emotion_conditioned = self._conditioning(audio, n_frames=n_frames, fps=fps,
                                                                    controls=controls, guidance=guidance)
        latents = generate_latents(feats, model=self.model, **conditions)
        track = poses_from_latent(latents, basis=self.basis, fps=fps, speech=speech, smooth_s=SMOOTH_S)
        return apply_controls(track, controls, emotion_conditioned=emotion_conditioned)

    def _conditioning(self, audio: Audio, *, n_frames: int, fps: float, controls: Controls,
                      guidance: Guidance | None) -> tuple[np.ndarray, dict, bool]:
        """The audio features, the sampler's conditions for ``controls``, and whether the model was conditioned on
        the requested emotion (when not, :func:`apply_controls` adds the rule-based offset)."""
        feats = audio_features(audio, fps=fps, n_frames=n_frames, encoder=self.audio_encoder)
        emotion_conditioned = controls.emotion in {EMOTION_NAMES[i] for i in self.model.emotions}
        conditions = {"has_audio": True, "gaze": (0.0, 0.0) if controls.gaze == "camera" else None,
                      "distance": 0.0, "emotion": controls.emotion if emotion_conditioned else None,
                      "guidance": guidance or self.guidance, "seed": controls.seed}
        return feats, conditions, emotion_conditioned

    def prepare(
        self,
        portrait_rgb: np.ndarray,
        audio: Audio,
        *,
        controls: Controls | None = None,
        transcript: str | None = None,
        fps: float = 25.0,
        guidance: Guidance | None = None,
    ) -> Generation:
        controls = controls or Controls()
        if abs(fps - self.model.fps) > 1e-6:
            raise GeneratorError(f"the learned backend renders at the {self.model.fps:g} fps its model was trained "
                                 f"at, not {fps:g}")

        def plan(speech: SpeechTrack) -> MotionTrack:
            return self.motion(audio, n_frames=speech.n_frames, fps=fps, controls=controls, speech=speech,
                               guidance=guidance)

        return prepare_generation(portrait_rgb, audio, controls=controls, transcript=transcript, fps=fps, plan=plan)

    def live(self, portrait_rgb: np.ndarray, *, controls: Controls | None = None, fps: float = 25.0,
             lookahead_s: float = 0.12, max_seconds: float = 3600.0) -> LiveSession:
        """Not yet: the learned backend samples motion two seconds at a time. Raises GeneratorError (no fallback)."""
        raise GeneratorError("the 'learned' generator backend has no live mode yet; use the 'default' backend "
                             "for live sessions")

    def stream(
        self,
        portrait_rgb: np.ndarray,
        audio: Audio,
        *,
        controls: Controls | None = None,
        transcript: str | None = None,
        window: int = 25,
        guidance: Guidance | None = None,
    ) -> Iterator[list[np.ndarray]]:
        """Windows of ``window`` frames; motion is sampled one model window (2 s) ahead of rendering.

        Each model window's motion is decoded (with the low-pass of :data:`SMOOTH_S`) once the next
        window is sampled, so the frames equal those of :meth:`prepare` for the same seed.
        """
        controls = controls or Controls()
        if window < 1:
            raise GeneratorError("a window holds at least one frame")
        fps = self.model.fps
        rig, speech = rig_and_speech(portrait_rgb, audio, zoom=controls.zoom, fps=fps, transcript=transcript)
        feats, conditions, emotion_conditioned = self._conditioning(audio, n_frames=speech.n_frames, fps=fps,
                                                                    controls=controls, guidance=guidance)
        latent_windows = iter_latent_windows(self.model, feats, **conditions)
        # The decoding low-pass (SMOOTH_S) looks `reach` frames ahead: a frame is decoded once the latents
        # `reach` frames past it are sampled (or the clip has ended), so streaming renders exactly what
        # `prepare` plans for the whole clip.
        reach = max(1, int(3 * SMOOTH_S * fps))
        sampled: list[np.ndarray] = []
        pending: list[np.ndarray] = []
        done = 0
        windows = iter(latent_windows)
        latents = next(windows, None)
        while latents is not None:
            sampled.append(latents)
            latents = next(windows, None)
            so_far = np.concatenate(sampled)
            ready = len(so_far) if latents is None else len(so_far) - reach
            if ready <= done:
                continue
            start = max(0, done - reach)  # the filter needs `reach` frames of history, no more
            part = replace_speech(speech, start=start, stop=len(so_far))
            decoded = poses_from_latent(so_far[start:], basis=self.basis, fps=fps, speech=part, smooth_s=SMOOTH_S)
            track = apply_controls(decoded, controls, emotion_conditioned=emotion_conditioned)
            for index in range(done, ready):
                pending.append(render_frame(rig, track[index - start]))
                if len(pending) == window:
                    yield pending
                    pending = []
            done = ready
        if pending:
            yield pending


def replace_speech(speech: SpeechTrack, *, start: int, stop: int) -> SpeechTrack:
    """Frames ``[start, stop)`` of a speech track (its per-frame arrays sliced; phones kept)."""
    arrays = {name: getattr(speech, name)[start:stop] for name in ("loudness", "voiced", "pitch", "jaw_open",
                                                                 "lip_width", "lip_press", "lip_tuck", "teeth",
                                                                 "tongue")}
    return dataclasses.replace(speech, n_frames=stop - start, **arrays)


def apply_controls(track: MotionTrack, controls: Controls, *, emotion_conditioned: bool) -> MotionTrack:
    """``intensity`` and ``still_head`` on the decoded motion, and the emotion offset when not conditioned."""
    arrays = {name: values.astype(np.float64) for name, values in track.arrays.items()}
    k = controls.intensity
    for name in _HEAD:
        arrays[name] = np.zeros_like(arrays[name]) if controls.still_head else k * arrays[name]
    arrays["scale"] = np.ones_like(arrays["scale"]) if controls.still_head else 1.0 + k * (arrays["scale"] - 1.0)
    for name in ("brow_raise", "gaze_x", "gaze_y"):
        arrays[name] = k * arrays[name]
    if not emotion_conditioned:
        for name, offset in EMOTIONS[controls.emotion].items():
            arrays[name] = arrays[name] + offset
    arrays["jaw_open"] = np.clip(arrays["jaw_open"], 0, 1)
    for name in ("smile", "brow_raise", "gaze_x", "gaze_y"):
        arrays[name] = np.clip(arrays[name], -1, 1)
    return MotionTrack({name: v.astype(np.float32) for name, v in arrays.items()}, fps=track.fps)
