"""The frame watermark: same transform as invisible-watermark's dwtDctSvd, payload code, reading.

Robustness against real encoders (ffmpeg CRF 28, downscale, remux) is tested end to end in
tests/detector/test_detect_cli.py and measured on real faces in bench/watermark_survival.py.
"""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from provenance import WatermarkCodec, WatermarkError, _ecc
from provenance._wm_transform import embed_bits, singular_values, soft_bits, top_singular
from provenance.watermark import BLOCK, CHANNEL, DEFAULT_STEP, STEPS

KEY = bytes(range(32))
WID = 0x0123456789ABCDEF


def natural_frame(seed: int = 0, size: int = 512) -> np.ndarray:
    """A smooth, textured, skin-and-background-like RGB frame (no two seeds alike)."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float32) / size
    base = np.stack([
        150 + 60 * np.sin(3 * xx + rng.uniform(0, 6)) * np.cos(2 * yy),
        110 + 50 * np.cos(4 * yy + rng.uniform(0, 6)),
        90 + 40 * np.sin(5 * (xx + yy) + rng.uniform(0, 6)),
    ], axis=-1)
    noise = cv2.GaussianBlur(rng.normal(0, 12, (size, size, 3)).astype(np.float32), (0, 0), 1.5)
    return np.clip(base + noise, 0, 255).astype(np.uint8)


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2)
    return float(10 * np.log10(255.0**2 / mse))


@pytest.fixture(scope="module")
def imwatermark():
    """The reference implementation (scripts/setup installs it; its absence is a failure, not a skip)."""
    import imwatermark

    return imwatermark


# --- the transform is the reference's -------------------------------------------------------


@pytest.mark.parametrize(("block", "step"), [(4, 36.0), (BLOCK, DEFAULT_STEP)], ids=["reference-default", "ours"])
def test_reference_decodes_our_embedding(imwatermark, block, step):
    frame = natural_frame(1)
    bits = np.random.default_rng(2).integers(0, 2, 96)
    marked = embed_bits(frame, bits=bits, step=step, channel="u", block=block)
    decoder = imwatermark.WatermarkDecoder("bits", len(bits))
    decoded = decoder.decode(cv2.cvtColor(marked, cv2.COLOR_RGB2BGR), "dwtDctSvd", scales=[0, step, 0], block=block)
    assert np.array_equal(np.asarray(decoded, int), bits)


@pytest.mark.parametrize(("block", "step"), [(4, 36.0), (BLOCK, DEFAULT_STEP)], ids=["reference-default", "ours"])
def test_we_decode_the_reference_embedding(imwatermark, block, step):
    frame = natural_frame(3)
    bits = np.random.default_rng(4).integers(0, 2, 96)
    encoder = imwatermark.WatermarkEncoder()
    encoder.set_watermark("bits", bits.tolist())
    marked = encoder.encode(cv2.cvtColor(frame, cv2.COLOR_RGB2BGR), "dwtDctSvd", scales=[0, step, 0], block=block)
    sums, counts = soft_bits(cv2.cvtColor(marked, cv2.COLOR_BGR2RGB), length=len(bits), step=step, channel="u",
                             block=block)
    assert counts.min() > 0
    assert np.array_equal((sums > 0).astype(int), bits)


def test_reference_embedding_of_our_payload_is_found_by_our_reader(imwatermark):
    """The full payload (code, mask, interleaver) laid down by the reference library reads back."""
    codec = WatermarkCodec(KEY)
    encoder = imwatermark.WatermarkEncoder()
    encoder.set_watermark("bits", codec.layout_bits(WID).tolist())
    bgr = encoder.encode(cv2.cvtColor(natural_frame(5), cv2.COLOR_RGB2BGR), "dwtDctSvd",
                         scales=[0, DEFAULT_STEP, 0], block=BLOCK)
    reader = codec.reader()
    reader.add_frame(cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB))
    result = reader.result()
    assert result.found and result.watermark_id == WID


def test_power_iteration_matches_lapack_svd():
    frame = natural_frame(6)
    plane = frame.astype(np.float32) @ np.array([-0.147, -0.289, 0.436], np.float32) + 128
    pairs = plane[0::2] + plane[1::2]
    band = (pairs[:, 0::2] + pairs[:, 1::2]) / 2
    blocks = band.reshape(32, 8, 32, 8).transpose(0, 2, 1, 3)
    s0, u, v = top_singular(np.ascontiguousarray(blocks))
    reference = np.linalg.svd(blocks.astype(np.float64), compute_uv=False)[..., 0]
    assert np.max(np.abs(s0 - reference) / reference) < 1e-4
    rebuilt = np.einsum("...i,...j->...ij", u, v) * s0[..., None, None]
    projection = np.einsum("...ij,...ij->...", rebuilt, blocks) / s0  # uᵀBv = s0 for the top pair
    assert np.allclose(projection, s0, rtol=1e-4)


# --- embedding --------------------------------------------------------------------------------


def test_embedding_is_invisible_and_leaves_the_frame_alone_otherwise():
    frame = natural_frame(7)
    marked = WatermarkCodec(KEY).embed(frame, WID)
    assert marked.shape == frame.shape and marked.dtype == np.uint8
    assert psnr(frame, marked) > 40.0
    assert np.array_equal(marked[..., 0], frame[..., 0])  # U-channel mark: red is untouched
    assert not np.array_equal(marked, frame)
    assert frame is not marked and np.array_equal(frame, natural_frame(7))  # input not modified


def test_odd_sized_frames_are_marked_on_the_block_grid_only():
    frame = natural_frame(8, size=520)[:517, :301]
    marked = WatermarkCodec(KEY).embed(np.ascontiguousarray(frame), WID)
    rows, cols = (517 // 16) * 16, (301 // 16) * 16
    assert np.array_equal(marked[rows:], frame[rows:]) and np.array_equal(marked[:, cols:], frame[:, cols:])
    reader = WatermarkCodec(KEY).reader()
    reader.add_frame(marked)
    assert reader.result().watermark_id == WID


@pytest.mark.parametrize(
    ("frame", "message"),
    [
        (np.zeros((128, 128, 3), np.uint8), "too small"),
        (np.zeros((512, 200, 3), np.uint8), "too small"),
        (np.zeros((512, 512), np.uint8), "RGB uint8"),
        (np.zeros((512, 512, 3), np.float32), "RGB uint8"),
    ],
    ids=["tiny", "narrow", "grey", "float"],
)
def test_unmarkable_frames_are_refused(frame, message):
    with pytest.raises(WatermarkError, match=message):
        WatermarkCodec(KEY).embed(frame, WID)


def test_codec_arguments_are_checked():
    with pytest.raises(WatermarkError, match="16 bytes"):
        WatermarkCodec(b"short")
    with pytest.raises(WatermarkError, match="strength"):
        WatermarkCodec(KEY, strength=50.0)
    with pytest.raises(WatermarkError, match="64-bit"):
        WatermarkCodec(KEY).layout_bits(2**64)
    assert "key" in repr(WatermarkCodec(KEY)) and KEY.hex() not in repr(WatermarkCodec(KEY))


# --- payload ----------------------------------------------------------------------------------


def test_layout_is_keyed_and_carries_the_id():
    a, b = WatermarkCodec(KEY), WatermarkCodec(bytes(32))
    assert len(a.layout_bits(WID)) == _ecc.CODE_BITS
    assert not np.array_equal(a.layout_bits(WID), b.layout_bits(WID))
    assert not np.array_equal(a.layout_bits(WID), a.layout_bits(WID + 1))
    # whitening: an all-zero id does not give a sparse code word
    assert 0.3 < a.layout_bits(0).mean() < 0.7


def test_channel_code_corrects_errors():
    codec = WatermarkCodec(KEY)
    frame = natural_frame(9)
    layout = codec.layout_bits(WID).copy()
    flipped = np.random.default_rng(10).choice(layout.size, size=12, replace=False)
    layout[flipped] ^= 1  # 6% of the code bits wrong in every block that carries them
    reader = codec.reader()
    reader.add_frame(embed_bits(frame, bits=layout, step=DEFAULT_STEP, channel=CHANNEL, block=BLOCK))
    result = reader.result()
    assert result.found and result.watermark_id == WID
    assert result.bit_agreement == pytest.approx(1 - 12 / layout.size)


def test_a_forged_tag_does_not_verify():
    """Without the key, a payload with a wrong tag is not accepted, however clean the read."""
    codec = WatermarkCodec(KEY)
    message = (WID << 32) | (codec.tag(WID) ^ 1)
    bits = np.array([(message >> (95 - i)) & 1 for i in range(96)], np.uint8)
    code = _ecc.encode(bits) ^ codec._mask
    reader = codec.reader()
    reader.add_frame(embed_bits(natural_frame(11), bits=code[codec._permutation], step=DEFAULT_STEP,
                                channel=CHANNEL, block=BLOCK))
    result = reader.result()
    assert not result.found and result.watermark_id is None
    assert result.bit_agreement == 1.0  # read perfectly, rejected by the tag


# --- reading ----------------------------------------------------------------------------------


def test_another_key_finds_nothing():
    marked = WatermarkCodec(KEY).embed(natural_frame(12), WID)
    reader = WatermarkCodec(bytes(32)).reader()
    reader.add_frame(marked)
    assert not reader.result().found


@pytest.mark.parametrize("kind", ["natural", "flat", "noise", "dark", "saturated"])
def test_unmarked_frames_are_not_found(kind):
    rng = np.random.default_rng(13)
    frames = {
        "natural": [natural_frame(20 + i) for i in range(10)],
        "flat": [np.full((512, 512, 3), 128, np.uint8)] * 10,
        "noise": [rng.integers(0, 256, (512, 512, 3), dtype=np.uint8) for _ in range(10)],
        "dark": [np.zeros((512, 512, 3), np.uint8)] * 10,
        "saturated": [np.full((512, 512, 3), (255, 0, 255), np.uint8)] * 10,
    }[kind]
    reader = WatermarkCodec(KEY).reader()
    for frame in frames:
        reader.add_frame(frame)
    result = reader.result()
    assert not result.found and result.watermark_id is None
    assert result.frames_read == 10
    assert result.hypotheses == len(STEPS)  # 512² frames: one scale, every step
    assert result.false_match_probability == pytest.approx(len(STEPS) * 2.0**-32, rel=1e-6)


@pytest.mark.parametrize("strength", STEPS)
def test_a_default_reader_reads_every_strength(strength):
    marked = WatermarkCodec(KEY, strength=strength).embed(natural_frame(14), WID)
    reader = WatermarkCodec(KEY).reader()
    reader.add_frame(marked)
    result = reader.result()
    assert result.found and result.watermark_id == WID and result.step == strength


def test_votes_across_frames_recover_a_mark_no_single_frame_carries():
    """Noise that defeats every frame alone is outvoted across frames (soft decisions add up)."""
    codec = WatermarkCodec(KEY)
    rng = np.random.default_rng(15)
    frames = []
    for i in range(40):
        marked = codec.embed(natural_frame(30 + i), WID).astype(np.float32)
        # strong chroma noise in 16×16 patches: the scale of the mark's blocks
        noise = cv2.resize(rng.normal(0, 5.0, (32, 32)).astype(np.float32), (512, 512),
                           interpolation=cv2.INTER_NEAREST)
        marked[..., 2] += noise
        frames.append(np.clip(marked, 0, 255).astype(np.uint8))
    single = []
    for frame in frames[:10]:
        reader = codec.reader()
        reader.add_frame(frame)
        single.append(reader.result().found)
    reader = codec.reader()
    for frame in frames:
        reader.add_frame(frame)
    assert sum(single) < 10
    result = reader.result()
    assert result.found and result.watermark_id == WID


def test_a_downscaled_frame_reads_under_the_rescale_hypothesis():
    marked = WatermarkCodec(KEY).embed(natural_frame(16), WID)
    small = cv2.resize(marked, (256, 256), interpolation=cv2.INTER_AREA)
    reader = WatermarkCodec(KEY).reader()
    reader.add_frame(small)
    result = reader.result()
    assert result.found and result.watermark_id == WID and result.scale == 2.0
    assert result.hypotheses == 2 * len(STEPS)


def test_reader_ignores_tiny_frames_and_refuses_non_frames():
    reader = WatermarkCodec(KEY).reader()
    reader.add_frame(np.zeros((32, 32, 3), np.uint8))
    assert reader.result().frames_read == 0 and not reader.result().found
    with pytest.raises(WatermarkError):
        reader.add_frame(np.zeros((512, 512), np.uint8))


def test_unmarked_real_clip_frames_are_not_found(shared_data):
    from media import iter_frames

    codec = WatermarkCodec(KEY)
    for clip in sorted((shared_data / "clips").glob("*.mp4")):
        reader = codec.reader()
        for frame in iter_frames(clip, max_frames=50):
            reader.add_frame(frame)
        result = reader.result()
        assert not result.found, clip.name
        assert result.false_match_probability < 1e-8


def test_singular_values_follow_the_reference_raster_order():
    frame = natural_frame(17)
    s0 = singular_values(frame, channel="u", block=BLOCK)
    assert s0.shape == (32 * 32,)
    left = frame.copy()
    left[:16, :16] = 0  # only block 0 changes
    changed = np.flatnonzero(~np.isclose(singular_values(left, channel="u", block=BLOCK), s0))
    assert changed.tolist() == [0]


# --- the torch path ---------------------------------------------------------------------------


def test_torch_path_matches_numpy_on_cpu():
    torch = pytest.importorskip("torch")
    codec = WatermarkCodec(KEY)
    frames = np.stack([natural_frame(40 + i) for i in range(3)])
    marked = codec.embed_batch(torch.from_numpy(frames), WID).numpy()
    for frame, ours in zip(frames, marked, strict=True):
        reference = codec.embed(frame, WID)
        assert np.abs(ours.astype(int) - reference.astype(int)).max() <= 1
        assert np.mean(ours != reference) < 1e-3
        reader = codec.reader()
        reader.add_frame(ours)
        assert reader.result().watermark_id == WID


@pytest.mark.gpu
def test_torch_path_on_cuda_reads_back():
    import torch

    codec = WatermarkCodec(KEY)
    frames = np.stack([natural_frame(50 + i) for i in range(4)])
    marked = codec.embed_batch(torch.from_numpy(frames).cuda(), WID)
    assert marked.device.type == "cuda" and marked.dtype == torch.uint8
    for frame, ours in zip(frames, marked.cpu().numpy(), strict=True):
        assert np.abs(ours.astype(int) - codec.embed(frame, WID).astype(int)).max() <= 1
        reader = codec.reader()
        reader.add_frame(ours)
        assert reader.result().watermark_id == WID


def test_embed_batch_refuses_bad_tensors():
    torch = pytest.importorskip("torch")
    codec = WatermarkCodec(KEY)
    with pytest.raises(WatermarkError, match="uint8"):
        codec.embed_batch(torch.zeros((1, 512, 512, 3), dtype=torch.float32), WID)
    with pytest.raises(WatermarkError, match="too small"):
        codec.embed_batch(torch.zeros((1, 128, 128, 3), dtype=torch.uint8), WID)
