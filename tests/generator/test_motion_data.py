"""The motion latent space: audio features, canonical motion, the expression basis, decoding, dataset, CLI."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from motion_factories import SHARED_DATA, clips_folder, portrait, posed_sequence, template

from faces import find_face
from faces import mesh as fm
from generator.errors import GeneratorError
from generator.motion import speech_like
from generator.motion_data import (
    AUDIO_DIM,
    EXPRESSION_CONTROLS,
    N_MELS,
    MotionBasis,
    audio_features,
    canonical_motion,
    fit_basis,
    latent_names,
    poses_from_latent,
    prepare_dataset,
    renderer_response,
)
from media import Audio

LIKENESS = str(Path(sys.executable).parent / "likeness")
SR = 16_000


def tone(seconds: float, *, amplitude: float = 0.3, freq: float = 150.0) -> np.ndarray:
    t = np.arange(int(seconds * SR)) / SR
    return (amplitude * np.sin(2 * np.pi * freq * t)).astype(np.float32)


# --- audio features --------------------------------------------------------------------------------


def test_audio_features_shape_silence_and_a_voiced_tone():
    silence = audio_features(Audio(np.zeros(SR * 2, np.float32), SR), fps=25, n_frames=50)
    assert silence.shape == (50, AUDIO_DIM) and silence.dtype == np.float32
    assert np.allclose(silence[:, :N_MELS], -3.0) and np.allclose(silence[:, N_MELS:], 0.0)
    voiced = audio_features(Audio(tone(2.0), SR), fps=25, n_frames=50)
    middle = voiced[5:45]
    assert middle[:, N_MELS + 1].min() > 0.5  # voicing
    assert np.abs(middle[:, N_MELS]).max() < 0.05  # a steady pitch is its own median: 0 octaves
    assert middle[:, N_MELS + 2].mean() > 0.5  # loudness
    # 150 Hz lands in the lowest bands: they are far above the high ones
    assert middle[:, :4].mean() > middle[:, -10:].mean() + 1.0


def test_audio_features_do_not_depend_on_the_recording_level():
    rng = np.random.default_rng(0)
    x = tone(2.0) * (0.5 + 0.5 * np.sin(2 * np.pi * 3 * np.arange(2 * SR) / SR)) + 0.01 * rng.standard_normal(2 * SR)
    loud = audio_features(Audio(x.astype(np.float32), SR), fps=25, n_frames=50)
    quiet = audio_features(Audio((0.05 * x).astype(np.float32), SR), fps=25, n_frames=50)
    assert np.abs(loud - quiet).max() < 0.02


def test_audio_features_are_aligned_with_video_frames_and_padded_past_the_end():
    x = np.zeros(3 * SR, np.float32)
    x[int(1.0 * SR): int(1.4 * SR)] = tone(0.4, freq=220.0)
    for fps in (25.0, 30.0):
        n = int(4 * fps)  # a second longer than the audio
        feats = audio_features(Audio(x, SR), fps=fps, n_frames=n)
        loud = feats[:, N_MELS + 2]
        on = np.flatnonzero(loud > 0.5)
        assert abs(on[0] / fps - 1.0) <= 1.5 / fps and abs((on[-1] + 1) / fps - 1.4) <= 1.5 / fps
        assert np.allclose(feats[int(3.1 * fps):, :N_MELS], -3.0)


def test_audio_features_resample_other_rates_and_refuse_bad_input():
    at_44k = Audio(np.interp(np.arange(2 * 44_100) / 44_100, np.arange(2 * SR) / SR, tone(2.0)).astype(
        np.float32), 44_100)
    a, b = (audio_features(audio, fps=25, n_frames=50) for audio in (at_44k, Audio(tone(2.0), SR)))
    assert np.abs(a[5:45] - b[5:45]).max() < 0.1
    with pytest.raises(GeneratorError, match="fps must be between"):
        audio_features(Audio(tone(1.0), SR), fps=0, n_frames=10)
    with pytest.raises(GeneratorError, match=r"media\.Audio"):
        audio_features(tone(1.0), fps=25, n_frames=10)  # type: ignore[arg-type]
    with pytest.raises(GeneratorError, match="n_frames must be at least 0"):
        audio_features(Audio(tone(1.0), SR), fps=25, n_frames=-1)


# --- canonical motion ------------------------------------------------------------------------------


def test_head_pose_is_recovered_and_kept_out_of_the_expression():
    n = 60
    t = np.linspace(0, 1, n)
    yaw, pitch, roll = 12 * np.sin(2 * np.pi * t), 8 * np.cos(2 * np.pi * t), 5 * np.sin(4 * np.pi * t)
    scale = 1.0 + 0.1 * t
    motion = canonical_motion(posed_sequence(n, yaw=yaw, pitch=pitch, roll=roll, scale=scale), fps=25)
    for k, truth in enumerate((yaw, pitch, roll)):
        assert np.abs((motion.pose[:, k] - motion.pose[:, k].mean()) - (truth - truth.mean())).max() < 1.5
    log_scale = np.log(scale)
    assert np.abs((motion.pose[:, 5] - motion.pose[:, 5].mean()) - (log_scale - log_scale.mean())).max() < 0.01
    # a rigid motion leaves the canonical shape alone: a thousandth of an interocular distance at most
    assert np.abs(motion.deltas).max() < 2e-3
    assert np.abs(motion.eyes[:, :2]).max() < 0.05  # no blink read into a turn


def test_jaw_and_blinks_are_seen_through_head_motion():
    n = 50
    t = np.linspace(0, 1, n)
    jaw = np.clip(np.sin(2 * np.pi * 3 * t), 0, 1)
    blink = np.zeros(n)
    blink[20:23] = 1.0
    motion = canonical_motion(posed_sequence(n, yaw=10 * t, pitch=-6 * t, jaw=jaw, blink=blink), fps=25)
    gap = motion.measured[:, 0]
    assert np.corrcoef(gap, jaw)[0, 1] > 0.99
    assert 0.2 < gap.max() - gap.min() < 0.4  # the drop was 0.3 interocular
    assert motion.eyes[20:23, :2].min() > 0.75 and np.abs(motion.eyes[:15, :2]).max() < 0.05
    lower = list(fm.LOWER_LIP_INNER[3:8])
    assert np.abs(motion.deltas[:, lower, 1]).max() > 0.1  # the canonical shape moves where the jaw moved
    assert np.abs(motion.deltas[:, list(fm.FACE_OVAL[:5]), :]).max() < 0.01  # the forehead does not


def test_too_few_tracked_frames_is_a_precise_error():
    points = posed_sequence(20)
    points[5:] = np.nan
    with pytest.raises(GeneratorError, match="tracked in 5 frames"):
        canonical_motion(points, fps=25)
    with pytest.raises(GeneratorError, match=r"shape \(T, 478, 3\)"):
        canonical_motion(np.zeros((10, 468, 3)), fps=25)


# --- the renderer's response and the basis ---------------------------------------------------------


@pytest.fixture(scope="module")
def response() -> np.ndarray:
    return renderer_response(portrait(), find_face(portrait()))


def test_renderer_response_has_the_signs_of_the_rig(response):
    plus, minus = response
    jaw, width, smile, brow = range(4)
    assert plus[0, jaw] > 0.25  # jaw_open opens the mouth (the rig drops the lower lip 0.36 interocular)
    assert plus[1, width] > 0 and minus[1, width] > 0  # spread widens; rounding (−1) narrows: positive slope
    assert plus[2, smile] < 0  # smiling lifts the corners (y points down)
    assert plus[3, brow] > 0 and minus[3, brow] > 0  # brows up raise them; brows down (−1) lower them


def test_fit_basis_recovers_a_low_rank_motion_and_its_linear_map():
    rng = np.random.default_rng(1)
    modes = rng.standard_normal((3, 468, 3)) * 0.01
    clips, controls = [], []
    for _ in range(3):
        w = rng.standard_normal((200, 3)) * [3.0, 2.0, 1.0]
        clips.append(np.einsum("tk,kpc->tpc", w, modes))
        controls.append(np.column_stack([w[:, 0], w[:, 1] - w[:, 2], 0.5 * w[:, 2], np.zeros(200)]))
    basis = fit_basis(clips, controls=controls, n_expr=3)
    coeffs = basis.encode(np.concatenate(clips))
    assert np.allclose(coeffs.std(axis=0), 1.0, atol=0.01)  # whitened
    assert np.allclose(basis.decode(coeffs)[:, 0], np.concatenate(clips)[:, 0], atol=1e-6)  # nothing lost
    assert basis.pose_map_r2[:3].min() > 0.999
    assert basis.pose_map.shape == (4, len(EXPRESSION_CONTROLS))


def test_basis_round_trips_through_its_file_and_refuses_other_files(tmp_path):
    rng = np.random.default_rng(2)
    deltas = [rng.standard_normal((40, 468, 3)) * 0.01]
    basis = fit_basis(deltas, controls=[rng.standard_normal((40, 4))], n_expr=5)
    basis.save(tmp_path / "pca.npz")
    loaded = MotionBasis.load(tmp_path)
    assert loaded.n_expr == 5 and np.allclose(loaded.components, basis.components, atol=1e-6)
    (tmp_path / "junk.npz").write_bytes(b"not a zip")
    with pytest.raises(GeneratorError, match="is not a motion basis"):
        MotionBasis.load(tmp_path / "junk.npz")


# --- decoding --------------------------------------------------------------------------------------


def small_basis(n_expr: int = 4) -> MotionBasis:
    pose_map = np.zeros((n_expr + 1, 4))
    pose_map[0, 0] = 0.2  # expr_00 opens the jaw
    pose_map[-1, 0] = 0.3  # from 0.3 at the mean
    pose_map[1, 2] = 0.5  # expr_01 smiles
    return MotionBasis(mean=np.zeros(1), components=np.zeros((n_expr, 1)), scales=np.ones(n_expr),
                       pose_map=pose_map, pose_map_r2=np.ones(4))


def test_poses_from_latent_maps_each_part_and_clips_to_the_renderers_range():
    basis = small_basis()
    z = np.zeros((5, len(latent_names(4))), np.float32)
    z[:, 0] = [0, 5, -5, 10, 0]  # yaw
    z[:, 3] = 7.0  # tx
    z[:, 5] = np.log(1.1)
    z[:, 6] = [0, 1, 2, 10, -10]  # expr_00 → jaw
    z[:, 7] = [0, 1, -1, 0, 0]  # expr_01 → smile
    z[:, 10] = [0, 0.5, 1.5, -0.2, 1]  # blink_left
    z[:, 12] = [0, 0.3, -2, 0, 0]  # gaze_x
    track = poses_from_latent(z, basis=basis, fps=25)
    a = track.arrays
    assert len(track) == 5 and track.fps == 25
    assert np.allclose(a["yaw"], z[:, 0]) and np.allclose(a["tx"], 7.0) and np.allclose(a["scale"], 1.1)
    assert np.allclose(a["jaw_open"], [0.3, 0.5, 0.7, 1.0, 0.0])
    assert np.allclose(a["smile"], [0, 0.5, -0.5, 0, 0])
    assert np.allclose(a["blink_left"], [0, 0.5, 1, 0, 1]) and np.allclose(a["gaze_x"], [0, 0.3, -1, 0, 0])
    assert np.allclose(a["lip_tuck"], 0) and np.allclose(a["teeth"], 0)


def test_poses_from_latent_takes_the_mouth_details_from_speech():
    basis = small_basis()
    speech = speech_like(np.linspace(0, 1, 6).astype(np.float32))
    track = poses_from_latent(np.zeros((6, len(latent_names(4)))), basis=basis, fps=25, speech=speech)
    assert np.allclose(track.arrays["teeth"], np.maximum(speech.teeth, 0.6 * 0.3))
    assert np.allclose(track.arrays["lip_press"], speech.lip_press)
    assert np.allclose(track.arrays["jaw_open"], 0.3)  # the jaw stays the latent's, not the speech's
    longer = poses_from_latent(np.zeros((9, len(latent_names(4)))), basis=basis, fps=25, speech=speech)
    assert np.allclose(longer.arrays["teeth"][5:], max(float(speech.teeth[-1]), 0.18))  # held at the last value


def test_poses_from_latent_can_band_limit_generated_motion_but_not_blinks():
    basis = small_basis()
    rng = np.random.default_rng(4)
    z = rng.standard_normal((100, len(latent_names(4)))) * [3, 3, 3, 5, 5, 0.01, 1, 1, 1, 1, 0, 0, 0.3, 0.3]
    z[:, 10:12] = 0.0
    z[40:43, 10:12] = 1.0  # a three-frame blink
    raw = poses_from_latent(z, basis=basis, fps=25).arrays
    smooth = poses_from_latent(z, basis=basis, fps=25, smooth_s=0.04).arrays
    jitter = lambda x: float(np.abs(np.diff(x, 2)).mean())  # noqa: E731
    for name in ("yaw", "tx", "gaze_x", "smile"):
        assert jitter(smooth[name]) < 0.5 * jitter(raw[name]), name
    assert np.array_equal(smooth["blink_left"], raw["blink_left"]) and smooth["blink_left"][40:43].min() == 1.0
    with pytest.raises(GeneratorError, match="smooth_s must be between"):
        poses_from_latent(z, basis=basis, fps=25, smooth_s=-1)


def test_poses_from_latent_refuses_the_wrong_shape_or_non_finite_values():
    basis = small_basis()
    with pytest.raises(GeneratorError, match=r"shape \(T, 14\)"):
        poses_from_latent(np.zeros((5, 22)), basis=basis, fps=25)
    bad = np.zeros((5, 14))
    bad[2, 3] = np.inf
    with pytest.raises(GeneratorError, match="NaN or infinite"):
        poses_from_latent(bad, basis=basis, fps=25)


# --- the dataset from real clips -------------------------------------------------------------------


@pytest.fixture(scope="module")
def dataset(tmp_path_factory) -> Path:
    if not (SHARED_DATA / "clips").is_dir():
        pytest.skip(f"test media not present at {SHARED_DATA} (set LIKENESS_SHARED_DATA)")
    clips = clips_folder(tmp_path_factory.mktemp("clips"), SHARED_DATA, ("lp_d0", "lp_d10"))
    return prepare_dataset(clips, out_dir=tmp_path_factory.mktemp("out") / "motion", holdout=("lp_d0",))


def test_dataset_files_and_meta(dataset):
    meta = json.loads((dataset / "meta.json").read_text())
    names = meta["latent_names"]
    assert len(names) == meta["latent_dim"] == 6 + meta["n_expr"] + 4 and meta["audio_dim"] == AUDIO_DIM
    clips = {c["name"]: c for c in meta["clips"]}
    assert set(clips) == {"lp_d0", "id0001__video1__lp_d10"}
    d0, d10 = clips["lp_d0"], clips["id0001__video1__lp_d10"]
    assert (d0["has_audio"], d0["audio"], d0["split"]) == (False, "no audio track", "holdout")
    assert (d10["has_audio"], d10["split"], d10["source_fps"]) == (True, "train", 30.0)
    assert d10["frames"] == int(448 / 30 * 25)  # 30 fps resampled to 25
    for clip in meta["clips"]:
        with np.load(dataset / clip["file"]) as npz:
            latent, audio = npz["latent"], npz["audio"]
            assert latent.shape == (clip["frames"], len(names)) and latent.dtype == np.float32
            assert audio.shape == (clip["frames"], AUDIO_DIM) and float(npz["fps"]) == 25.0
            assert np.isfinite(latent).all() and np.isfinite(audio).all()
    with np.load(dataset / "id0001__video1__lp_d10.npz") as npz:
        latent, audio = npz["latent"], npz["audio"]
    expr = latent[:, 6:6 + meta["n_expr"]]
    assert np.allclose(expr.std(axis=0), 1.0, atol=0.1)  # whitened on the training clip
    assert np.allclose(np.median(latent[:, :5], axis=0), 0.0, atol=0.5)  # pose relative to the clip's median
    assert audio[:, N_MELS + 2].max() > 0.9 and audio[:, N_MELS + 1].mean() > 0.2  # speech is there
    assert len(meta["stats"]["mean"]) == len(meta["stats"]["std"]) == len(names)
    assert 0.5 < meta["expression"]["explained_variance"] <= 1.0
    assert dataset.stat().st_mode & 0o777 == 0o755
    with np.load(dataset / "lp_d0.npz") as npz:
        assert np.allclose(npz["audio"][:, :N_MELS], -3.0)  # no audio track: the features of silence


def test_decoded_jaw_follows_the_real_mouth(dataset, shared_data):
    """The expression coefficients carry the mouth: decoded jaw_open tracks the mesh's own mouth opening."""
    from faces import FaceTracker
    from media import iter_frames

    basis = MotionBasis.load(dataset)
    with np.load(dataset / "id0001__video1__lp_d10.npz") as npz:
        latent = npz["latent"]
    track = poses_from_latent(latent, basis=basis, fps=25)
    with FaceTracker() as tracker:
        opening = np.array([fm.mouth_opening(tracker.track(f)) for f in iter_frames(shared_data / "clips" /
                                                                                      "lp_d10.mp4")])
    opening_25 = np.interp(np.arange(len(latent)) / 25, np.arange(len(opening)) / 30, opening)
    assert np.corrcoef(track.arrays["jaw_open"], opening_25)[0, 1] > 0.8
    assert 0.05 < float(np.mean(track.arrays["jaw_open"])) < 0.8


