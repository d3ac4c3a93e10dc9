"""The talking-face generator: one portrait + one speech recording → 512² frames, streamed in windows.

>>> from generator import Controls, get_generator
>>> generator = get_generator("default")
>>> generator.name
'default'
>>> generation = generator.prepare(portrait_rgb, audio, controls=Controls(emotion="happy"))  # doctest: +SKIP
>>> first_second = next(generation.windows(25))                                            # doctest: +SKIP

The default backend needs no trained weights and runs on a CPU: a face rig from MediaPipe's
478 landmarks, speech → visemes with co-articulation (pocketsphinx) and prosody, rule-based
blinks, head motion and gaze, and mesh-warp rendering with a drawn mouth interior and eyelids
(docs/generator.md). The ``learned`` backend (:mod:`generator.learned`, docs/learned_generator.md)
samples the motion from a trained model instead. Both are a :class:`Generator`
(:mod:`generator.backends`), chosen by name. ``generator.live(portrait)`` opens a live session
(:class:`LiveStream`: speech fed in chunks, frames out within a bounded look-ahead; default backend).
The generator never writes files: frames go to
``provenance.release``.
"""

from generator.backends import Generator, LiveSession, PreparedGeneration, available_backends, get_generator
from generator.errors import GeneratorError, SpeechError
from generator.live import LiveStream
from generator.motion import Controls, MotionTrack, plan_motion
from generator.pipeline import DefaultGenerator, Generation
from generator.pose import FramePose
from generator.speech import Phone, SpeechTrack, analyse_speech

__all__ = [
    "Controls",
    "DefaultGenerator",
    "FramePose",
    "Generation",
    "Generator",
    "GeneratorError",
    "LiveSession",
    "LiveStream",
    "MotionTrack",
    "Phone",
    "PreparedGeneration",
    "SpeechError",
    "SpeechTrack",
    "analyse_speech",
    "available_backends",
    "get_generator",
    "plan_motion",
]
