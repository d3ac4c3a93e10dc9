"""Reading and writing the safetensors format (no pickle): a JSON header, then raw little-endian tensors.

>>> import torch
>>> from generator.learned._safetensors import dumps, loads
>>> blob = dumps({"w": torch.arange(6, dtype=torch.float32).reshape(2, 3)}, metadata={"step": "3"})
>>> tensors, metadata = loads(blob)
>>> tensors["w"].tolist(), metadata
([[0.0, 1.0, 2.0], [3.0, 4.0, 5.0]], {'step': '3'})

The ``safetensors`` package is not installed in this environment, so this module writes and reads
the same byte layout itself (8-byte little-endian header length, a JSON header naming each
tensor's dtype, shape and byte range, optional ``__metadata__`` of strings, the data): files it
writes load with ``safetensors.torch.load_file`` and the reverse. Nothing here can execute code
from a file, unlike ``torch.load`` of a pickle.
"""

from __future__ import annotations

import json
import os
import struct
from pathlib import Path

import torch

_DTYPES = {
    "F64": torch.float64, "F32": torch.float32, "F16": torch.float16, "BF16": torch.bfloat16,
    "I64": torch.int64, "I32": torch.int32, "I16": torch.int16, "I8": torch.int8, "U8": torch.uint8,
    "BOOL": torch.bool,
}
_NAMES = {dtype: name for name, dtype in _DTYPES.items()}
MAX_HEADER = 100_000_000


class SafetensorsError(ValueError):
    """The bytes are not a well-formed safetensors file."""


def dumps(tensors: dict[str, torch.Tensor], *, metadata: dict[str, str] | None = None) -> bytes:
    """The safetensors bytes of ``tensors`` (moved to the CPU, made contiguous) and string ``metadata``."""
    header: dict[str, object] = {}
    if metadata:
        if not all(isinstance(k, str) and isinstance(v, str) for k, v in metadata.items()):
            raise SafetensorsError("safetensors metadata maps strings to strings")
        header["__metadata__"] = dict(metadata)
    chunks: list[bytes] = []
    offset = 0
    for name in sorted(tensors):
        tensor = tensors[name].detach().to("cpu").contiguous()
        if tensor.dtype not in _NAMES:
            raise SafetensorsError(f"tensor {name!r} has dtype {tensor.dtype}, which safetensors cannot hold")
        data = tensor.reshape(-1).view(torch.uint8).numpy().tobytes() if tensor.numel() else b""
        header[name] = {"dtype": _NAMES[tensor.dtype], "shape": list(tensor.shape),
                        "data_offsets": [offset, offset + len(data)]}
        chunks.append(data)
        offset += len(data)
    text = json.dumps(header, separators=(",", ":")).encode()
    text += b" " * (-len(text) % 8)  # the reference writer aligns the data to 8 bytes
    return struct.pack("<Q", len(text)) + text + b"".join(chunks)


def loads(blob: bytes) -> tuple[dict[str, torch.Tensor], dict[str, str]]:
    """(tensors, metadata) from safetensors bytes; :class:`SafetensorsError` when they are malformed."""
    if len(blob) < 8:
        raise SafetensorsError("too short to be a safetensors file")
    (size,) = struct.unpack("<Q", blob[:8])
    if size > min(MAX_HEADER, len(blob) - 8):
        raise SafetensorsError("the header length runs past the end of the file")
    try:
        header = json.loads(blob[8 : 8 + size])
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise SafetensorsError(f"the header is not JSON ({exc})") from None
    if not isinstance(header, dict):
        raise SafetensorsError("the header is not a JSON object")
    metadata = header.pop("__metadata__", None) or {}
    data = memoryview(blob)[8 + size :]
    tensors: dict[str, torch.Tensor] = {}
    for name, info in header.items():
        try:
            dtype = _DTYPES[info["dtype"]]
            shape = [int(n) for n in info["shape"]]
            begin, end = (int(n) for n in info["data_offsets"])
        except (KeyError, TypeError, ValueError):
            raise SafetensorsError(f"tensor {name!r} has a malformed header entry") from None
        count = 1
        for n in shape:
            count *= n
        if not 0 <= begin <= end <= len(data) or end - begin != count * dtype.itemsize:
            raise SafetensorsError(f"tensor {name!r}: its byte range does not fit its shape or the file")
        raw = bytearray(data[begin:end])
        flat = torch.frombuffer(raw, dtype=torch.uint8) if raw else torch.empty(0, dtype=torch.uint8)
        tensors[name] = flat.view(dtype).reshape(shape) if count else torch.empty(shape, dtype=dtype)
    return tensors, {str(k): str(v) for k, v in metadata.items()}


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
