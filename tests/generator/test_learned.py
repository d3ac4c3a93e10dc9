"""The learned generator: safetensors files, the denoiser, guided sampling, training (also under torchrun),
window-by-window inference and the ``learned`` backend with the shipped model."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import safetensors.torch
import torch
from learned_factories import AUDIO_DIM, LATENT_NAMES, write_synthetic_dataset
from motion_factories import SENTENCE

from generator import Controls, GeneratorError, available_backends, get_generator
from generator.learned import (
    Guidance,
    LearnedGenerator,
    MotionDenoiser,
    _safetensors,
    config_named,
    generate_latents,
    iter_latent_windows,
    load_from_card,
    load_model,
    shipped_model,
)
from generator.learned.checkpoint import SHIPPED_CARD, file_sha256
from generator.learned.data import WindowSampler, load_dataset
from generator.learned.flow import sample_window
from generator.learned.train import main as train_main

REPO = Path(__file__).resolve().parents[2]
PYTHON = sys.executable


def _train(data: Path, out: Path, *extra: str) -> Path:
    argv = ["--data", str(data), "--out", str(out), "--config", "tiny", "--batch", "8", "--log-every", "5",
            "--eval-every", "10", "--ckpt-every", "5", "--warmup", "5", "--lr", "3e-3", *extra]
    assert train_main(argv) == 0
    return out


def _metrics(out: Path) -> list[dict]:
    return [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]


@pytest.fixture(scope="module")
def dataset(tmp_path_factory) -> Path:  # type: ignore[no-untyped-def]
    return write_synthetic_dataset(tmp_path_factory.mktemp("motion"), clips=4, seconds=8, seed=3)


@pytest.fixture(scope="module")
def trained(dataset, tmp_path_factory) -> Path:  # type: ignore[no-untyped-def]
    return _train(dataset, tmp_path_factory.mktemp("run"), "--steps", "40", "--holdout", "syn_3")


# --- safetensors --------------------------------------------------------------------------------


def test_safetensors_round_trip_every_dtype_and_refuse_malformed_bytes():
    tensors = {"a": torch.randn(3, 4), "b": torch.arange(5, dtype=torch.int64), "c": torch.tensor([True, False]),
               "d": torch.randn(2, 2).to(torch.bfloat16), "e": torch.zeros(0, 3)}
    blob = _safetensors.dumps(tensors, metadata={"k": "v"})
    size = int.from_bytes(blob[:8], "little")
    assert (8 + size) % 8 == 0 and json.loads(blob[8 : 8 + size])["__metadata__"] == {"k": "v"}
    back, meta = _safetensors.loads(blob)
    assert meta == {"k": "v"} and set(back) == set(tensors)
    for name, tensor in tensors.items():
        assert back[name].dtype == tensor.dtype and torch.equal(back[name], tensor)
    with pytest.raises(_safetensors.SafetensorsError, match="too short"):
        _safetensors.loads(b"\x01")
    with pytest.raises(_safetensors.SafetensorsError, match="past the end"):
        _safetensors.loads(blob[:40])
    with pytest.raises(_safetensors.SafetensorsError, match="not a well-formed safetensors file"):
        _safetensors.loads(blob[: len(blob) - 4])  # a truncated data section
    shipped = SHIPPED_CARD.with_suffix(".safetensors")
    assert set(safetensors.torch.load_file(str(shipped)))  # the package itself reads the shipped checkpoint
    with pytest.raises(_safetensors.SafetensorsError, match="metadata"):
        _safetensors.dumps(tensors, metadata={"k": 1})  # type: ignore[dict-item]


# --- the network and sampling -------------------------------------------------------------------


def test_configurations_have_the_promised_sizes():
    small = MotionDenoiser(config_named("small", latent_dim=22, audio_dim=43))
    vasa = MotionDenoiser(config_named("vasa", latent_dim=22, audio_dim=43))
    assert small.parameter_count() <= 5_000_000
    assert 24_000_000 <= vasa.parameter_count() <= 32_000_000  # VASA-1: ~29M
    assert (vasa.config.layers, vasa.config.width, vasa.config.heads, vasa.config.steps) == (8, 512, 8, 50)
    assert small.config.steps <= 8
    with pytest.raises(GeneratorError, match="unknown motion model config 'huge'"):
        config_named("huge", latent_dim=22, audio_dim=43)


def _conditions(net: MotionDenoiser, batch: int, *, audio: torch.Tensor | None = None) -> dict:
    c, w = net.config.context, net.config.window
    cond = net.null_conditions(batch, frames=c + w)
    cond.update(context=torch.zeros(batch, c, net.config.latent_dim), has_context=torch.zeros(batch, dtype=torch.bool),
                audio=audio if audio is not None else torch.randn(batch, c + w, net.config.audio_dim))
    return cond


def test_the_prediction_depends_on_audio_and_ignores_missing_context():
    torch.manual_seed(0)
    net = MotionDenoiser(config_named("tiny", latent_dim=6, audio_dim=5, dropout=0.0))
    torch.nn.init.normal_(net.out.weight, std=0.1)  # zero-initialised output: give it a signal to pass
    net.eval()
    cond = _conditions(net, 1)
    x, t = torch.randn(1, 50, 6), torch.tensor([0.5])
    base = net(x, t, **cond)
    louder = net(x, t, **{**cond, "audio": cond["audio"] + 1.0})
    assert not torch.allclose(base, louder)
    absent = net(x, t, **{**cond, "has_audio": torch.tensor([False])})
    assert torch.allclose(absent, net(x, t, **{**cond, "has_audio": torch.tensor([False]), "audio": cond["audio"] * 5}))
    # the context of a first window is marked missing: its values must not matter
    other = net(x, t, **{**cond, "context": torch.randn(1, 10, 6)})
    assert torch.allclose(base, other, atol=1e-6)
    with pytest.raises(GeneratorError, match="does not fit the model"):
        net(torch.randn(1, 51, 6), t, **{**cond, "audio": torch.randn(1, 61, 5)})


def test_guided_sampling_is_seeded_and_each_guidance_costs_one_pass():
    torch.manual_seed(0)
    net = MotionDenoiser(config_named("tiny", latent_dim=6, audio_dim=5)).eval()
    torch.nn.init.normal_(net.out.weight, std=0.1)
    cond = _conditions(net, 2)
    batches: list[int] = []
    net.register_forward_hook(lambda _m, args, _out: batches.append(args[0].shape[0]))

    def run(seed: int, guidance: Guidance) -> torch.Tensor:
        return sample_window(net, cond, frames=50, guidance=guidance, generator=torch.Generator().manual_seed(seed))

    plain = run(1, Guidance(audio=1.0, conditions=1.0, steps=4))
    assert batches == [2] * 4  # 4 steps, one pass each, no guidance
    batches.clear()
    guided = run(1, Guidance(audio=2.0, conditions=1.5, steps=4))
    assert batches == [6] * 4  # all, no audio, no conditions: one batched pass per step
    assert torch.equal(plain, run(1, Guidance(audio=1.0, conditions=1.0, steps=4)))
    assert not torch.equal(plain, run(2, Guidance(audio=1.0, conditions=1.0, steps=4)))
    assert not torch.allclose(plain, guided)
    assert plain.shape == (2, 50, 6) and torch.isfinite(guided).all()


# --- data and training --------------------------------------------------------------------------


def test_windows_carry_context_audio_and_conditions_from_the_clip(dataset):
    data = load_dataset(dataset)
    assert data.latent_names == LATENT_NAMES and data.audio_dim == AUDIO_DIM
    silent = next(c for c in data.clips if c.name == "syn_0")
    assert not silent.has_audio  # meta.json says so: it trains the "no audio" condition
    sampler = WindowSampler(data, window=50, context=10)
    clean, cond = sampler.batch(64, generator=torch.Generator().manual_seed(0))
    assert clean.shape == (64, 50, len(LATENT_NAMES)) and cond["audio"].shape == (64, 60, AUDIO_DIM)
    assert cond["has_context"].any() and (~cond["has_context"]).any()
    assert torch.all(cond["context"][~cond["has_context"]] == 0)
    gx = LATENT_NAMES.index("gaze_x")
    assert torch.allclose(cond["gaze"][:, 0], clean[:, :, gx].mean(dim=1))
    assert cond["has_audio"].any() and (~cond["has_audio"]).any()
    with pytest.raises(GeneratorError, match="held-out clips not in the dataset: nope"):
        data.split(["nope"])


def test_training_lowers_the_loss_logs_json_lines_and_writes_safetensors(trained):
    records = _metrics(trained)
    train = [r for r in records if r["event"] == "train"]
    assert records[0]["event"] == "start" and records[0]["held_out"] == ["syn_3"]
    assert "syn_3" not in records[0]["train_clips"]
    assert [r["step"] for r in train] == [5, 10, 15, 20, 25, 30, 35, 40]
    assert np.mean([r["loss"] for r in train[-2:]]) < 0.85 * train[0]["loss"]
    assert [r["step"] for r in records if r["event"] == "eval"] == [10, 20, 30, 40]
    assert records[-1]["event"] == "end"
    blob = (trained / "model.safetensors").read_bytes()
    tensors, meta = _safetensors.loads(blob)
    assert not any(name.startswith("optim.") for name in tensors)  # inference file: weights and statistics only
    assert json.loads(meta["latent_names"]) == LATENT_NAMES and json.loads(meta["held_out"]) == ["syn_3"]
    last, last_meta = _safetensors.load_file(trained / "last.safetensors")
    assert last_meta["step"] == "40" and any(name.startswith("optim.") for name in last)
    assert b"\x80\x04" not in blob[:16]  # not a pickle


def test_a_resumed_run_ends_with_the_weights_of_an_uninterrupted_one(dataset, tmp_path):
    whole = _train(dataset, tmp_path / "whole", "--steps", "10", "--seed", "5")
    part = _train(dataset, tmp_path / "part", "--steps", "5", "--seed", "5")
    # the interrupted run is continued to the same length (its schedule is set by --steps, as for the whole run)
    _train(dataset, part, "--steps", "10", "--seed", "5", "--resume")
    a, _ = _safetensors.load_file(whole / "model.safetensors")
    b, _ = _safetensors.load_file(part / "model.safetensors")
    assert set(a) == set(b)
    assert all(torch.allclose(a[k], b[k], atol=1e-6) for k in a)
    starts = [r for r in _metrics(part) if r["event"] == "start"]
    assert [r["step"] for r in starts] == [0, 5]


def test_training_refuses_unusable_input_with_one_line(dataset, tmp_path, capsys):
    assert train_main(["--data", str(tmp_path / "missing"), "--out", str(tmp_path / "o")]) == 2
    assert "no motion dataset at" in capsys.readouterr().err
    every = "syn_0,syn_1,syn_2,syn_3"
    assert train_main(["--data", str(dataset), "--out", str(tmp_path / "o"), "--holdout", every]) == 2
    assert "nothing is left to train on" in capsys.readouterr().err


def test_torchrun_trains_with_two_processes(dataset, tmp_path):
    torchrun = Path(PYTHON).with_name("torchrun")
    out = tmp_path / "ddp"
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(REPO)}
    result = subprocess.run(
        [str(torchrun), "--standalone", "--nproc_per_node", "2", "-m", "generator.learned.train", "--data",
         str(dataset), "--out", str(out), "--config", "tiny", "--steps", "4", "--batch", "4", "--log-every", "2",
         "--ckpt-every", "4", "--seed", "1"],
        cwd=REPO, env=env, capture_output=True, text=True, timeout=120,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    records = _metrics(out)
    assert records[0]["world_size"] == 2 and records[-1]["event"] == "end"
    train = [r for r in records if r["event"] == "train"]
    assert [r["step"] for r in train] == [2, 4]
    assert train[0]["windows_per_s"] > 0  # throughput counts both processes' windows
    load_model(out / "model.safetensors")


@pytest.mark.gpu
def test_training_on_a_gpu_in_bf16(dataset, tmp_path):
    out = _train(dataset, tmp_path / "gpu", "--steps", "10", "--device", "cuda")
    assert _metrics(out)[0]["device"].startswith("cuda")
    model = load_model(out / "model.safetensors", device="cuda")
    feats = np.load(dataset / "syn_1.npz")["audio"]
    assert generate_latents(feats, model=model).shape == (len(feats), len(LATENT_NAMES))


# --- inference ----------------------------------------------------------------------------------


def test_latents_stream_in_windows_with_carried_context(trained, dataset):
    model = load_model(trained / "model.safetensors")
    feats = np.load(dataset / "syn_3.npz")["audio"][:123]
    windows = list(iter_latent_windows(model, feats, gaze=(0.0, 0.0), distance=0.0, seed=4))
    assert [len(w) for w in windows] == [50, 50, 23]
    whole = generate_latents(feats, model=model, gaze=(0.0, 0.0), distance=0.0, seed=4)
    assert np.array_equal(np.concatenate(windows), whole)
    assert not np.array_equal(whole, generate_latents(feats, model=model, seed=5))
    # the seam between windows is no rougher than the inside of a window (context carries the motion on)
    step = np.abs(np.diff(whole, axis=0)).mean(axis=1)
    assert step[49] < 3 * np.median(step) + 1e-3 and step[99] < 3 * np.median(step) + 1e-3
    with pytest.raises(GeneratorError, match="do not fit the motion model"):
        generate_latents(feats[:, :3], model=model)
    with pytest.raises(GeneratorError, match="NaN"):
        generate_latents(np.full_like(feats, np.nan), model=model)
    with pytest.raises(GeneratorError, match="sampling steps"):
        generate_latents(feats, model=model, guidance=Guidance(steps=0))


def test_a_model_file_that_differs_from_its_card_is_refused(trained, tmp_path):
    model = tmp_path / "m.safetensors"
    shutil.copy(trained / "model.safetensors", model)
    card = tmp_path / "m.json"
    card.write_text(json.dumps({"file": "m.safetensors", "sha256": file_sha256(model)}))
    assert load_from_card(card).config.name == "tiny"
    blob = bytearray(model.read_bytes())
    blob[-3] ^= 0x55
    model.write_bytes(bytes(blob))
    with pytest.raises(GeneratorError, match="does not match its card"):
        load_from_card(card)
    model.write_bytes(b"not a model")
    with pytest.raises(GeneratorError, match="not a safetensors file"):
        load_model(model)


# --- the shipped model and the learned backend --------------------------------------------------


def test_the_shipped_model_matches_its_card():
    card = json.loads(SHIPPED_CARD.read_text())
    model = shipped_model()
    assert model.sha256 == card["sha256"] == file_sha256(SHIPPED_CARD.parent / card["file"])
    assert model.net.parameter_count() == card["architecture"]["parameters"] <= 5_000_000
    assert model.config.name == "small" and model.latent_names == card["latent_names"]
    assert file_sha256(SHIPPED_CARD.parent / card["basis"]["file"]) == card["basis"]["sha256"]


@pytest.fixture(scope="module")
def learned_generation(portrait, speech):  # type: ignore[no-untyped-def]
    generator = get_generator("learned")
    return generator, generator.prepare(portrait, speech, controls=Controls(seed=7), transcript=SENTENCE)


def test_the_learned_backend_is_registered_and_the_default_stays_the_default():
    assert available_backends() == ["default", "learned"]
    assert get_generator().name == "default"
    generator = get_generator("learned")
    assert isinstance(generator, LearnedGenerator) and generator.name == "learned"
    assert generator.version.endswith(json.loads(SHIPPED_CARD.read_text())["version"])


def test_learned_motion_drives_the_renderer_and_follows_the_voice(learned_generation, speech):
    _, generation = learned_generation
    assert generation.n_frames == int(np.ceil(speech.duration_s * 25))
    assert set(generation.timings_s) == {"rig", "speech", "motion"}
    frame = generation.frame(20)
    assert frame.shape == (512, 512, 3) and frame.dtype == np.uint8
    assert not np.array_equal(frame, generation.frame(40))
    motion = generation.motion.arrays
    loud = generation.speech.loudness
    # the model's mouth follows the voice, if weakly (its card: 68 s of training speech; the real clips'
    # own jaw–loudness correlation is 0.12–0.18): open more while loud than in the pauses
    assert np.corrcoef(motion["jaw_open"], loud)[0, 1] > 0.15
    assert motion["jaw_open"][loud > 0.3].mean() > 1.5 * motion["jaw_open"][loud < 0.05].mean()
    assert 0.1 < motion["yaw"].std() < 10.0 and 0.1 < motion["pitch"].std() < 10.0  # the head moves, moderately
    # the viseme details come from the speech track (the hybrid of docs/learned_generator.md)
    assert np.array_equal(motion["lip_tuck"], generation.speech.lip_tuck)
    assert np.array_equal(motion["tongue"], generation.speech.tongue)


def test_learned_controls_seed_stillness_and_emotion(learned_generation, portrait, speech):
    generator, generation = learned_generation
    n = generation.n_frames
    same = generator.motion(speech, n_frames=n, fps=25.0, controls=Controls(seed=7), speech=generation.speech)
    assert np.array_equal(same.arrays["yaw"], generation.motion.arrays["yaw"])
    other = generator.motion(speech, n_frames=n, fps=25.0, controls=Controls(seed=8), speech=generation.speech)
    assert not np.array_equal(other.arrays["yaw"], generation.motion.arrays["yaw"])
    still = generator.motion(speech, n_frames=n, fps=25.0, controls=Controls(seed=7, still_head=True))
    assert all(np.all(still.arrays[k] == 0) for k in ("yaw", "pitch", "roll", "tx", "ty"))
    assert np.all(still.arrays["scale"] == 1)
    happy = generator.motion(speech, n_frames=n, fps=25.0, controls=Controls(seed=7, emotion="happy"))
    assert happy.arrays["smile"].mean() > generation.motion.arrays["smile"].mean() + 0.3
    calm = generator.motion(speech, n_frames=n, fps=25.0, controls=Controls(seed=7, intensity=0.5))
    assert np.allclose(calm.arrays["yaw"], 0.5 * generation.motion.arrays["yaw"], atol=1e-5)
    with pytest.raises(GeneratorError, match="25 fps its model was trained at"):
        generator.prepare(portrait, speech, fps=30.0)


def test_streaming_renders_the_frames_prepare_plans_one_model_window_ahead(learned_generation, portrait, speech):
    generator, generation = learned_generation
    stream = generator.stream(portrait, speech, controls=Controls(seed=7), transcript=SENTENCE, window=30)
    first, second = next(stream), next(stream)  # 60 frames: the second crosses the first model window (50)
    stream.close()
    assert len(first) == len(second) == 30
    for index in (0, 29, 49, 50, 59):
        frame = (first + second)[index]
        assert np.array_equal(frame, generation.frame(index)), index
    with pytest.raises(GeneratorError, match="at least one frame"):
        next(generator.stream(portrait, speech, window=0))
