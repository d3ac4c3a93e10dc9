"""read_image: JPEG, PNG and WebP to upright RGB uint8."""

from __future__ import annotations

import numpy as np
import pytest
from media_factories import card, image_bytes
from PIL import Image

from media import MediaError, read_image

CARD = card(3, width=64, height=48)


@pytest.mark.parametrize(
    ("fmt", "params", "tolerance"),
    [
        ("PNG", {}, 0),
        ("JPEG", {"quality": 95}, 6),
        ("WEBP", {"lossless": True}, 0),
        ("WEBP", {"quality": 90}, 8),
    ],
)
def test_formats_round_trip(fmt, params, tolerance, tmp_path):
    data = image_bytes(Image.fromarray(CARD), fmt=fmt, **params)
    path = tmp_path / "image.bin"
    path.write_bytes(data)
    for source in (data, path, str(path)):
        pixels = read_image(source)
        assert pixels.shape == (48, 64, 3)
        assert pixels.dtype == np.uint8
        assert pixels.flags.c_contiguous
        # compare the cell interiors (lossy codecs smear the edges)
        inner = np.abs(pixels[4:20, 4:12].astype(int) - CARD[4:20, 4:12].astype(int)).mean()
        assert inner <= tolerance


def test_greyscale_and_palette():
    grey = Image.fromarray(np.tile(np.arange(64, dtype=np.uint8) * 4, (8, 1)), mode="L")
    pixels = read_image(image_bytes(grey, fmt="PNG"))
    assert pixels.shape == (8, 64, 3)
    assert (pixels[..., 0] == pixels[..., 1]).all()
    assert (pixels[..., 1] == pixels[..., 2]).all()
    assert pixels[0, 10, 0] == 40

    palette = Image.fromarray(CARD).convert("P", palette=Image.Palette.ADAPTIVE, colors=8)
    assert (read_image(image_bytes(palette, fmt="PNG")) == CARD).all()


def test_sixteen_bit_greyscale_is_scaled_not_clipped():
    wide = np.array([[0, 257 * 100, 65535, 30000]], dtype=np.uint16)
    image = Image.fromarray(wide)  # mode I;16
    pixels = read_image(image_bytes(image, fmt="PNG"))
    assert pixels[0, :, 0].tolist() == [0, 100, 255, round(30000 / 257)]


def test_alpha_is_composited_on_white():
    rgba = np.zeros((4, 4, 4), np.uint8)
    rgba[..., 0] = 200  # red
    rgba[:, :2, 3] = 255  # left half opaque, right half transparent
    rgba[:, 3, 3] = 128  # one column half transparent
    pixels = read_image(image_bytes(Image.fromarray(rgba, mode="RGBA"), fmt="PNG"))
    assert pixels[0, 0].tolist() == [200, 0, 0]
    assert pixels[0, 2].tolist() == [255, 255, 255]
    assert pixels[0, 3].tolist() == pytest.approx([228, 127, 127], abs=2)
    webp = read_image(image_bytes(Image.fromarray(rgba, mode="RGBA"), fmt="WEBP", lossless=True))
    assert webp[0, 2].tolist() == [255, 255, 255]
    la = Image.fromarray(rgba[..., [0, 3]], mode="LA")
    assert read_image(image_bytes(la, fmt="PNG"))[0, 2].tolist() == [255, 255, 255]


@pytest.mark.parametrize(
    ("orientation", "turn"),
    [
        (1, lambda a: a),
        (3, lambda a: np.rot90(a, 2)),
        (6, lambda a: np.rot90(a, -1)),  # stored turned anticlockwise: display turns it back clockwise
        (8, lambda a: np.rot90(a, 1)),
    ],
)
def test_exif_orientation_is_applied(orientation, turn):
    stored = np.zeros((40, 60, 3), np.uint8)
    stored[:20, :30] = (255, 0, 0)  # a red block in the stored top-left corner
    exif = Image.Exif()
    exif[0x0112] = orientation
    data = image_bytes(Image.fromarray(stored), fmt="JPEG", quality=95, exif=exif.tobytes())
    pixels = read_image(data)
    expected = turn(stored)
    assert pixels.shape == expected.shape
    red = pixels[..., 0] > 128
    assert (red == (expected[..., 0] > 128)).mean() > 0.97


def test_cmyk_jpeg():
    cmyk = Image.fromarray(CARD).convert("CMYK")
    pixels = read_image(image_bytes(cmyk, fmt="JPEG", quality=95))
    assert np.abs(pixels[4:20, 4:12].astype(int) - CARD[4:20, 4:12].astype(int)).mean() < 10


def test_other_media_are_refused(make_audio, tmp_path):
    gif = image_bytes(Image.fromarray(CARD), fmt="GIF")
    with pytest.raises(MediaError, match="GIF is not supported"):
        read_image(gif)
    bmp = image_bytes(Image.fromarray(CARD), fmt="BMP")
    with pytest.raises(MediaError, match="not a recognised media file"):
        read_image(bmp)
    wav = make_audio("a.wav", np.zeros((1, 800), np.float32), rate=8000, codec="pcm_s16le")
    with pytest.raises(MediaError, match="this is a WAV audio file, not an image"):
        read_image(wav)


def test_truncated_and_corrupt_images():
    data = image_bytes(Image.fromarray(CARD), fmt="JPEG", quality=95)
    with pytest.raises(MediaError, match="truncated"):
        read_image(data[: len(data) // 2])
    png = image_bytes(Image.fromarray(CARD), fmt="PNG")
    with pytest.raises(MediaError):
        read_image(png[:60])
    corrupt = bytearray(png)
    corrupt[40:80] = bytes(40)
    with pytest.raises(MediaError, match="PNG"):
        read_image(bytes(corrupt))
    with pytest.raises(MediaError, match="WebP"):
        read_image(b"RIFF\x10\x00\x00\x00WEBPVP8 " + bytes(4))


def test_shared_portraits(shared_data):
    portraits = sorted((shared_data / "portraits").glob("*"))
    assert portraits
    for path in portraits:
        pixels = read_image(path)
        assert pixels.ndim == 3
        assert pixels.shape[2] == 3
        assert pixels.dtype == np.uint8
        assert min(pixels.shape[:2]) >= 64
        assert pixels.std() > 10
