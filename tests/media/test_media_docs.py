"""The runnable examples that open each media module's docstring do run."""

from __future__ import annotations

import doctest
import importlib

import pytest

MODULES = ["media", "media.errors", "media.sniff", "media.limits", "media._av", "media.video", "media.audio",
           "media.image", "media._mp4writer"]


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples(name):
    module = importlib.import_module(name)
    assert ">>>" in (module.__doc__ or ""), f"{name} has no runnable example"
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS)
    assert result.failed == 0


def test_public_surface():
    import media

    assert sorted(media.__all__) == sorted([
        "Audio", "Limits", "MediaError", "MediaTooLargeError", "MediaType", "VideoInfo", "iter_frames",
        "probe_video", "read_audio", "read_image", "sniff_bytes", "sniff_file",
    ])
    assert media.MediaError.http_status == 422
    assert media.MediaTooLargeError.http_status == 413
    assert not hasattr(media, "Mp4Writer")
