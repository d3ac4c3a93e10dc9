"""The portal's routes: registration (start → photos → scope → statement → review → receipt) and management.

See :func:`portal_router`; the pages are Jinja2 templates in ``consent/templates/portal`` and the
only script (camera capture and in-browser recording) is ``consent/static/portal/portal.js``.
"""

from __future__ import annotations

import json
import logging
import math
import secrets
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from fastapi import Request, Response
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import FileResponse, RedirectResponse
from sqlalchemy.engine import Engine

from audit import AuditKind
from consent._cues import CueAnswer, sign_cues
from consent._forensics import Forensics, Off
from consent.errors import ConsentAuthError, ConsentError, ConsentInputError, StatementError
from consent.portal import _scope_form
from consent.portal._pow import POW_BITS, POW_TTL, ProofOfWork, WorkRefused
from consent.portal._state import Draft, PortalState, challenge_json, seal_references
from consent.portal._uploads import MAX_PHOTOS, Refused, check_photos, check_recording, private_file, read_form
from consent.portal._web import DRAFT_COOKIE, PREFIX, SESSION_COOKIE, STATIC, Answer, Pages, PortalRouter, csrf_ok
from consent.schemas import ConsentScope, ConsentStatus, EvidenceCreate
from consent.service import ConsentService
from consent.statement import CHALLENGE_TTL, issue_challenge, verify_statement
from faces import IdentityBackend, LandmarkBackend

logger = logging.getLogger(__name__)

EventHook = Callable[[AuditKind, dict[str, Any]], None]
_STATIC_FILES = {"portal.css": "text/css; charset=utf-8", "portal.js": "text/javascript; charset=utf-8"}
_FORM_BYTES = 64 * 1024  # forms without files
_CHECK_LABELS = {"not_expired": "Passcode still valid", "one_face": "Exactly one face", "identity": "Same person as "
                 "your photos", "phrase": "Passcode heard", "liveness": "Lips move with your voice",
                 "cues": "Head turned when asked", "not_synthetic": "A camera recording, not synthetic video"}


