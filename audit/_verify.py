"""The streaming verifier shared by :meth:`AuditLog.verify` and :func:`verify_export` (private).

Feed it the stored rows in index order; it recomputes every leaf, subtree and root from the
bodies alone (O(log n) memory), checks every signed tree head and every checkpoint, and stops
at the first row that does not add up, naming it.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from audit import _merkle
from audit._canonical import canonical_json, parse_utc, utc_text
from audit.keys import verifies
from audit.schemas import Checkpoint, VerifyReport, tree_head_message

BODY_FIELDS = ("v", "index", "kind", "time", "actor", "partner", "consent_id", "generation_id", "data")
SEARCH_COLUMNS = ("kind", "actor", "partner", "consent_id", "generation_id")


@dataclass(frozen=True, slots=True)
class Row:
    """One stored entry as the verifier sees it; ``columns`` are the search columns (None in an export)."""

    index: int
    body: str
    leaf_hash: str
    subtree_hash: str
    root_hash: str
    key_id: str
    signature: bytes
    columns: Mapping[str, Any] | None = None


class StreamVerifier:
    def __init__(self, *, public_keys: Mapping[str, bytes], checkpoints: Sequence[Checkpoint] = ()) -> None:
        self._keys = dict(public_keys)
        self._range = _merkle.CompactRange()
        self._checkpoints: dict[int, list[Checkpoint]] = defaultdict(list)
        self._bad_checkpoint: str | None = None
        for cp in checkpoints:
            public = self._keys.get(cp.key_id)
            if public is None or not cp.verifies(public):
                why = "an unknown key" if public is None else "a signature that does not verify"
                self._bad_checkpoint = self._bad_checkpoint or (
                    f"the checkpoint for size {cp.tree_size} signed at {utc_text(cp.created_at)} has {why}")
                continue
            self._checkpoints[cp.tree_size].append(cp)
        self.checked = 0
        self.read = 0
        self.first_bad: int | None = None
        self.reason: str | None = None
        self._good_root = _merkle.EMPTY_ROOT
        for cp in self._checkpoints.get(0, []):
            self._check_checkpoint(cp, _merkle.EMPTY_ROOT, None)

    @property
    def size(self) -> int:
        return self._range.size

    def feed(self, row: Row) -> bool:
        """Check the next row; ``False`` (and the reason recorded) at the first bad one."""
        if self.first_bad is not None:
            return False
        index = self._range.size
        self.read += 1
        if row.index != index:
            return self._bad(index, f"entry {index} is missing: the next stored entry is {row.index} "
                                    "(deleted, or entries were renumbered)")
        problem = self._check_row(row, index)
        if problem:
            return self._bad(index, problem)
        for cp in self._checkpoints.get(index + 1, []):
            if not self._check_checkpoint(cp, self._good_root, index):
                return False
        return True

    def _check_row(self, row: Row, index: int) -> str | None:
        try:
            body = json.loads(row.body)
        except ValueError:
            return "its body is not JSON"
        if not isinstance(body, dict) or set(body) != set(BODY_FIELDS) or body.get("v") != 1:
            return "its body is not an audit entry of a known version"
        if canonical_json(body) != row.body:
            return "its body is not in canonical form (it was rewritten)"
        if body["index"] != index:
            return f"its signed body says it is entry {body['index']}: entries were moved or reordered"
        try:
            time_text = body["time"]
            moment = parse_utc(time_text)
        except (TypeError, ValueError):
            return "its body's time is not a UTC timestamp"
        if row.columns is not None:
            for name in SEARCH_COLUMNS:
                if row.columns.get(name) != body[name]:
                    return (f"its {name} column says {row.columns.get(name)!r} but its signed body says "
                            f"{body[name]!r} (changed to mislead a search)")
            stored = row.columns.get("created_at")
            if not isinstance(stored, datetime) or stored.astimezone(UTC) != moment:
                return f"its created_at column says {stored} but its signed body says {time_text}"
        leaf = _merkle.leaf_hash(row.body.encode())
        if leaf.hex() != row.leaf_hash:
            return "its body does not match its leaf hash: it was modified after it was logged"
        subtree = self._range.append(leaf)
        root = self._range.root()
        if subtree.hex() != row.subtree_hash:
            return "its stored subtree hash is not the hash of the entries it covers"
        if root.hex() != row.root_hash:
            return ("its tree head's root is not the root of the entries up to it "
                    "(an entry was changed and its hashes recomputed)")
        public = self._keys.get(row.key_id)
        if public is None:
            return f"its tree head is signed by key {row.key_id}, which is not a known audit key"
        message = tree_head_message(index + 1, root_hash=row.root_hash, time_text=time_text)
        if not verifies(public, message=message, signature=row.signature):
            return "its tree head's signature does not verify (forged or altered)"
        self._good_root = root
        self.checked += 1
        return None

    def _check_checkpoint(self, cp: Checkpoint, root: bytes, index: int | None) -> bool:
        if cp.root_hash == root.hex():
            return True
        return self._bad(index, f"the log's root at size {cp.tree_size} is {root.hex()[:16]}…, but the checkpoint "
                                f"signed at {utc_text(cp.created_at)} says {cp.root_hash[:16]}…: the log was rewritten "
                                "up to here")

    def _bad(self, index: int | None, reason: str) -> bool:
        self.first_bad, self.reason = index, reason
        return False

    def finish(self) -> VerifyReport:
        """The report, after the last row (tail truncation is found here, against checkpoints)."""
        if self.first_bad is None and self.reason is None:
            beyond = [cp for size, cps in self._checkpoints.items() if size > self.size for cp in cps]
            if beyond:
                cp = max(beyond, key=lambda c: c.tree_size)
                self._bad(self.size, f"the log ends after {self.size} entries but the checkpoint signed at "
                                     f"{utc_text(cp.created_at)} covers {cp.tree_size}: entries {self.size}–"
                                     f"{cp.tree_size - 1} were deleted (tail truncated)")
            elif self._bad_checkpoint:
                self.reason = self._bad_checkpoint
        ok = self.first_bad is None and self.reason is None
        return VerifyReport(
            ok=ok, entries=self.read, first_bad_index=self.first_bad,
            reason=self.reason, tree_size=self.checked, root_hash=self._good_root.hex(),
            checkpoints_checked=sum(len(cps) for size, cps in self._checkpoints.items() if size <= self.checked),
        )


def decode_signature(text: str) -> bytes:
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        return b""