def test_prepare_refuses_bad_folders_and_leaves_nothing_behind(tmp_path, shared_data):
    with pytest.raises(GeneratorError, match="does not exist"):
        prepare_dataset(tmp_path / "nope", out_dir=tmp_path / "out")
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(GeneratorError, match=r"no \.mp4 clips"):
        prepare_dataset(empty, out_dir=tmp_path / "out")
    clips = clips_folder(tmp_path / "clips", shared_data, ("lp_d0",))
    with pytest.raises(GeneratorError, match="held-out clips not found"):
        prepare_dataset(clips, out_dir=tmp_path / "out", holdout=("lp_d99",))
    with pytest.raises(GeneratorError, match="no usable training clip"):
        prepare_dataset(clips, out_dir=tmp_path / "out", holdout=("lp_d0",))
    (tmp_path / "taken").mkdir()
    (tmp_path / "taken" / "x").write_text("keep")
    with pytest.raises(GeneratorError, match="already exists and is not empty"):
        prepare_dataset(clips, out_dir=tmp_path / "taken")
    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / "a.mp4").write_bytes(b"\x00\x00\x00\x18ftypmp42" + os.urandom(2000))
    with pytest.raises(GeneratorError, match="no usable training clip"):
        prepare_dataset(broken, out_dir=tmp_path / "out")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["broken", "clips", "empty", "taken"]


