"""Released videos leave storage when their consent is revoked or their subject erased.

:func:`delete_released_outputs` is the one place that does it: every released video of the
named consents is deleted from storage, its job records when and why (``output_deleted_at``,
``output_deleted_reason``), the consent registry records it for the subject's management page,
and each deletion is a ``generation.output_deleted`` entry in the audit log. It runs where a
revocation or an erasure is announced (the portal's ``on_event`` hook, ``gateway.app``), and
the worker runs it again after marking a job released if the consent was withdrawn meanwhile,
so a video released while the deletion pass ran is deleted too; and the workers' recovery loop
runs :func:`sweep_withdrawn`, which finds any video still stored under a revoked or erased
consent (a process stopped between the revocation and its deletion). Running either twice
deletes nothing twice. A copy a partner downloaded before is out of reach: it carries its watermark and
its manifest, which name the generation.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

from audit import AuditKind, AuditSink
from consent import ConsentError, ConsentService, ConsentStatus
from generations.jobs import JobStore
from generations.models import GenerationJob
from generations.storage import BlobStore

logger = logging.getLogger(__name__)

REASONS = {
    AuditKind.CONSENT_REVOKED: "consent revoked",
    AuditKind.CONSENT_ERASED: "subject erased their data",
}


def delete_if_withdrawn(job: GenerationJob, *, jobs: JobStore, blobs: BlobStore, registry: ConsentService,
                        audit: AuditSink) -> None:
    """After ``job`` became ``released``: a consent revoked or erased meanwhile takes the video with it.

    The revocation's deletion pass lists released jobs; one marked released after that pass read
    the table finds the revocation here (it was committed before the pass ran).
    """
    try:
        status = registry.check_scope(job.consent_id, partner=job.partner_name, purpose=job.purpose).status
    except ConsentError:  # tampered or gone: the consent cannot be shown to stand
        logger.exception("job %s: the consent could not be read after release", job.id)
        status = ConsentStatus.REVOKED
    if status in (ConsentStatus.REVOKED, ConsentStatus.ERASED):
        logger.info("job %s: consent %s after release; deleting the video", job.id, status)
        delete_released_outputs([job.consent_id], cause=AuditKind(f"consent.{status.value}"), jobs=jobs,
                                blobs=blobs, registry=registry, audit=audit)


def delete_released_outputs(consent_ids: Sequence[str], *, cause: AuditKind, jobs: JobStore, blobs: BlobStore,
                            registry: ConsentService, audit: AuditSink) -> list[str]:
    """Delete every released video of ``consent_ids`` from storage; the generation ids deleted now.

    ``cause`` is ``consent.revoked`` or ``consent.erased``. The file goes first, then the job
    and the consent record it, then the audit entry: an interruption leaves a video marked
    present that is gone, which the next pass marks; never a video marked deleted that is not.
    """
    reason = REASONS.get(cause, cause)
    deleted: list[str] = []
    for job in jobs.with_stored_output(list(dict.fromkeys(consent_ids))):
        existed = blobs.drop_output(job.id)
        at = jobs.mark_output_deleted(job.id, reason=reason)
        if at is None:  # another pass got there first
            continue
        deleted.append(job.id)
        try:
            registry.record_outputs_deleted(job.consent_id, generation_ids=[job.id], reason=reason, at=at)
        except ConsentError:
            logger.exception("generation %s: video deleted, but the consent's record of it could not be written",
                             job.id)
        audit(AuditKind.GENERATION_OUTPUT_DELETED, generation_id=job.id, consent_id=job.consent_id,
              partner_id=job.partner_id, cause=cause, reason=reason, output_sha256=job.output_sha256,
              file_was_present=existed)
    if deleted:
        logger.info("%d released video(s) deleted (%s)", len(deleted), reason)
    return deleted


def sweep_withdrawn(*, jobs: JobStore, blobs: BlobStore, registry: ConsentService, audit: AuditSink) -> list[str]:
    """Delete the videos still stored under consents that are revoked or erased; the generation ids deleted.

    The safety net behind the revocation's own pass (a process that stopped between recording a
    revocation and deleting, a revocation recorded by a path with no hook): the workers' recovery
    loop runs it. Two queries when there is nothing to do.
    """
    withdrawn = registry.withdrawn_among(jobs.consents_with_stored_output())
    deleted: list[str] = []
    for status in sorted(set(withdrawn.values())):
        ids = [consent_id for consent_id, s in withdrawn.items() if s == status]
        deleted += delete_released_outputs(ids, cause=AuditKind(f"consent.{status.value}"), jobs=jobs, blobs=blobs,
                                           registry=registry, audit=audit)
    if deleted:
        logger.warning("%d released video(s) of withdrawn consents were still stored; deleted now", len(deleted))
    return deleted


__all__ = ["REASONS", "delete_if_withdrawn", "delete_released_outputs", "sweep_withdrawn"]
