"""The learned generator: a transformer that denoises windows of motion latents (VASA-1's idea), on CPU or GPU.

>>> from generator.learned import config_named, MotionDenoiser
>>> MotionDenoiser(config_named("small", latent_dim=22, audio_dim=43)).parameter_count() < 5_000_000
True

:mod:`~generator.learned.model` is the network, :mod:`~generator.learned.flow` the flow-matching
objective and the guided sampler, :mod:`~generator.learned.train` the (``torchrun``) training entry,
:mod:`~generator.learned.inference` window-by-window sampling of a clip's latents and
:mod:`~generator.learned.backend` the ``learned`` backend of :func:`generator.get_generator`. The
shipped small model and its card are in ``generator/models/`` (docs/learned_generator.md).
"""

from generator.learned.backend import LearnedGenerator, apply_controls, load_basis, shipped_model
from generator.learned.checkpoint import MotionModel, load_from_card, load_model
from generator.learned.flow import Guidance
from generator.learned.inference import generate_latents, iter_latent_windows
from generator.learned.model import CONFIG_NAMES, EMOTION_NAMES, MotionDenoiser, MotionModelConfig, config_named

__all__ = [
    "CONFIG_NAMES",
    "EMOTION_NAMES",
    "Guidance",
    "LearnedGenerator",
    "MotionDenoiser",
    "MotionModel",
    "MotionModelConfig",
    "apply_controls",
    "config_named",
    "generate_latents",
    "iter_latent_windows",
    "load_basis",
    "load_from_card",
    "load_model",
    "shipped_model",
]