def test_cli_prepare_prints_the_dataset_and_refuses_in_one_line(tmp_path, shared_data):
    clips = clips_folder(tmp_path / "clips", shared_data, ("lp_d0",))
    env = {**os.environ, "LIKENESS_DATA_DIR": str(tmp_path / "var")}
    done = subprocess.run([LIKENESS, "generator", "prepare", "--clips", str(clips), "--out", str(tmp_path / "ds")],
                          capture_output=True, text=True, env=env, timeout=300, check=False)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == str(tmp_path / "ds") and (tmp_path / "ds" / "meta.json").is_file()
    assert "1 clips, 3.1 s at 25 fps" in done.stderr
    again = subprocess.run([LIKENESS, "generator", "prepare", "--clips", str(clips), "--out", str(tmp_path / "ds")],
                           capture_output=True, text=True, env=env, timeout=300, check=False)
    assert again.returncode == 2 and "Traceback" not in again.stderr
    assert again.stderr.strip().splitlines()[-1].startswith("error: ") and "already exists" in again.stderr
    encoder = tmp_path / "encoder.pt2"
    samples = torch.export.Dim("samples", min=640, max=SR * 600)
    torch.export.save(torch.export.export(_EnergyEncoder(), (torch.zeros(1, SR),),
                                          dynamic_shapes={"wave": {1: samples}}), str(encoder))
    with_encoder = subprocess.run([LIKENESS, "generator", "prepare", "--clips", str(clips), "--out",
                                   str(tmp_path / "e"), "--audio-encoder", str(encoder), "--json"],
                                  capture_output=True, text=True, env=env, timeout=300, check=False)
    assert with_encoder.returncode == 0, with_encoder.stderr
    summary = json.loads(with_encoder.stdout)
    assert summary["audio_dim"] == AUDIO_DIM + 4 and summary["audio_encoder"]["file"] == "encoder.pt2"
    with np.load(tmp_path / "e" / "lp_d0.npz") as npz:
        assert npz["audio"].shape[1] == AUDIO_DIM + 4


