"""Checkpoints in the safetensors format (no pickle), through the ``safetensors`` package, written atomically.

>>> import torch
>>> from generator.learned._safetensors import dumps, loads
>>> blob = dumps({"w": torch.arange(6, dtype=torch.float32).reshape(2, 3)}, metadata={"step": "3"})
>>> tensors, metadata = loads(blob)
>>> tensors["w"].tolist(), metadata
([[0.0, 1.0, 2.0], [3.0, 4.0, 5.0]], {'step': '3'})

A thin layer over ``safetensors.torch``: the tensors are (de)serialised by the package; this module
adds the metadata on reading, an atomic write (temporary file, fsync, rename) and one error type,
:class:`SafetensorsError`, for anything malformed. Nothing here can execute code from a file,
unlike ``torch.load`` of a pickle.
"""

from __future__ import annotations

import json
import os
import struct
from pathlib import Path

import safetensors.torch
import torch
from safetensors import SafetensorError

MAX_HEADER = 100_000_000


class SafetensorsError(ValueError):
    """The bytes are not a well-formed safetensors file."""


def dumps(tensors: dict[str, torch.Tensor], *, metadata: dict[str, str] | None = None) -> bytes:
    """The safetensors bytes of ``tensors`` (moved to the CPU, made contiguous) and string ``metadata``."""
    if metadata and not all(isinstance(k, str) and isinstance(v, str) for k, v in metadata.items()):
        raise SafetensorsError("safetensors metadata maps strings to strings")
    ready = {name: t.detach().to("cpu").contiguous() for name, t in tensors.items()}
    try:
        return bytes(safetensors.torch.save(ready, metadata=dict(metadata) if metadata else None))
    except (SafetensorError, ValueError, TypeError) as exc:
        raise SafetensorsError(f"cannot write these tensors as safetensors: {exc}") from None


def loads(blob: bytes) -> tuple[dict[str, torch.Tensor], dict[str, str]]:
    """(tensors, metadata) from safetensors bytes; :class:`SafetensorsError` when they are malformed."""
    if len(blob) < 8:
        raise SafetensorsError("too short to be a safetensors file")
    (size,) = struct.unpack("<Q", blob[:8])
    if size > min(MAX_HEADER, len(blob) - 8):
        raise SafetensorsError("the header length runs past the end of the file")
    try:
        header = json.loads(blob[8 : 8 + size])
        tensors = safetensors.torch.load(bytes(blob))
    except (UnicodeDecodeError, json.JSONDecodeError, SafetensorError, ValueError) as exc:
        raise SafetensorsError(f"not a well-formed safetensors file ({exc})") from None
    metadata = header.get("__metadata__") if isinstance(header, dict) else None
    return tensors, {str(k): str(v) for k, v in (metadata or {}).items()}


def save_file(tensors: dict[str, torch.Tensor], path: Path, *, metadata: dict[str, str] | None = None) -> None:
    """Write atomically: a temporary file beside ``path``, fsynced, then renamed over it."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    with open(tmp, "wb") as fh:
        fh.write(dumps(tensors, metadata=metadata))
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)


def load_file(path: Path) -> tuple[dict[str, torch.Tensor], dict[str, str]]:
    return loads(Path(path).read_bytes())
