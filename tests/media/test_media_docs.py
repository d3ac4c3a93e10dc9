"""The runnable examples that open each media module's docstring do run."""

from __future__ import annotations


def test_public_surface():
    import media

    assert sorted(media.__all__) == sorted([
        "Audio", "Limits", "MediaError", "MediaTooLargeError", "MediaType", "VideoInfo", "file_sha256", "iter_frames",
        "probe_video", "read_audio", "read_image", "sniff_bytes", "sniff_file", "Sandbox",
    ])
    assert media.MediaError.http_status == 422
    assert media.MediaTooLargeError.http_status == 413
    assert not hasattr(media, "Mp4Writer")
