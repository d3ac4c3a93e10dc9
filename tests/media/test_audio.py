"""Audio and read_audio: every container we accept, resampling, mono, and refusals."""

from __future__ import annotations

import av
import numpy as np
import pytest
from media_factories import card, eight_channels, image_bytes, tone
from PIL import Image

from media import Audio, MediaError, read_audio


def _correlation(a: np.ndarray, b: np.ndarray) -> float:
    """Peak normalised cross-correlation within ±2048 samples (lossy codecs add delay)."""
    n = min(a.size, b.size) - 4096
    a, b = a[2048:2048 + n], b[:n + 4096]
    best = max(float(np.dot(a, b[lag:lag + n])) for lag in range(0, 4096, 1))
    return best / float(np.linalg.norm(a) * np.linalg.norm(b[2048:2048 + n]))


def _pitch(samples: np.ndarray, rate: int) -> float:
    spectrum = np.abs(np.fft.rfft(samples * np.hanning(samples.size)))
    return float(np.argmax(spectrum) * rate / samples.size)


def test_audio_value():
    audio = Audio(samples=np.zeros(16_000, np.float64), sample_rate=16_000)
    assert audio.samples.shape == (1, 16_000)
    assert audio.samples.dtype == np.float32
    assert audio.channels == 1
    assert audio.n_samples == 16_000
    assert audio.duration_s == 1.0
    stereo = Audio(samples=tone(0.5, rate=8000, channels=2), sample_rate=8000)
    mono = stereo.to_mono()
    assert mono.samples.shape == (1, 4000)
    assert np.allclose(mono.samples[0], stereo.samples.mean(axis=0), atol=1e-6)
    assert stereo.trim_or_pad(100).samples.shape == (2, 100)
    padded = stereo.trim_or_pad(5000)
    assert padded.samples.shape == (2, 5000)
    assert not padded.samples[:, 4000:].any()


@pytest.mark.parametrize(
    ("samples", "rate", "message"),
    [
        (np.zeros((2, 3, 4), np.float32), 8000, "shape"),
        (np.zeros((16_000, 2), np.float32), 8000, r"\(channels, n\), not \(n, channels\)"),
        (np.zeros((1, 10), np.int16), 8000, "floats"),
        (np.array([[0.0, np.nan]], np.float32), 8000, "NaN"),
        (np.zeros((1, 10), np.float32), 0, "sample_rate"),
        (np.zeros((1, 10), np.float32), 44_100.0, "sample_rate"),
    ],
)
def test_audio_value_is_validated(samples, rate, message):
    with pytest.raises(ValueError, match=message):
        Audio(samples=samples, sample_rate=rate)


def test_resample_keeps_pitch_length_and_alignment():
    source = Audio(samples=tone(1.0, rate=16_000, channels=2, freq=440), sample_rate=16_000)
    up = source.resample(48_000)
    assert up.samples.shape == (2, 48_000)
    assert up.sample_rate == 48_000
    assert _pitch(up.samples[0], 48_000) == pytest.approx(440, abs=2)
    assert _pitch(up.samples[1], 48_000) == pytest.approx(880, abs=2)
    expected = tone(1.0, rate=48_000, channels=2, freq=440)
    middle = slice(1000, 47_000)
    assert np.abs(up.samples[:, middle] - expected[:, middle]).max() < 0.01  # no delay introduced
    down = source.resample(8000)
    assert down.samples.shape == (2, 8000)
    assert _pitch(down.samples[0], 8000) == pytest.approx(440, abs=2)
    assert source.resample(16_000) is source


def test_wav_16_bit_stereo(make_audio):
    samples = tone(1.0, rate=16_000, channels=2)
    path = make_audio("speech.wav", samples, rate=16_000, codec="pcm_s16le")
    audio = read_audio(path)
    assert audio.sample_rate == 16_000
    assert audio.samples.shape == (2, 16_000)
    assert np.abs(audio.samples - samples).max() < 1e-3  # 16-bit quantisation only
    mono = read_audio(path.read_bytes(), mono=True, sample_rate=8000)
    assert mono.samples.shape == (1, 8000)
    assert mono.sample_rate == 8000


