"""``likeness generator``: prepare the learned generator's motion dataset from talking-face clips.

    $ likeness generator prepare --clips ../shared/data/clips --out var/motion
    $ likeness generator prepare --clips voxceleb2/dev/mp4 --out var/vox --holdout id00017__01dfn2spqyE__00001
    $ likeness generator prepare --clips … --out … --audio-encoder wav2vec2-base.pt2

Tracks every ``*.mp4`` under ``--clips`` (any depth) with the face model, writes one
``<clip>.npz`` of motion latents and audio features per clip, ``pca.npz`` and ``meta.json``
(docs/learned_generator.md), and prints the output folder. Progress goes to stderr; a refused
input is one line (``error: …``, exit 2) and leaves nothing behind.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

generator_app = typer.Typer(help="The learned generator: prepare its motion dataset.", no_args_is_help=True)


@generator_app.command("prepare")
def generator_prepare(
    clips: Annotated[Path, typer.Option("--clips", help="Folder of talking-face clips (*.mp4, any depth).")],
    out_dir: Annotated[Path, typer.Option("--out", help="New (or empty) folder for the dataset.")],
    fps: Annotated[float, typer.Option(help="Latent frame rate (clips are resampled to it).")] = 25.0,
    n_expr: Annotated[int, typer.Option("--expr", help="Expression coefficients (PCA components).")] = 12,
    holdout: Annotated[
        list[str] | None, typer.Option("--holdout", help="A clip to leave out of the PCA (repeat for more).")
    ] = None,
    audio_encoder: Annotated[
        Path | None, typer.Option("--audio-encoder", help="A wav2vec2-style encoder (.pt2) to add.")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print meta.json's summary as JSON.")] = False,
) -> None:
    """Turn the clips under --clips into a motion dataset in --out (latents + audio features per clip)."""
    from gateway.cli import err, out
    from generator.motion_data import prepare_dataset

    done = prepare_dataset(clips, out_dir=out_dir, fps=fps, n_expr=n_expr, holdout=tuple(holdout or ()),
                           audio_encoder=audio_encoder, progress=lambda message: err.print(message, markup=False))
    meta = json.loads((done / "meta.json").read_text(encoding="utf-8"))
    if as_json:
        summary = {key: meta[key] for key in ("fps", "latent_dim", "n_expr", "audio_dim", "audio_encoder", "clips",
                                              "skipped", "expression")}
        out.print_json(json.dumps({"dataset": str(done), **summary}))
        return
    seconds = sum(c["seconds"] for c in meta["clips"])
    err.print(f"{len(meta['clips'])} clips, {seconds:.1f} s at {meta['fps']:g} fps, latent {meta['latent_dim']} dims, "
              f"audio {meta['audio_dim']}; expression basis explains "
              f"{meta['expression']['explained_variance']:.0%} of the landmark motion", markup=False)
    for name, why in meta["skipped"].items():
        err.print(f"skipped {name}: {why}", markup=False)
    out.print(str(done), markup=False)
