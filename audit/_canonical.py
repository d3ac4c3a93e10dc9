"""Canonical JSON for audit entries, and the guard that keeps raw biometrics out (private).

>>> from audit._canonical import canonical_json
>>> canonical_json({"b": 1, "a": [True, None, "é"]})
'{"a":[true,null,"é"],"b":1}'

Canonical form: keys sorted, no spaces, UTF-8 (not ASCII-escaped), no NaN or infinity, datetimes
as ``YYYY-MM-DDTHH:MM:SS.ffffffZ`` in UTC, enums as their value. The same value always gives the
same bytes, so an entry's leaf hash can be recomputed from its stored text.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping
from datetime import UTC, datetime
from enum import Enum
from typing import Any

from audit.errors import AuditInputError, RawBiometricsError

MAX_NUMBERS_IN_A_LIST = 16
MAX_STRING_CHARS = 4096
MAX_BODY_BYTES = 64 * 1024
MAX_DEPTH = 12

# A key made of one of these words holds raw biometric data ... unless its last word says it is a
# hash, an id, a score or a description of one (``embedding_sha256``, ``landmarks_model``).
_BIOMETRIC_WORDS = frozenset({
    "embedding", "embeddings", "landmark", "landmarks", "pixels", "waveform", "biometric", "biometrics",
    "descriptor", "descriptors", "template", "templates", "faceprint", "mesh", "keypoints", "vector", "vectors",
})
# Keys that name media: no list and no long text (a blob) may stand under them; a hash or an id may.
_MEDIA_WORDS = frozenset({
    "image", "portrait", "photo", "frame", "frames", "audio", "video", "voice", "samples", "face",
})
_SAFE_LAST_WORDS = frozenset({
    "sha256", "hash", "hashes", "digest", "id", "ids", "score", "scores", "similarity", "distance", "threshold",
    "margin", "model", "models", "version", "versions", "backend", "dim", "dims", "count", "kind", "match",
    "matched", "ok", "found", "verdict", "seconds", "bytes", "width", "height", "fps", "format", "type", "quality",
})
_WORD = re.compile(r"[a-z0-9]+")


def utc_text(moment: datetime) -> str:
    if moment.utcoffset() is None:
        raise AuditInputError("a naive datetime has no defined instant: give it a time zone")
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def parse_utc(text: str) -> datetime:
    return datetime.strptime(text, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=UTC)


def canonical_json(value: Any) -> str:
    """``value`` as canonical JSON text (see the module docstring)."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False)


def clean_data(data: Mapping[str, Any]) -> dict[str, Any]:
    """``data`` as plain JSON values, refusing what cannot be logged (non-JSON values, raw biometrics)."""
    if hasattr(data, "model_dump") and not isinstance(data, Mapping):  # a pydantic model
        data = data.model_dump(mode="json")
    if not isinstance(data, Mapping):
        raise AuditInputError(f"audit entry data must be a mapping, not {type(data).__name__}")
    cleaned = _clean(dict(data), "data", 0)
    size = len(canonical_json(cleaned).encode())
    if size > MAX_BODY_BYTES:
        raise AuditInputError(f"audit entry data is {size} bytes; at most {MAX_BODY_BYTES} (log hashes, not content)")
    return cleaned


def _clean(value: Any, where: str, depth: int) -> Any:
    if depth > MAX_DEPTH:
        raise AuditInputError(f"{where}: nested deeper than {MAX_DEPTH} levels")
    if isinstance(value, Enum):  # a StrEnum is a str: logged as its plain value
        return _clean(value.value, where, depth)
    if value is None or isinstance(value, bool | str | int):
        if isinstance(value, str) and len(value) > MAX_STRING_CHARS:
            raise RawBiometricsError(f"{where}: a text of {len(value)} characters (at most {MAX_STRING_CHARS}); "
                                     "log a hash of the content, not the content")
        return value
    if isinstance(value, float):
        if not math.isfinite(value):
            raise AuditInputError(f"{where}: {value} is not a finite number")
        return value
    if isinstance(value, datetime):
        return utc_text(value)
    if isinstance(value, bytes | bytearray | memoryview):
        raise RawBiometricsError(f"{where}: raw bytes; log a hash (hex) of them instead")
    if isinstance(value, Mapping):
        cleaned = {}
        for key, item in value.items():
            if not isinstance(key, str):
                raise AuditInputError(f"{where}: key {key!r} is not a string")
            _refuse_biometric_key(key, item, f"{where}.{key}")
            cleaned[key] = _clean(item, f"{where}.{key}", depth + 1)
        return cleaned
    if isinstance(value, list | tuple):
        numbers = _count_numbers(value)
        if numbers > MAX_NUMBERS_IN_A_LIST:
            raise RawBiometricsError(
                f"{where}: a list of {numbers} numbers looks like raw biometrics (an embedding, landmarks, "
                f"samples); at most {MAX_NUMBERS_IN_A_LIST}: log a hash or a score instead"
            )
        return [_clean(item, f"{where}[{i}]", depth + 1) for i, item in enumerate(value)]
    if hasattr(value, "tolist") and hasattr(value, "dtype"):  # a NumPy array or scalar, without importing NumPy
        raise RawBiometricsError(f"{where}: an array ({type(value).__name__}); log a hash or a score instead")
    raise AuditInputError(f"{where}: a {type(value).__name__} is not a JSON value")


def _count_numbers(value: Any) -> int:
    if isinstance(value, bool):
        return 0
    if isinstance(value, int | float):
        return 1
    if isinstance(value, list | tuple):
        return sum(_count_numbers(item) for item in value)
    return 0


def _refuse_biometric_key(key: str, value: Any, where: str) -> None:
    words = _WORD.findall(key.lower())
    if value is None or not words or words[-1] in _SAFE_LAST_WORDS:
        return
    if any(word in _BIOMETRIC_WORDS for word in words):
        raise RawBiometricsError(f"{where}: raw biometrics never enter the audit log; "
                                 f"log its hash (e.g. '{key}_sha256') or a score instead")
    if any(word in _MEDIA_WORDS for word in words) and (
            isinstance(value, list | tuple) or (isinstance(value, str) and len(value) > 128)):
        raise RawBiometricsError(f"{where}: media content never enters the audit log; "
                                 f"log its hash (e.g. '{key}_sha256') instead")
