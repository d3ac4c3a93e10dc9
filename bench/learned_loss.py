"""The loss curve of a motion-model training run: a PNG for the docs and the numbers behind it.

    .venv/bin/python bench/learned_loss.py RUN_DIR/metrics.jsonl --png docs/learned_loss.png

Reads the JSON lines ``python -m generator.learned.train`` writes (``train`` records: mean training
loss over the last ``--log-every`` steps; ``eval`` records: loss on fixed windows and noise of the
held-out clips) and prints a table of both every ``--every`` steps.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("metrics", type=Path)
    parser.add_argument("--png", type=Path, required=True)
    parser.add_argument("--every", type=int, default=100)
    args = parser.parse_args()
    records = [json.loads(line) for line in args.metrics.read_text().splitlines() if line.strip()]
    start = next(r for r in records if r["event"] == "start")
    train = [r for r in records if r["event"] == "train"]
    evals = [r for r in records if r["event"] == "eval"]
    fig, ax = plt.subplots(figsize=(7, 4), dpi=110)
    ax.plot([r["step"] for r in train], [r["loss"] for r in train], label="training (mean of each log interval)")
    if evals:
        ax.plot([r["step"] for r in evals], [r["val_loss"] for r in evals], "o-",
                label=f"held out ({', '.join(start['held_out'])})")
    ax.set_xlabel("step")
    ax.set_ylabel("loss (standardised latent units)")
    ax.set_title(f"motion model '{start['config']['name']}' ({start['parameters'] / 1e6:.1f} M parameters), "
                 f"{start['train_frames']} training frames", fontsize=9)
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    args.png.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(args.png)
    end = next((r for r in reversed(records) if r["event"] == "end"), None)
    print(f"run: {start['config']['name']}, {start['parameters']} parameters, {start['world_size']} process(es), "
          f"batch {start['batch_per_process']}/process, train clips {', '.join(start['train_clips'])}, "
          f"held out {', '.join(start['held_out']) or 'none'}, "
          f"{end['elapsed_s'] if end else '?'} s wall\n")
    print("| step | training loss | held-out loss |")
    print("|---|---|---|")
    val = {r["step"]: r["val_loss"] for r in evals}
    for r in train:
        if r["step"] % args.every == 0 or r is train[-1]:
            print(f"| {r['step']} | {r['loss']:.3f} | {val.get(r['step'], float('nan')):.3f} |")


if __name__ == "__main__":
    main()