def portal_router(
    *,
    registry: ConsentService,
    engine: Engine,
    identity: IdentityBackend,
    landmarks: LandmarkBackend | None = None,
    max_upload_bytes: int,
    max_media_seconds: float,
    clock: Callable[[], datetime] | None = None,
    on_event: EventHook | None = None,
    secure_cookies: bool = True,
    pow_key: bytes | None = None,
    pow_bits: int = POW_BITS,
    pow_ttl: timedelta = POW_TTL,
    forensics: Forensics | Off | None = None,
    cues: Off | None = None,
) -> PortalRouter:
    """The consent portal under ``/consent``, as a router the gateway includes (``app.include_router``).

    ``registry`` is the consent registry; ``engine`` the same migrated database (the portal keeps
    its drafts and sessions there); ``identity`` the identity backend of the registry and
    ``landmarks`` the face detector (default: MediaPipe's). Uploads over ``max_upload_bytes`` and
    statements longer than ``max_media_seconds`` are refused. ``on_event(kind, details)`` is called
    after each change with ``consent.granted``, ``consent.revoked`` or ``consent.erased`` and ids,
    revision numbers and hashes only. ``secure_cookies`` marks the cookies ``Secure`` (keep it on
    behind HTTPS; a plain-HTTP test server turns it off). Starting a registration asks the browser for a
    proof-of-work of ``pow_bits`` leading zero bits (``consent/portal/_pow.py``), signed with ``pow_key``
    (default: a random key of this process; several processes must share one) and valid ``pow_ttl``.
    The statement is checked (:func:`consent.verify_statement`) with ``forensics`` (this platform's
    watermark key and trust anchors: None fails the ``not_synthetic`` check, saying it is not
    configured) and the head-turn cues the page shows (``cues``: None requires them). ``Off(reason=…)``
    turns either off: only for tests whose camera is fed generator-made media; never in production.
    """
    now = clock or (lambda: datetime.now(UTC))
    state = PortalState(engine, clock=now)
    pages = Pages(secure_cookies=secure_cookies)
    work = ProofOfWork(engine, key=pow_key or secrets.token_bytes(32), bits=pow_bits, ttl=pow_ttl, clock=now)
    router = PortalRouter()
    timings = router.timings

    def emit(kind: AuditKind, details: dict[str, Any]) -> None:
        if on_event is None:
            return
        try:
            on_event(kind, details)
        except Exception:  # the change is made and cannot be undone; the failure must be seen by the operator
            logger.exception("the portal's %s event hook failed", kind)

    # ------------------------------------------------------------------------------ helpers

    def draft_of(request: Request) -> Draft | None:
        return state.draft(request.cookies.get(DRAFT_COOKIE))

    def start_page(request: Request, *, status: int = 200, **context: Any) -> Response:
        """The start page, with a fresh proof-of-work challenge for its form."""
        return pages.render(request, "start.html", status=status, pow_challenge=work.issue(), pow_bits=work.bits,
                            **context)

    def gone(request: Request) -> Response:
        return start_page(request, status=410, draft=None, error=(
            "Your registration has expired or is finished. Nothing of an unfinished registration is kept: "
            "start again."))

    def refused_csrf(request: Request) -> Response:
        return pages.render(request, "message.html", status=403, title="Please try again", error=(
            "This form could not be accepted: it has expired or did not come from this site. Go back, reload the "
            "page and send it again."))

    async def checked_form(request: Request) -> Any:
        """The posted form (without files); else :class:`Answer` with the refusal: too large or malformed, or
        without our CSRF value."""
        try:
            form = await read_form(request, max_bytes=_FORM_BYTES)
        except Refused as exc:
            refusal = Response(exc.message, status_code=exc.status, media_type="text/plain; charset=utf-8")
            raise Answer(refusal) from None
        if not csrf_ok(request, form.get("csrf")):
            raise Answer(refused_csrf(request))
        return form

    def current_draft(request: Request, *, step: str = "/photos") -> Draft:
        """This browser's registration, with every step before ``step`` done; else :class:`Answer` with the start
        page saying it is gone, or a redirect to the first step not done."""
        draft = draft_of(request)
        if draft is None:
            raise Answer(gone(request))
        for earlier in _steps(draft.row):
            if earlier["path"] == step:
                return draft
            if not earlier["done"]:
                raise Answer(redirect(earlier["path"]))
        return draft

    def forgotten(request: Request, cookie: str, *, then: Response) -> Response:
        """``then``, once the draft or session this browser's ``cookie`` opens is deleted and the cookie cleared."""
        state.forget(request.cookies.get(cookie))
        pages.clear_cookie(then, cookie)
        return then

    def redirect(path: str) -> Response:
        return RedirectResponse(PREFIX + path, status_code=303)

    def step_context(draft: Draft) -> dict[str, Any]:
        row = draft.row
        return {"draft": row, "steps": _steps(row), "max_photos": MAX_PHOTOS,
                "max_seconds": int(max_media_seconds), "max_mb": max_upload_bytes // 2**20}

    # ------------------------------------------------------------------------------ static files

    @router.get("/static/{name}")
    def static(name: str) -> Response:
        if name not in _STATIC_FILES:
            return Response("not found", status_code=404, media_type="text/plain")
        return FileResponse(STATIC / name, media_type=_STATIC_FILES[name],
                            headers={"Cache-Control": "public, max-age=600"})

    # ------------------------------------------------------------------------------ registration

    @router.get("")
    def start(request: Request) -> Response:
        return start_page(request, draft=draft_of(request))

    @router.post("/start")
    async def begin(request: Request) -> Response:
        form = await checked_form(request)
        try:
            await run_in_threadpool(work.verify, form.get("pow_challenge"), solution=form.get("pow_solution"))
        except WorkRefused as exc:
            return start_page(request, status=exc.status, draft=draft_of(request), error=_sentence(exc.message))
        old = draft_of(request)
        if old is not None:
            state.delete_draft(old.id)
        draft, cookie = state.new_draft()
        response = redirect("/photos")
        pages.set_cookie(response, name=DRAFT_COOKIE, value=cookie,
                         max_age=int((draft.row.expires_at - now()).total_seconds()))
        return response

    @router.post("/cancel")
    async def cancel(request: Request) -> Response:
        await checked_form(request)  # sized and CSRF-checked, though it carries nothing else
        cancelled = pages.render(request, "message.html", title="Registration cancelled", notice=(
            "Your registration is cancelled and everything you gave us for it has been deleted."))
        return forgotten(request, DRAFT_COOKIE, then=cancelled)

    @router.get("/photos")
    def photos_page(request: Request) -> Response:
        draft = current_draft(request)
        return pages.render(request, "photos.html", **step_context(draft))

    @router.post("/photos")
    async def photos_upload(request: Request) -> Response:
        draft = current_draft(request)
        try:
            form = await read_form(request, max_bytes=max_upload_bytes, max_files=MAX_PHOTOS + 1)
        except Refused as exc:
            return pages.render(request, "photos.html", status=exc.status, error=exc.message, **step_context(draft))
        try:
            if not csrf_ok(request, form.get("csrf")):
                return refused_csrf(request)
            data = [await upload.read() for upload in form.files.get("photos", [])]
        finally:
            await form.close()
        started = time.perf_counter()
        try:
            checked = await run_in_threadpool(check_photos, data, identity=identity, landmarks=landmarks,
                                              max_bytes=max_upload_bytes)
        except Refused as exc:
            return pages.render(request, "photos.html", status=exc.status, error=exc.message, **step_context(draft))
        finally:
            del data
        timings["photos_ms"] = 1000 * (time.perf_counter() - started)
        logger.info("portal: %d reference photos checked in %.0f ms", len(checked.embeddings), timings["photos_ms"])
        # new photos: a statement checked against the old ones no longer counts
        state.save_draft(draft, references=seal_references(draft, checked.embeddings),
                         reference_count=len(checked.embeddings), reference_evidence=checked.evidence,
                         statement=None)
        return redirect("/scope")

    @router.get("/scope")
    def scope_page(request: Request) -> Response:
        draft = current_draft(request, step="/scope")
        return pages.render(request, "scope.html", choice=_scope_form.ScopeChoice.from_json(
            (draft.row.scope or {}).get("choice")), purposes=_scope_form.PURPOSES,
            durations=_scope_form.DURATIONS, **step_context(draft))

    @router.post("/scope")
    async def scope_submit(request: Request) -> Response:
        draft = current_draft(request, step="/scope")
        form = await checked_form(request)
        choice = _scope_form.parse(form.fields)
        scope: ConsentScope | None = None
        if not choice.errors:
            try:
                scope = _scope_form.to_scope(choice, now=now())
            except ValueError as exc:
                choice.errors["form"] = str(exc)
        if scope is None:
            return pages.render(request, "scope.html", status=422, choice=choice, purposes=_scope_form.PURPOSES,
                                durations=_scope_form.DURATIONS, error="Please correct what is marked below.",
                                errors=list(choice.errors.values()), **step_context(draft))
        summary = _scope_form.summary(scope)
        challenge = issue_challenge(summary, now=now())
        state.save_draft(draft, scope={"choice": choice.as_json(), "scope": scope.model_dump(mode="json")},
                         scope_summary=summary, challenge=challenge_json(challenge), statement=None)
        return redirect("/statement")

    def statement_context(draft: Draft) -> dict[str, Any]:
        challenge = draft.challenge()
        assert challenge is not None
        return {"challenge": challenge, "expired": now() >= challenge.expires_at, "cues_json": json.dumps(
                    [c.as_json() for c in challenge.cues]), "cue_token": sign_cues(challenge.id, challenge.cues,
                                                                                   key=draft.cue_key()),
                "ttl_min": int(CHALLENGE_TTL.total_seconds() // 60), **step_context(draft)}

    @router.get("/statement")
    def statement_page(request: Request) -> Response:
        draft = current_draft(request, step="/statement")
        return pages.render(request, "statement.html", **statement_context(draft))

    @router.post("/statement/new")
    async def new_passcode(request: Request) -> Response:
        draft = current_draft(request, step="/statement")
        await checked_form(request)
        challenge = issue_challenge(str(draft.row.scope_summary), now=now())
        state.save_draft(draft, challenge=challenge_json(challenge), statement=None)
        return redirect("/statement")

    @router.post("/statement")
    async def statement_upload(request: Request) -> Response:
        draft = current_draft(request, step="/statement")
        challenge = draft.challenge()
        assert challenge is not None  # made with the scope

        def again(status: int, **extra: Any) -> Response:
            return pages.render(request, "statement.html", status=status, **statement_context(draft), **extra)

        try:
            form = await read_form(request, max_bytes=max_upload_bytes, max_files=1)
        except Refused as exc:
            return again(exc.status, error=exc.message)
        try:
            if not csrf_ok(request, form.get("csrf")):
                return refused_csrf(request)
            uploads = form.files.get("statement", [])
            if not uploads:
                return again(422, error="Choose the recording of your statement, or record it with the camera.")
            moment = now()
            if moment >= challenge.expires_at:
                return again(422, error=(
                    f"Your passcode expired at {challenge.expires_at:%H:%M} UTC (a passcode is valid for "
                    f"{int(CHALLENGE_TTL.total_seconds() // 60)} minutes). Get a new passcode below and record the "
                    "statement again."))
            references = draft.references()
            with private_file(uploads[0], name="statement") as path:
                started = time.perf_counter()
                try:
                    media_sha256 = await run_in_threadpool(check_recording, path, max_seconds=max_media_seconds)
                    verdict = await run_in_threadpool(
                        lambda: verify_statement(path, challenge=challenge, reference=references,
                                                 identity_backend=identity, now=moment, landmark_backend=landmarks,
                                                 forensics=forensics, cue_key=draft.cue_key(),
                                                 cues=cues if cues is not None else CueAnswer.from_json(
                                                     form.get("cues"))))
                except Refused as exc:
                    return again(exc.status, error=exc.message)
                except StatementError as exc:
                    return again(422, error=_sentence(str(exc)))
                timings["statement_ms"] = 1000 * (time.perf_counter() - started)
        finally:
            await form.close()
        logger.info("portal: statement checked in %.0f ms (%s)", timings["statement_ms"],
                    "passed" if verdict.passed else "failed")
        checks = [{"name": c.name, "label": _CHECK_LABELS.get(c.name, c.name), "passed": c.passed,
                   # a check that was not run scores NaN, which JSON (and PostgreSQL's json) cannot hold
                   "score": round(float(c.score), 3) if math.isfinite(c.score) else None,
                   "reason": _sentence(c.reason)} for c in verdict.checks]
        if not verdict.passed:
            return again(422, checks=checks, error=(
                "Your recording did not pass every check. What to do is written under each check that failed; "
                "then record the statement again."))
        evidence = verdict.evidence(media_sha256=media_sha256)
        state.save_draft(draft, statement={"checks": checks, "evidence": evidence.model_dump(mode="json")})
        return redirect("/review")

    @router.get("/review")
    def review_page(request: Request) -> Response:
        draft = current_draft(request, step="/review")
        statement = draft.row.statement
        assert statement is not None  # the step before is done
        return pages.render(request, "review.html", scope=_scope_of(draft), described=_scope_form.describe(
            _scope_of(draft)), checks=statement["checks"], **step_context(draft))

    @router.post("/finish")
    async def finish(request: Request) -> Response:
        draft = current_draft(request, step="/review")
        statement = draft.row.statement
        assert statement is not None  # the step before is done
        form = await checked_form(request)
        scope = _scope_of(draft)
        if form.get("agree") != "yes":
            return pages.render(request, "review.html", status=422, scope=scope,
                                described=_scope_form.describe(scope), checks=statement["checks"],
                                error="Tick the box to confirm that you give this consent, or cancel.",
                                **step_context(draft))
        evidence = [EvidenceCreate(**statement["evidence"])]
        for photo in draft.row.reference_evidence or []:
            evidence.append(EvidenceCreate(kind="reference_photo", media_sha256=photo["sha256"],
                                           scores={"face_px": float(photo["face_px"])},
                                           model_versions={"identity": photo["model_version"]}))
        if scope.valid_until is not None and scope.valid_until <= now():
            return pages.render(request, "review.html", status=422, scope=scope, checks=statement["checks"],
                                described=_scope_form.describe(scope), error="The end date of your consent has passed: "
                                "choose how long it lasts again.", **step_context(draft))
        try:
            consent, token = await run_in_threadpool(
                registry.register, scope, evidence=evidence, reference_embeddings=draft.references(),
                reason="consent given by the subject through the consent portal")
        except ConsentError as exc:
            return pages.render(request, "review.html", status=exc.http_status, scope=scope,
                                described=_scope_form.describe(scope), checks=statement["checks"],
                                error=f"Your consent could not be recorded: {exc}. Nothing was stored; try again.",
                                **step_context(draft))
        state.delete_draft(draft.id)
        emit(AuditKind.CONSENT_GRANTED, {"consent_id": consent.id, "revision": consent.revision,
                                         "head_hash": consent.head_hash,
                                         "statement_sha256": statement["evidence"]["media_sha256"],
                                         "challenge_sha256": statement["evidence"]["challenge_sha256"],
                                         "evidence_hashes": [e.content_hash for e in consent.evidence]})
        response = pages.render(request, "receipt.html", consent=consent, token=token,
                                described=_scope_form.describe(consent.scope))
        pages.clear_cookie(response, DRAFT_COOKIE)
        return response

    # ------------------------------------------------------------------------------ management

    def signed_in(request: Request) -> tuple[str, str, str] | None:
        return state.signed_in(request.cookies.get(SESSION_COOKIE))

    def current_session(request: Request) -> tuple[str, str, str]:
        """This browser's management session (id, consent id, token); else :class:`Answer` with the sign-in page."""
        session = signed_in(request)
        if session is None:
            raise Answer(pages.render(request, "manage_login.html", status=403,
                                      error="Your session ended: sign in again."))
        return session

    def manage_page(request: Request, session: tuple[str, str, str], *, status: int = 200,
                    **extra: Any) -> Response:
        _, consent_id, token = session
        consent = registry.view(consent_id, token=token)
        generations = registry.generations_for(consent_id, token=token)
        return pages.render(request, "manage.html", status=status, consent=consent, generations=generations,
                            described=_scope_form.describe(consent.scope), Status=ConsentStatus, **extra)

    @router.get("/manage")
    def manage(request: Request, done: str | None = None) -> Response:
        session = signed_in(request)
        if session is None:
            return pages.render(request, "manage_login.html")
        notice = {"revoked": "Your consent is revoked. No new video of you will be made under it.",
                  "erased": "Your data is erased. Your reference faces can never be used again.",
                  "signed_in": None}.get(done or "")
        try:
            return manage_page(request, session, notice=notice)
        except ConsentAuthError:
            state.end_session(session[0])
            return pages.render(request, "manage_login.html", status=403, error="Please sign in again.")

    @router.post("/manage/sign-in")
    async def sign_in(request: Request) -> Response:
        form = await checked_form(request)
        consent_id, token = form.get("consent_id").strip(), form.get("token").strip()
        try:
            await run_in_threadpool(registry.view, consent_id, token=token)
        except ConsentAuthError:
            return pages.render(request, "manage_login.html", status=403, consent_id=consent_id[:64], error=(
                "The consent id or the management token is not valid. Check both against your receipt."))
        except ConsentError as exc:
            return pages.render(request, "manage_login.html", status=exc.http_status, consent_id=consent_id[:64],
                                error=f"Your consent could not be opened: {exc}.")
        response = redirect("/manage")
        pages.set_cookie(response, name=SESSION_COOKIE, value=state.new_session(consent_id, token=token), max_age=None)
        return response

    @router.post("/manage/sign-out")
    async def sign_out(request: Request) -> Response:
        await checked_form(request)  # sized and CSRF-checked, though it carries nothing else
        return forgotten(request, SESSION_COOKIE, then=redirect("/manage"))

    @router.post("/manage/revoke")
    async def revoke(request: Request) -> Response:
        form = await checked_form(request)
        session = current_session(request)
        _, consent_id, token = session
        reason = form.get("reason").strip() or "revoked by the subject through the consent portal"  # optional
        try:
            consent = await run_in_threadpool(registry.revoke, consent_id, token=token, reason=reason)
        except ConsentInputError as exc:
            return manage_page(request, session, status=422, error=f"Your consent was not revoked: {exc}.")
        except ConsentError as exc:
            return manage_page(request, session, status=exc.http_status, error=f"Your consent was not revoked: {exc}.")
        emit(AuditKind.CONSENT_REVOKED, {"consent_id": consent.id, "revision": consent.revision,
                                         "head_hash": consent.head_hash})
        return redirect("/manage?done=revoked")

    @router.get("/manage/erase")
    def erase_page(request: Request) -> Response:
        session = current_session(request)
        return pages.render(request, "erase.html", consent_id=session[1])

    @router.post("/manage/erase")
    async def erase(request: Request) -> Response:
        form = await checked_form(request)
        session = current_session(request)
        if form.get("confirm") != "yes":
            return pages.render(request, "erase.html", status=422, consent_id=session[1], error=(
                "Tick the box to confirm that you want your data erased."))
        _, consent_id, token = session
        try:
            receipt = await run_in_threadpool(registry.erase, consent_id, token=token)
            consent = await run_in_threadpool(registry.view, consent_id, token=token)
        except ConsentError as exc:
            return pages.render(request, "erase.html", status=exc.http_status, consent_id=consent_id,
                                error=f"Your data was not erased: {exc}.")
        emit(AuditKind.CONSENT_ERASED, {"consent_id": consent.id, "revision": consent.revision,
                                        "head_hash": consent.head_hash, "consent_ids": receipt.consent_ids,
                                        "embeddings_shredded": receipt.embeddings_shredded})
        return redirect("/manage?done=erased")

    return router


def _scope_of(draft: Draft) -> ConsentScope:
    assert draft.row.scope is not None
    return ConsentScope.model_validate(draft.row.scope["scope"])


def _sentence(text: str) -> str:
    text = text.strip()
    if not text:
        return text
    text = text[0].upper() + text[1:]
    return text if text.endswith((".", "!", "?")) else text + "."


def _steps(row: Any) -> list[dict[str, Any]]:
    """The registration's steps for the progress list: name, path, done."""
    return [
        {"name": "Photos", "path": "/photos", "done": bool(row.reference_count)},
        {"name": "Scope and duration", "path": "/scope", "done": bool(row.scope)},
        {"name": "Recorded statement", "path": "/statement", "done": bool(row.statement)},
        {"name": "Review", "path": "/review", "done": False},
    ]
