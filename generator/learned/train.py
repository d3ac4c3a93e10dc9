"""Training the motion model, on one CPU process or data-parallel under ``torchrun``.

>>> from generator.learned.train import parse_args
>>> args = parse_args(["--data", "var/motion", "--out", "var/run", "--config", "small", "--steps", "100"])
>>> args.config, args.steps, args.batch, args.seed
('small', 100, 32, 0)

Run it as ``python -m generator.learned.train --data DIR --out DIR`` or, data-parallel,
``torchrun --nproc_per_node 2 -m generator.learned.train ...`` (gloo on CPUs, NCCL and bf16
autocast on GPUs). Each process draws its own windows from seeds derived from (seed, rank, step),
so a run is reproducible and a resumed run continues with the windows the uninterrupted one would
have drawn. Rank 0 writes ``metrics.jsonl`` (one JSON object a line: training loss averaged over
the processes, learning rate, throughput; validation loss on the held-out clips), the training
checkpoint ``last.safetensors`` (weights, optimiser state, step; ``--resume`` continues from it)
and, at the end, ``model.safetensors`` (weights and standardisation only: what inference loads).
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import os
import shutil
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.distributed as dist

from generator.errors import GeneratorError
from generator.learned import _safetensors
from generator.learned.checkpoint import model_metadata, model_tensors
from generator.learned.data import AUDIO_CENTERING, MotionDataset, WindowSampler, load_dataset
from generator.learned.flow import drop_conditions, training_loss
from generator.learned.model import CONFIG_NAMES, NO_EMOTION, MotionDenoiser, config_named

logger = logging.getLogger(__name__)


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m generator.learned.train", description=__doc__.split("\n\n")[0])
    p.add_argument("--data", type=Path, required=True, help="a dataset from `likeness generator prepare`")
    p.add_argument("--out", type=Path, required=True, help="run directory (checkpoints, metrics.jsonl)")
    p.add_argument("--config", choices=CONFIG_NAMES, default="small")
    p.add_argument("--steps", type=int, default=2000)
    p.add_argument("--batch", type=int, default=32, help="windows per process per step")
    p.add_argument("--lr", type=float, default=1e-3)
    p.add_argument("--warmup", type=int, default=100)
    p.add_argument("--weight-decay", type=float, default=0.01)
    p.add_argument("--cond-drop", type=float, default=0.1, help="probability of dropping each condition")
    p.add_argument("--velocity-weight", type=float, default=0.5, help="weight of the frame-to-frame velocity loss")
    p.add_argument("--audio-noise", type=float, default=0.1, help="Gaussian noise on standardised audio features")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--holdout", default="", help="comma-separated clip names kept out of training")
    p.add_argument("--resume", action="store_true", help="continue from OUT/last.safetensors")
    p.add_argument("--log-every", type=int, default=20)
    p.add_argument("--eval-every", type=int, default=200)
    p.add_argument("--ckpt-every", type=int, default=200)
    p.add_argument("--keep", action="store_true", help="keep every checkpoint as step-NNNNNN.safetensors too")
    p.add_argument("--max-minutes", type=float, default=0.0, help="stop (and save) after this long; 0: no limit")
    p.add_argument("--threads", type=int, default=1,
                   help="CPU threads per process (1 is fastest on a shared machine: more threads oversubscribe)")
    p.add_argument("--device", default="auto", help="auto, cpu or cuda")
    args = p.parse_args(argv)
    if args.steps < 1 or args.batch < 1:
        p.error("--steps and --batch must be at least 1")
    return args


def _step_generator(seed: int, rank: int, step: int) -> torch.Generator:
    return torch.Generator().manual_seed((seed * 1_000_003 + rank) * 1_000_033 + step)


def _lr(step: int, args: argparse.Namespace) -> float:
    if step < args.warmup:
        return args.lr * (step + 1) / args.warmup
    progress = (step - args.warmup) / max(1, args.steps - args.warmup)
    return args.lr * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * min(progress, 1.0))))


def _optimizer_tensors(optimizer: torch.optim.Optimizer) -> dict[str, torch.Tensor]:
    out = {}
    for index, state in optimizer.state_dict()["state"].items():
        for key, value in state.items():
            out[f"optim.{index}.{key}"] = torch.as_tensor(value).float().cpu()
    return out


def _load_optimizer(optimizer: torch.optim.Optimizer, tensors: dict[str, torch.Tensor]) -> None:
    state_dict = optimizer.state_dict()
    state: dict[int, dict[str, torch.Tensor]] = {}
    for name, value in tensors.items():
        if name.startswith("optim."):
            _, index, key = name.split(".", 2)
            state.setdefault(int(index), {})[key] = value
    state_dict["state"] = state
    optimizer.load_state_dict(state_dict)


def validation_loss(net: torch.nn.Module, sampler: WindowSampler | None, *, seed: int, batches: int = 4,
                    batch: int = 32, device: torch.device) -> float | None:
    """Mean loss over fixed held-out windows and noise (the same every evaluation)."""
    if sampler is None:
        return None
    was_training = net.training
    net.eval()
    total = 0.0
    with torch.no_grad():
        for k in range(batches):
            g = _step_generator(seed, 10_000, k)
            clean, conditions = sampler.batch(batch, generator=g)
            conditions = {key: value.to(device) for key, value in conditions.items()}
            total += float(training_loss(net, clean.to(device), conditions, generator=g))
    net.train(was_training)
    return total / batches


def train(args: argparse.Namespace) -> Path | None:
    """Run training; returns the model file on rank 0 (None on the others)."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    rank = int(os.environ.get("RANK", "0"))
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    use_cuda = args.device == "cuda" or (args.device == "auto" and torch.cuda.is_available())
    if use_cuda:
        torch.cuda.set_device(local_rank)
        device = torch.device("cuda", local_rank)
    else:
        device = torch.device("cpu")
        torch.set_num_threads(max(1, args.threads))
    if world > 1:
        dist.init_process_group("nccl" if use_cuda else "gloo")
    try:
        return _train(args, world=world, rank=rank, device=device)
    finally:
        if world > 1:
            dist.destroy_process_group()