def test_template_factory_is_a_real_face():
    assert template().shape == (478, 3) and fm.interocular(template()) > 50


def test_tracker_noise_is_low_passed_but_blinks_stay_sharp():
    n = 60
    blink = np.zeros(n)
    blink[30:32] = 1.0
    noisy = posed_sequence(n, yaw=np.linspace(0, 6, n), blink=blink, noise=0.4, seed=3)
    raw = canonical_motion(noisy, fps=25, smooth_s=0.0)
    smooth = canonical_motion(noisy, fps=25)
    jitter = lambda x: float(np.abs(np.diff(x, 2, axis=0)).mean())  # noqa: E731
    assert jitter(smooth.pose[:, :3]) < 0.5 * jitter(raw.pose[:, :3])
    assert jitter(smooth.measured[:, 0]) < 0.5 * jitter(raw.measured[:, 0])
    assert smooth.eyes[30:32, :2].min() > 0.6 and np.allclose(smooth.eyes[:, :2], raw.eyes[:, :2])


# --- a user-supplied wav2vec2-style encoder --------------------------------------------------------


class _EnergyEncoder(torch.nn.Module):
    """A stand-in with wav2vec2's interface: [1, samples] at 16 kHz → [1, frames at 50 Hz, 4]; channel 0 = energy."""

    def forward(self, wave):  # type: ignore[no-untyped-def]
        energy = torch.nn.functional.avg_pool1d((wave * wave)[None], kernel_size=320, stride=320)[0]  # [1, T']
        return (torch.stack([energy, -energy, energy * 0, energy * 0 + 1], dim=-1),)


