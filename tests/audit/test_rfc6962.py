"""The log's roots and proofs against RFC 6962 as written, by an implementation in this file.

Nothing here calls the log's Merkle code to compute an expected value: MTH, PATH and PROOF are
RFC 6962 §2.1 transcribed (recursive, over the list of entries), and the proof checks rebuild the
roots by mirroring those recursions. The known-answer roots are the test vectors of the
certificate-transparency reference implementations (leaves "", 00, 10, 2021, …).
"""

from __future__ import annotations

import hashlib

import pytest
from audit_factories import fill

from audit import AuditLog, leaf_hash, node_hash, verify_consistency, verify_inclusion
from audit._merkle import CompactRange


def sha256(data: bytes) -> bytes:
    return hashlib.sha256(data).digest()


def largest_power_of_two_below(n: int) -> int:
    k = 1
    while k * 2 < n:
        k *= 2
    return k


def MTH(D: list[bytes]) -> bytes:
    n = len(D)
    if n == 0:
        return sha256(b"")
    if n == 1:
        return sha256(b"\x00" + D[0])
    k = largest_power_of_two_below(n)
    return sha256(b"\x01" + MTH(D[:k]) + MTH(D[k:n]))


def PATH(m: int, D: list[bytes]) -> list[bytes]:
    n = len(D)
    if n == 1:
        return []
    k = largest_power_of_two_below(n)
    if m < k:
        return [*PATH(m, D[:k]), MTH(D[k:n])]
    return [*PATH(m - k, D[k:n]), MTH(D[:k])]


def PROOF(m: int, D: list[bytes]) -> list[bytes]:
    return SUBPROOF(m, D, True)


def SUBPROOF(m: int, D: list[bytes], b: bool) -> list[bytes]:
    n = len(D)
    if m == n:
        return [] if b else [MTH(D)]
    k = largest_power_of_two_below(n)
    if m <= k:
        return [*SUBPROOF(m, D[:k], b), MTH(D[k:n])]
    return [*SUBPROOF(m - k, D[k:n], False), MTH(D[:k])]


def root_from_path(m: int, n: int, leaf: bytes, path: list[bytes]) -> bytes:
    """The root that ``path`` leads to from leaf m of n, following PATH's recursion backwards."""
    if n == 1:
        assert path == []
        return leaf
    k = largest_power_of_two_below(n)
    if m < k:
        return sha256(b"\x01" + root_from_path(m, k, leaf, path[:-1]) + path[-1])
    return sha256(b"\x01" + path[-1] + root_from_path(m - k, n - k, leaf, path[:-1]))


def roots_from_proof(m: int, n: int, proof: list[bytes], old_root: bytes, b: bool = True) -> tuple[bytes, bytes]:
    """(old root, new root) rebuilt from a consistency proof, following SUBPROOF's recursion backwards."""
    if m == n:
        if b:
            assert proof == []
            return old_root, old_root
        assert len(proof) == 1
        return proof[0], proof[0]
    k = largest_power_of_two_below(n)
    sibling, rest = proof[-1], proof[:-1]
    if m <= k:
        old, new = roots_from_proof(m, k, rest, old_root, b)
        return old, sha256(b"\x01" + new + sibling)
    old, new = roots_from_proof(m - k, n - k, rest, old_root, False)
    return sha256(b"\x01" + sibling + old), sha256(b"\x01" + sibling + new)


CT_LEAVES = ["", "00", "10", "2021", "3031", "40414243", "5051525354555657", "606162636465666768696a6b6c6d6e6f"]
CT_ROOTS = [
    "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
    "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
    "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
    "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
    "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
    "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
    "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
    "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
]


def test_known_answer_roots():
    leaves = [bytes.fromhex(x) for x in CT_LEAVES]
    tree = CompactRange()
    for size, (entry, expected) in enumerate(zip(leaves, CT_ROOTS, strict=True), start=1):
        tree.append(leaf_hash(entry))
        assert tree.root().hex() == expected
        assert MTH(leaves[:size]).hex() == expected  # this file's transcription of the RFC agrees too
    assert leaf_hash(b"") == sha256(b"\x00") and node_hash(b"a", right=b"b") == sha256(b"\x01ab")


SIZES = 40


