"""Training the companion network: each input mode trains, exports to ONNX, and the ONNX file computes what
the torch network computes (the detector runs only the ONNX file); the frame-difference mode is blind to
how a still face looks, by construction."""

from __future__ import annotations

import numpy as np
import onnxruntime as ort
import pytest
import torch

from detector._align import CropGeometry
from detector.dataset import Track
from detector.model import CompanionNet
from detector.train import TrainConfig, export_onnx, track_window_logits, train_model


def _tracks(rng: np.random.Generator, geometry: CropGeometry) -> list[Track]:
    """Two real and two synthetic toy tracks: the synthetic ones change less from frame to frame."""
    tracks = []
    for label in (0, 0, 1, 1):
        base_face = rng.integers(0, 256, (1, geometry.face_stored, geometry.face_stored, 3))
        base_mouth = rng.integers(0, 256, (1, geometry.mouth_stored, geometry.mouth_stored, 3))
        noise = 2 if label else 12
        face = np.clip(base_face + rng.normal(0, noise, (24, *base_face.shape[1:])), 0, 255).astype(np.uint8)
        mouth = np.clip(base_mouth + rng.normal(0, noise, (24, *base_mouth.shape[1:])), 0, 255).astype(np.uint8)
        tracks.append(Track(name=f"t{len(tracks)}", clip=f"c{len(tracks) % 2}", label=label, variant="orig", fps=25.0,
                            face=face, mouth=mouth, valid=np.ones(24, bool), scale=np.full(24, 60.0)))
    return tracks


@pytest.mark.parametrize("inputs", ["motion", "residual"])
def test_each_input_mode_trains_and_its_onnx_export_matches_torch(tmp_path, inputs):
    geometry = CropGeometry()
    rng = np.random.default_rng(0)
    tracks = _tracks(rng, geometry)
    net = train_model(tracks, config=TrainConfig(steps=3, batch=4, inputs=inputs), geometry=geometry)
    assert net.inputs == inputs
    path = tmp_path / "net.onnx"
    export_onnx(net, path, geometry=geometry, window=8)
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    face = rng.integers(0, 256, (3, 8, geometry.face_size, geometry.face_size, 3), dtype=np.uint8)
    mouth = rng.integers(0, 256, (3, 8, geometry.mouth_size, geometry.mouth_size, 3), dtype=np.uint8)
    window, frame = session.run(None, {"face": face, "mouth": mouth})
    with torch.no_grad():
        expected_window, expected_frame = net(torch.from_numpy(face), torch.from_numpy(mouth))
    np.testing.assert_allclose(window, expected_window.numpy(), rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(frame, expected_frame.numpy(), rtol=1e-4, atol=1e-4)
    assert len(track_window_logits(net, tracks[0], geometry=geometry, window=8)) >= 1


def test_the_motion_network_sees_only_change():
    torch.manual_seed(0)
    net = CompanionNet(inputs="motion").eval()
    rng = np.random.default_rng(1)
    still_a = np.repeat(rng.integers(0, 256, (1, 1, 128, 128, 3), dtype=np.uint8), 8, axis=1)
    still_b = np.repeat(rng.integers(0, 256, (1, 1, 128, 128, 3), dtype=np.uint8), 8, axis=1)
    mouth = np.zeros((1, 8, 96, 96, 3), np.uint8)
    with torch.no_grad():
        a = net(torch.from_numpy(still_a), torch.from_numpy(mouth))[0]
        b = net(torch.from_numpy(still_b), torch.from_numpy(mouth))[0]
        moving = still_a.copy()
        moving[0, 1::2] = 255 - moving[0, 1::2]
        c = net(torch.from_numpy(moving), torch.from_numpy(mouth))[0]
    assert torch.equal(a, b)  # two different faces, both frozen: the same evidence
    assert not torch.equal(a, c)  # change is what it reads
    residual = CompanionNet(inputs="residual").eval()
    with torch.no_grad():
        assert not torch.equal(residual(torch.from_numpy(still_a), torch.from_numpy(mouth))[0],
                               residual(torch.from_numpy(still_b), torch.from_numpy(mouth))[0])
    with pytest.raises(ValueError, match="unknown inputs"):
        CompanionNet(inputs="depth")
