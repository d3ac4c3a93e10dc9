"""A generation claim for the self-test card: what ``likeness selftest``, tests and benches release.

>>> from provenance.samples import selftest_claim
>>> claim = selftest_claim(watermark_id=1)
>>> claim.policy_version, claim.consent_self_attested, claim.inputs
('selftest', True, [])
"""

from __future__ import annotations

import hashlib

from likeness import __version__
from provenance.c2pa import GenerationClaim
from provenance.ids import generation_id_for, new_watermark_id


def selftest_claim(*, watermark_id: int | None = None) -> GenerationClaim:
    """A claim for a synthetic test card (``media.samples.card_frames``): no portrait, no audio of a person,
    operator-attested."""
    watermark_id = new_watermark_id() if watermark_id is None else watermark_id
    return GenerationClaim(
        generation_id=generation_id_for(watermark_id),
        watermark_id=watermark_id,
        watermark_alg="",  # the release path sets its codec's algorithm
        policy_version="selftest",
        consent_ref_sha256=hashlib.sha256(b"likeness selftest: no person depicted").hexdigest(),
        consent_self_attested=True,
        inputs=[],
        generator_name="likeness-selftest",
        generator_version=__version__,
        title="Likeness self-test card",
    )


__all__ = ["selftest_claim"]