def test_flac_is_lossless_at_16_bits(make_audio):
    samples = tone(0.5, rate=44_100, channels=2)
    audio = read_audio(make_audio("a.flac", samples, rate=44_100, codec="flac"))
    assert audio.samples.shape == (2, 22_050)
    assert np.abs(audio.samples - samples).max() < 1e-3


@pytest.mark.parametrize(
    ("name", "codec", "container_format", "rate"),
    [
        ("a.mp3", "libmp3lame", "mp3", 44_100),
        ("a.m4a", "aac", "ipod", 48_000),
        ("a.ogg", "libopus", "ogg", 48_000),
    ],
)
def test_lossy_formats(make_audio, name, codec, container_format, rate):
    try:
        av.codec.Codec(codec, "w")
    except ValueError:  # UnknownCodecError: depends on how FFmpeg was built
        pytest.skip(f"this FFmpeg build has no {codec} encoder to make the test file")
    samples = tone(1.0, rate=rate, channels=1, freq=440)
    path = make_audio(name, samples, rate=rate, codec=codec, container_format=container_format)
    audio = read_audio(path)
    assert audio.sample_rate == rate
    assert audio.channels == 1
    assert audio.duration_s == pytest.approx(1.0, abs=0.06)
    assert np.abs(audio.samples).max() <= 1.0
    assert _pitch(audio.samples[0, : rate // 2], rate) == pytest.approx(440, abs=3)
    assert _correlation(audio.samples[0], samples[0]) > 0.95


def test_audio_track_of_videos(make_video):
    samples = tone(2.0, rate=48_000, channels=2)
    for name, codec, container_format, audio_codec in [
        ("clip.mp4", "libx264", None, "aac"),
        ("clip.mov", "libx264", "mov", "aac"),
        ("clip.webm", "libvpx-vp9", "webm", "libopus"),
    ]:
        path = make_video(name, frames=50, codec=codec, container_format=container_format,
                          audio=(samples, 48_000), audio_codec=audio_codec)
        audio = read_audio(path, sample_rate=16_000)
        assert (audio.sample_rate, audio.channels) == (16_000, 2), name
        assert audio.duration_s == pytest.approx(2.0, abs=0.08), name
        assert _pitch(audio.samples[0, :16_000], 16_000) == pytest.approx(440, abs=3), name
        assert _pitch(audio.samples[1, :16_000], 16_000) == pytest.approx(880, abs=3), name
        assert read_audio(path, mono=True).samples.shape[0] == 1


def test_no_audio_track_is_refused(make_video, tmp_path):
    silent = make_video("silent.mp4", frames=5)
    with pytest.raises(MediaError, match=r"has no audio track \(it holds only video\)"):
        read_audio(silent)
    png = image_bytes(Image.fromarray(card(0)), fmt="PNG")
    with pytest.raises(MediaError, match="this is a PNG image, not audio"):
        read_audio(png)


def test_truncated_and_garbage_audio(make_audio):
    path = make_audio("a.m4a", tone(1.0, rate=48_000), rate=48_000, codec="aac", container_format="ipod")
    data = path.read_bytes()
    with pytest.raises(MediaError):
        read_audio(data[: len(data) // 3])
    with pytest.raises(MediaError):
        read_audio(b"RIFF\x24\x00\x00\x00WAVEfmt " + bytes(20))
    flac = make_audio("a.flac", tone(1.0, rate=8000), rate=8000, codec="flac").read_bytes()
    with pytest.raises(MediaError):
        read_audio(flac[:40] + np.random.default_rng(0).bytes(4000))


def test_shared_speech(shared_data):
    path = shared_data / "speech" / "st_RD_Radio31_000.wav"
    if not path.exists():
        pytest.skip(f"{path} is not in the shared data")
    audio = read_audio(path)
    assert (audio.channels, audio.sample_rate) == (2, 16_000)
    assert audio.duration_s == pytest.approx(8.0, abs=0.1)
    assert 0.005 < float(np.sqrt(np.mean(audio.samples**2))) < 0.5


def test_joined_mp3s_that_change_channels_mid_stream(make_audio):
    mono = make_audio("mono.mp3", tone(1.0, rate=44_100, channels=1), rate=44_100, codec="libmp3lame")
    stereo = make_audio("stereo.mp3", tone(1.0, rate=44_100, channels=2), rate=44_100, codec="libmp3lame")
    audio = read_audio(mono.read_bytes() + stereo.read_bytes())
    assert audio.channels == 1  # the first part's layout; the stereo part is mixed down to it
    assert audio.duration_s == pytest.approx(2.0, abs=0.1)
    second = audio.samples[0, 60_000:80_000]
    assert _pitch(second, 44_100) in (pytest.approx(440, abs=3), pytest.approx(880, abs=3))
    assert np.sqrt(np.mean(second**2)) > 0.1


@pytest.mark.parametrize(("name", "codec", "container_format"), [
    ("a.wav", "pcm_s16le", None), ("a.flac", "flac", None), ("a.m4a", "aac", "ipod"),
])
def test_eight_channel_audio_decodes_without_killing_the_process(tmp_path, name, codec, container_format):
    # PyAV 18.1's to_ndarray() on a planar 8-channel frame segfaults: read in a child, so a regression
    # fails this test instead of killing the test run.
    import subprocess
    import sys
    from pathlib import Path

    path = tmp_path / name
    eight_channels(path, codec=codec, container_format=container_format)
    script = (
        "import sys, numpy as np\n"
        "from media import read_audio\n"
        "a = read_audio(sys.argv[1])\n"
        "spectra = np.abs(np.fft.rfft(a.samples[:, 4096:36864], axis=1))\n"
        "peaks = [round(float(np.argmax(s)) * a.sample_rate / 32768) for s in spectra]\n"
        "print(a.channels, a.sample_rate, *peaks)\n"
        "m = read_audio(sys.argv[1], mono=True, sample_rate=16000)\n"
        "print(m.channels, m.sample_rate, m.n_samples)\n"
    )
    root = Path(__file__).resolve().parents[2]
    done = subprocess.run([sys.executable, "-c", script, str(path)], cwd=root, capture_output=True, text=True,
                          timeout=60)
    assert done.returncode == 0, f"the reader died ({done.returncode}): {done.stderr[-500:]}"
    first, second = (line.split() for line in done.stdout.splitlines()[-2:])
    assert first[:2] == ["8", "48000"]
    peaks = [int(p) for p in first[2:]]
    expected = [pytest.approx(200 + 50 * c, abs=5) for c in range(8)]  # every channel in its place
    if codec == "aac":  # AAC low-passes the LFE channel (index 3 in 7.1) at 120 Hz: its tone is gone
        peaks, expected = peaks[:3] + peaks[4:], expected[:3] + expected[4:]
    assert peaks == expected
    assert second[:2] == ["1", "16000"] and abs(int(second[2]) - 16_000) < 100


def test_sample_rates_outside_8_to_192_khz_are_refused(make_audio):
    low = make_audio("low.wav", tone(0.5, rate=4_000), rate=4_000, codec="pcm_s16le")
    with pytest.raises(MediaError, match="sample rate is 4000 Hz; 8000 to 192000 Hz are supported"):
        read_audio(low)
    high = make_audio("high.wav", tone(0.1, rate=384_000), rate=384_000, codec="pcm_s16le")
    with pytest.raises(MediaError, match="sample rate is 384000 Hz"):
        read_audio(high.read_bytes())
