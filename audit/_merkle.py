"""RFC 6962 / RFC 9162 Merkle tree hashing, proofs and their verification (private; the public names are in ``audit``).

>>> from audit._merkle import CompactRange, leaf_hash, node_hash
>>> leaves = [leaf_hash(bytes([i])) for i in range(3)]
>>> tree = CompactRange()
>>> _ = [tree.append(leaf) for leaf in leaves]
>>> tree.root() == node_hash(node_hash(leaves[0], right=leaves[1]), right=leaves[2])
True

- leaf = SHA-256(0x00 ‖ entry), node = SHA-256(0x01 ‖ left ‖ right); the hash of the empty tree
  is SHA-256 of nothing; a tree of n leaves splits at the largest power of two below n.
- :class:`CompactRange` keeps the right edge of the tree (one perfect subtree per set bit of the
  size): appending is amortised O(1) hashes and the root is O(log n) hashes, in O(log n) memory.
- The log stores, with each leaf i, the hash of the perfect subtree of size lowbit(i+1) that ends
  at i (:func:`lowbit`). Those are exactly the nodes of every compact range, so any tree's root,
  and any proof, is computed from O(log² n) stored hashes without reading the whole log
  (:func:`range_hash`).
- Proofs are generated as RFC 9162 §2.1.3.1 (PATH) and §2.1.4.1 (SUBPROOF) define them, and
  verified with the algorithms of §2.1.3.2 and §2.1.4.2.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence

HASH_BYTES = 32
EMPTY_ROOT = hashlib.sha256(b"").digest()

Oracle = Callable[[int, int], bytes]
"""``mth(start, end)``: the Merkle tree hash of leaves ``start`` … ``end - 1``."""


def leaf_hash(entry: bytes) -> bytes:
    return hashlib.sha256(b"\x00" + entry).digest()


def node_hash(left: bytes, *, right: bytes) -> bytes:
    return hashlib.sha256(b"\x01" + left + right).digest()


def lowbit(n: int) -> int:
    """The largest power of two that divides ``n`` (n > 0)."""
    return n & -n


def split_point(n: int) -> int:
    """The largest power of two strictly below ``n`` (n > 1)."""
    return 1 << ((n - 1).bit_length() - 1)


def compact_ends(size: int) -> list[int]:
    """The last leaf index of each perfect subtree in the compact range of ``size`` leaves, left to right."""
    ends, start = [], 0
    for bit in reversed(range(size.bit_length())):
        if size >> bit & 1:
            start += 1 << bit
            ends.append(start - 1)
    return ends


def fold(subtrees: Sequence[bytes]) -> bytes:
    """The root of a tree from its compact range (perfect subtrees, left to right, sizes decreasing)."""
    if not subtrees:
        return EMPTY_ROOT
    root = subtrees[-1]
    for sub in reversed(subtrees[:-1]):
        root = node_hash(sub, right=root)
    return root


class CompactRange:
    """The right edge of a growing tree: :meth:`append` a leaf hash, read :meth:`root` at any size."""

    __slots__ = ("_hashes", "_sizes", "size")

    def __init__(self) -> None:
        self._sizes: list[int] = []
        self._hashes: list[bytes] = []
        self.size = 0

    def append(self, leaf: bytes) -> bytes:
        """Add a leaf; returns the hash of the perfect subtree of size lowbit(size) that now ends the tree."""
        size, current = 1, leaf
        while self._sizes and self._sizes[-1] == size:
            self._sizes.pop()
            current = node_hash(self._hashes.pop(), right=current)
            size *= 2
        self._sizes.append(size)
        self._hashes.append(current)
        self.size += 1
        return current

    def root(self) -> bytes:
        return fold(self._hashes)


def subtree_from_stored(index: int, leaf: bytes, stored: Callable[[int], bytes]) -> bytes:
    """The subtree hash to store with leaf ``index``, from the subtree hashes stored with earlier leaves.

    ``stored(j)`` is the subtree hash stored with leaf j; leaves ``index - 2**b`` for each b below
    log2(lowbit(index + 1)) are read.
    """
    current, width = leaf, 1
    while width < lowbit(index + 1):
        current = node_hash(stored(index - width), right=current)
        width *= 2
    return current


def range_hash(start: int, *, end: int, leaf: Callable[[int], bytes], stored: Callable[[int], bytes]) -> bytes:
    """MTH of leaves ``start`` … ``end - 1`` from stored leaf hashes and stored subtree hashes."""
    n = end - start
    if n <= 0:
        return EMPTY_ROOT
    if n == 1:
        return leaf(start)
    if lowbit(end) == n:  # the subtree stored with leaf end - 1 covers exactly start … end - 1
        return stored(end - 1)
    k = split_point(n)
    return node_hash(range_hash(start, end=start + k, leaf=leaf, stored=stored),
                     right=range_hash(start + k, end=end, leaf=leaf, stored=stored))


def inclusion_path(index: int, *, size: int, mth: Oracle) -> list[bytes]:
    """RFC 9162 §2.1.3.1 PATH(index, D[0:size])."""

    def path(m: int, start: int, end: int) -> list[bytes]:
        n = end - start
        if n == 1:
            return []
        k = split_point(n)
        if m < k:
            return [*path(m, start, start + k), mth(start + k, end)]
        return [*path(m - k, start + k, end), mth(start, start + k)]

    return path(index, 0, size)


def consistency_path(old_size: int, *, new_size: int, mth: Oracle) -> list[bytes]:
    """RFC 9162 §2.1.4.1 PROOF(old_size, D[0:new_size]) (empty when either size is 0 or both are equal)."""

    def subproof(m: int, start: int, end: int, complete: bool) -> list[bytes]:
        n = end - start
        if m == n:
            return [] if complete else [mth(start, end)]
        k = split_point(n)
        if m <= k:
            return [*subproof(m, start, start + k, complete), mth(start + k, end)]
        return [*subproof(m - k, start + k, end, False), mth(start, start + k)]

    if old_size <= 0 or old_size >= new_size:
        return []
    return subproof(old_size, 0, new_size, True)


def verify_inclusion(leaf: bytes, *, index: int, size: int, path: Sequence[bytes], root: bytes) -> bool:
    """RFC 9162 §2.1.3.2: does ``path`` prove that ``leaf`` is leaf ``index`` of the tree of ``size`` with ``root``?"""
    if not 0 <= index < size:
        return False
    fn, sn, r = index, size - 1, leaf
    for p in path:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            r = node_hash(p, right=r)
            if not fn & 1:
                while not fn & 1 and fn != 0:
                    fn >>= 1
                    sn >>= 1
        else:
            r = node_hash(r, right=p)
        fn >>= 1
        sn >>= 1
    return sn == 0 and r == root


def verify_consistency(*, old_size: int, new_size: int, old_root: bytes, new_root: bytes,
                       path: Sequence[bytes]) -> bool:
    """RFC 9162 §2.1.4.2: does ``path`` prove that the tree (old_size, old_root) is a prefix of (new_size, new_root)?"""
    if old_size < 0 or old_size > new_size:
        return False
    if old_size == new_size:
        return not path and old_root == new_root
    if old_size == 0:
        return not path  # the empty tree is a prefix of every tree
    if not path:
        return False
    proof = list(path)
    if lowbit(old_size) == old_size:
        proof.insert(0, old_root)
    fn, sn = old_size - 1, new_size - 1
    while fn & 1:
        fn >>= 1
        sn >>= 1
    fr = sr = proof[0]
    for c in proof[1:]:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            fr = node_hash(c, right=fr)
            sr = node_hash(c, right=sr)
            if not fn & 1:
                while not fn & 1 and fn != 0:
                    fn >>= 1
                    sn >>= 1
        else:
            sr = node_hash(sr, right=c)
        fn >>= 1
        sn >>= 1
    return fr == old_root and sr == new_root and sn == 0