def test_a_user_supplied_encoder_adds_its_frames_aligned(tmp_path):
    from generator.motion_data import load_audio_encoder

    path = tmp_path / "encoder.pt2"
    samples = torch.export.Dim("samples", min=640, max=SR * 600)
    program = torch.export.export(_EnergyEncoder(), (torch.zeros(1, SR),), dynamic_shapes={"wave": {1: samples}})
    torch.export.save(program, str(path))
    encoder = load_audio_encoder(path)
    assert (encoder.dim, encoder.rate) == (4, 50.0) and len(encoder.sha256) == 64
    x = np.zeros(3 * SR, np.float32)
    x[int(1.0 * SR): int(1.4 * SR)] = tone(0.4)
    feats = audio_features(Audio(x, SR), fps=25, n_frames=100, encoder=encoder)
    assert feats.shape == (100, AUDIO_DIM + 4)
    assert np.allclose(feats[:, :AUDIO_DIM], audio_features(Audio(x, SR), fps=25, n_frames=100))
    loud = np.flatnonzero(feats[:, AUDIO_DIM] > 0.5 * feats[:, AUDIO_DIM].max())
    assert 24 <= loud[0] <= 26 and 33 <= loud[-1] <= 35  # 1.0–1.4 s at 25 fps
    assert np.allclose(feats[76:, AUDIO_DIM:], 0.0)  # past the audio's end
    (tmp_path / "junk.pt").write_bytes(b"not torchscript")
    with pytest.raises(GeneratorError, match="not a usable audio encoder"):
        load_audio_encoder(tmp_path / "junk.pt")
    with pytest.raises(GeneratorError, match="no audio encoder at"):
        load_audio_encoder(tmp_path / "missing.pt")
