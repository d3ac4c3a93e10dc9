"""The audit sink: what a package that records events is handed, so it needs no log, actor or key.

>>> from typing import Any
>>> from audit.sink import AuditKind, AuditSink
>>> seen: list[tuple[AuditKind, dict[str, Any]]] = []
>>> def record(kind: AuditKind, /, **facts: Any) -> None:
...     seen.append((kind, facts))
>>> sink: AuditSink = record
>>> sink(AuditKind.GENERATION_RELEASED, generation_id="gen_1", output_bytes=1024)
>>> seen
[(<AuditKind.GENERATION_RELEASED: 'generation.released'>, {'generation_id': 'gen_1', 'output_bytes': 1024})]

The gateway builds the real sinks (``Runtime.auditor(role)``): each appends the entry to the
:class:`audit.AuditLog` with the role's actor, taking ``partner_id``, ``consent_id`` and
``generation_id`` out of the facts into the indexed fields; the other facts are the entry's data.
"""

from __future__ import annotations

from typing import Any, Protocol

from audit.schemas import AuditKind

__all__ = ["AuditKind", "AuditSink"]


class AuditSink(Protocol):
    """``sink(kind, **facts)``: log one event of ``kind`` with JSON ``facts`` (hashes and scores, no biometrics)."""

    def __call__(self, kind: AuditKind, /, **facts: Any) -> None: ...