def _train(args: argparse.Namespace, *, world: int, rank: int, device: torch.device) -> Path | None:
    holdout = [h for h in args.holdout.split(",") if h]
    full = load_dataset(args.data, audio_stats_exclude=holdout)
    train_set, held = full.split(holdout)
    config = config_named(args.config, latent_dim=train_set.latent_dim, audio_dim=train_set.audio_dim)
    sampler = WindowSampler(train_set, window=config.window, context=config.context, audio_noise=args.audio_noise)
    held_sampler = None
    if any(len(c.latent) >= config.window for c in held.clips):
        held_sampler = WindowSampler(held, window=config.window, context=config.context)

    torch.manual_seed(args.seed)
    net = MotionDenoiser(config).to(device)
    optimizer = torch.optim.AdamW(net.parameters(), lr=args.lr, weight_decay=args.weight_decay, betas=(0.9, 0.99))
    args.out.mkdir(parents=True, exist_ok=True)
    last = args.out / "last.safetensors"
    start = 0
    if args.resume and last.exists():
        tensors, meta = _safetensors.load_file(last)
        if json.loads(meta["config"]) != config.to_dict():
            raise GeneratorError(f"{last} was trained with another config; start a new run directory")
        net.load_state_dict({k.removeprefix("net."): v for k, v in tensors.items() if k.startswith("net.")})
        _load_optimizer(optimizer, {k: v.to(device) for k, v in tensors.items() if k.startswith("optim.")})
        start = int(meta["step"])
        logger.info("resumed from step %d", start)
    model = torch.nn.parallel.DistributedDataParallel(net) if world > 1 else net
    metrics = (args.out / "metrics.jsonl").open("a") if rank == 0 else None
    if rank == 0:
        _log(metrics, {"event": "start", "step": start, "config": config.to_dict(), "parameters": net.parameter_count(),
                       "world_size": world, "device": str(device), "batch_per_process": args.batch,
                       "train_clips": [c.name for c in train_set.clips], "held_out": [c.name for c in held.clips],
                       "train_frames": train_set.frames(), "seed": args.seed, "torch": torch.__version__})
    autocast = torch.autocast("cuda", dtype=torch.bfloat16) if device.type == "cuda" else torch.autocast(
        "cpu", enabled=False)
    started = time.perf_counter()
    window_started, window_loss, window_n = time.perf_counter(), 0.0, 0
    step = start
    net.train()
    while step < args.steps:
        g = _step_generator(args.seed, rank, step)
        torch.manual_seed(int(torch.randint(0, 2**62, (1,), generator=g)))  # dropout: reproducible across resumes
        clean, conditions = sampler.batch(args.batch, generator=g)
        conditions = drop_conditions(conditions, p=args.cond_drop, generator=g)
        conditions = {k: v.to(device) for k, v in conditions.items()}
        for group in optimizer.param_groups:
            group["lr"] = _lr(step, args)
        with autocast:
            loss = training_loss(model, clean.to(device), conditions, generator=g, velocity_weight=args.velocity_weight)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(net.parameters(), 1.0)
        optimizer.step()
        step += 1
        window_loss += float(loss.detach())
        window_n += 1
        out_of_time = args.max_minutes > 0 and time.perf_counter() - started > 60 * args.max_minutes
        if world > 1:  # every rank must agree to stop together
            flag = torch.tensor([float(out_of_time)], device=device)
            dist.all_reduce(flag)
            out_of_time = bool(flag.item() > 0)
        if step % args.log_every == 0 or step == args.steps or out_of_time:
            mean = torch.tensor([window_loss / window_n], device=device)
            if world > 1:
                dist.all_reduce(mean)
                mean /= world
            elapsed = time.perf_counter() - window_started
            if rank == 0:
                _log(metrics, {"event": "train", "step": step, "loss": round(float(mean), 5),
                               "lr": round(_lr(step - 1, args), 7),
                               "elapsed_s": round(time.perf_counter() - started, 2),
                               "windows_per_s": round(window_n * args.batch * world / max(elapsed, 1e-9), 1)})
            window_started, window_loss, window_n = time.perf_counter(), 0.0, 0
        at_eval = step % args.eval_every == 0 or step == args.steps or out_of_time
        if rank == 0 and held_sampler is not None and at_eval:
            _log(metrics, {"event": "eval", "step": step, "val_loss": round(
                validation_loss(net, held_sampler, seed=args.seed, device=device) or 0.0, 5)})
        if rank == 0 and (step % args.ckpt_every == 0 or step == args.steps or out_of_time):
            _save_checkpoint(last, net, optimizer, train_set, step=step, args=args)
            if args.keep:
                shutil.copyfile(last, args.out / f"step-{step:06d}.safetensors")
        if out_of_time:
            break
    if rank != 0:
        return None
    path = args.out / "model.safetensors"
    _safetensors.save_file(
        model_tensors(net, stats=train_set),
        path, metadata=model_metadata(config, stats=train_set, step=str(step),
                                      audio_centering=AUDIO_CENTERING,
                                      emotions=sorted({c.emotion for c in train_set.clips} - {NO_EMOTION}),
                                      train_clips=[c.name for c in train_set.clips],
                                      held_out=[c.name for c in held.clips]),
    )
    _log(metrics, {"event": "end", "step": step, "elapsed_s": round(time.perf_counter() - started, 2),
                   "model": str(path)})
    assert metrics is not None
    metrics.close()
    return path


def _save_checkpoint(path: Path, net: MotionDenoiser, optimizer: torch.optim.Optimizer, data: MotionDataset, *,
                     step: int, args: argparse.Namespace) -> None:
    tensors = model_tensors(net, stats=data)
    tensors.update(_optimizer_tensors(optimizer))
    _safetensors.save_file(tensors, path, metadata=model_metadata(
        net.config, stats=data, step=str(step), audio_centering=AUDIO_CENTERING,
        emotions=sorted({c.emotion for c in data.clips} - {NO_EMOTION}),
        args={k: str(v) for k, v in vars(args).items()}))


def _log(stream: Any, record: dict[str, Any]) -> None:
    line = json.dumps({"time": round(time.time(), 3), **record})
    stream.write(line + "\n")
    stream.flush()
    sys.stderr.write(line + "\n")


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    np.seterr(all="ignore")
    try:
        path = train(args)
    except GeneratorError as exc:
        sys.stderr.write(f"error: {exc}\n")
        return 2
    if path is not None:
        sys.stdout.write(f"{path}\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