@pytest.fixture
def filled(log: AuditLog) -> tuple[AuditLog, list[bytes]]:
    fill(log, SIZES)
    return log, [log.get(i).body.encode() for i in range(SIZES)]


def test_every_signed_root_is_the_rfc_root(filled, audit_key):
    log, D = filled
    for i in range(SIZES):
        entry = log.get(i)
        assert entry.leaf_hash == sha256(b"\x00" + D[i]).hex()
        assert entry.root_hash == MTH(D[: i + 1]).hex()
        head = entry.tree_head()
        assert head.tree_size == i + 1 and head.verifies(audit_key.public_key_raw)
    assert log.checkpoint().root_hash == MTH(D).hex()


def test_inclusion_proofs_for_every_leaf_of_every_size(filled):
    log, D = filled
    for n in range(1, SIZES + 1):
        root = MTH(D[:n])
        for m in range(n):
            proof = log.inclusion_proof(m, tree_size=n)
            path = [bytes.fromhex(p) for p in proof.path]
            assert path == PATH(m, D[:n]), (m, n)
            leaf = sha256(b"\x00" + D[m])
            assert proof.leaf_hash == leaf.hex() and proof.root_hash == root.hex()
            assert root_from_path(m, n, leaf, path) == root
            assert verify_inclusion(leaf, index=m, size=n, path=path, root=root)
            assert proof.verifies(root.hex())


def test_consistency_proofs_for_every_pair_of_sizes(filled):
    log, D = filled
    for n in range(1, SIZES + 1):
        new_root = MTH(D[:n])
        for m in range(1, n + 1):
            old_root = MTH(D[:m])
            proof = log.consistency_proof(m, new_size=n)
            path = [bytes.fromhex(p) for p in proof.path]
            assert path == PROOF(m, D[:n]), (m, n)
            assert (proof.old_root, proof.new_root) == (old_root.hex(), new_root.hex())
            assert roots_from_proof(m, n, path, old_root) == (old_root, new_root)
            assert verify_consistency(old_size=m, new_size=n, old_root=old_root, new_root=new_root, path=path)
            assert proof.verifies()


def test_the_verifiers_refuse_wrong_proofs(filled):
    _log, D = filled
    n, m = 37, 21
    root, leaf = MTH(D[:n]), sha256(b"\x00" + D[m])
    path = PATH(m, D[:n])
    assert verify_inclusion(leaf, index=m, size=n, path=path, root=root)
    assert not verify_inclusion(sha256(b"\x00" + D[m + 1]), index=m, size=n, path=path, root=root)
    assert not verify_inclusion(leaf, index=m + 1, size=n, path=path, root=root)
    assert not verify_inclusion(leaf, index=m, size=2 * n, path=path, root=root)  # (the root binds the size,
    assert not verify_inclusion(leaf, index=m, size=m + 1, path=path, root=root)  # and a signature binds both)
    assert not verify_inclusion(leaf, index=m, size=n, path=path[:-1], root=root)
    assert not verify_inclusion(leaf, index=m, size=n, path=[*path, path[0]], root=root)
    assert not verify_inclusion(leaf, index=n, size=n, path=path, root=root)
    for i in range(len(path)):
        bent = [bytes([p[0] ^ 1]) + p[1:] if j == i else p for j, p in enumerate(path)]
        assert not verify_inclusion(leaf, index=m, size=n, path=bent, root=root)
    old = 13
    proof = PROOF(old, D[:n])
    assert verify_consistency(old_size=old, new_size=n, old_root=MTH(D[:old]), new_root=root, path=proof)
    assert not verify_consistency(old_size=old, new_size=n, old_root=MTH(D[:old + 1]), new_root=root, path=proof)
    assert not verify_consistency(old_size=old, new_size=n, old_root=MTH(D[:old]), new_root=MTH(D[:n - 1]),
                                  path=proof)
    assert not verify_consistency(old_size=old + 1, new_size=n, old_root=MTH(D[:old]), new_root=root, path=proof)
    assert not verify_consistency(old_size=old, new_size=n, old_root=MTH(D[:old]), new_root=root, path=proof[:-1])
    assert not verify_consistency(old_size=n, new_size=old, old_root=root, new_root=MTH(D[:old]), path=proof)
