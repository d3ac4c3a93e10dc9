"""The runnable example that opens each module's docstring does run (STYLE.md: docstrings open with one)."""

from __future__ import annotations

import doctest
import importlib

import pytest

MODULES = [
    "media",
    "media.errors",
    "media.sniff",
    "media.limits",
    "media._av",
    "media.video",
    "media.audio",
    "media.image",
    "media.sandbox",
    "media._mp4writer",
    "media.samples",
    "provenance.samples",
    "detector._align",
    "detector._augment",
    "detector.metrics",
    "detector.classifier",
    "detector.dataset",
    "detector.model",
    "detector.train",
    "detector.texture",
    "detector.stacking",
    "detector.text_report",
    "training",
    "faces",
    "faces.errors",
    "faces.landmarks",
    "faces.mesh",
    "faces.find",
    "faces.mediapipe_backend",
    "consent",
    "consent.service",
    "consent.keys",
    "consent.schemas",
    "consent.errors",
    "audit",
    "audit.service",
    "audit.keys",
    "audit.schemas",
    "audit.sink",
    "audit.errors",
    "audit._merkle",
    "audit._canonical",
    "policy",
    "policy.errors",
    "policy.schemas",
    "policy.loader",
    "policy.engine",
    "partners",
    "partners.service",
    "partners.errors",
    "partners.schemas",
    "partners.limits",
    "generations",
    "generations.jobs",
    "generations.models",
    "generations.errors",
    "generations.storage",
    "generations.queue",
    "gateway.settings",
    "gateway.errors",
    "gateway.db",
    "consent.portal",
    "consent.portal._pow",
    "gateway.edge",
    "generator.backends",
    "generator.motion_data",
    "generator.motion_data.layout",
    "generator.motion_data.audio",
    "generator.motion_data.geometry",
    "generator.motion_data.basis",
    "generator.motion_data.dataset",
    "generator.learned",
    "generator.learned._safetensors",
    "generator.learned.model",
    "generator.learned.flow",
    "generator.learned.data",
    "generator.learned.checkpoint",
    "generator.learned.train",
    "generator.learned.inference",
    "generator.learned.backend",
]


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples(name):
    module = importlib.import_module(name)
    assert ">>>" in (module.__doc__ or ""), f"{name} has no runnable example"
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS)
    assert result.failed == 0
