"""``likeness consents add-dev``: a self-attested development consent, refused in production.

    $ likeness consents add-dev --photo me1.jpg --photo me2.jpg --partner acme --purpose education
    cns_0123456789abcdef0123456789abcdef

The operator attests the consent (no recorded statement): the reference photos are embedded with
the configured identity backend (the embeddings are stored encrypted, the photos are not kept),
the consent is signed like any other, its grant is written to the audit log (the gate refuses a
consent whose grant is not logged) with ``self_attested`` set, and its id is printed on stdout.
Production settings refuse it: a real consent comes through the portal with a verified statement.
"""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Annotated

import typer
from pydantic import ValidationError

from likeness import LikenessError

consents_app = typer.Typer(help="Consents: development consents for trying the partner API.",
                           no_args_is_help=True)


@consents_app.command("add-dev")
def add_dev(
    photos: Annotated[list[Path], typer.Option("--photo", help="A reference photo of the person (repeat 1-5 times).",
                                               dir_okay=False)],
    partners: Annotated[list[str], typer.Option("--partner", help="A partner the consent names (repeatable).")],
    purposes: Annotated[list[str], typer.Option("--purpose", help="A purpose the consent allows (repeatable).")],
    days: Annotated[int, typer.Option("--days", min=1, max=366, help="Valid for this many days.")] = 30,
) -> None:
    """Register a self-attested development consent for the face in the photos; print its id."""
    from consent import ConsentScope, EvidenceCreate
    from faces import embed_face
    from gateway.runtime import Runtime, ensure_keys
    from gateway.settings import get_settings
    from generations import log_grant
    from media import read_image

    settings = get_settings()
    if settings.environment == "production":
        raise LikenessError("development consents are refused in production: a consent comes through the portal "
                            "with a verified statement")
    if not 1 <= len(photos) <= 5:
        raise LikenessError("give 1 to 5 reference photos (--photo)")
    ensure_keys(settings)
    runtime = Runtime.build(settings)
    try:
        references, evidence = [], []
        for path in photos:
            if not path.is_file():
                raise LikenessError(f"no such file: {path}")
            data = path.read_bytes()
            try:
                references.append(embed_face(read_image(data), backend=runtime.identity))
            except LikenessError as exc:
                raise type(exc)(f"{path}: {exc.message}") from None
            evidence.append(EvidenceCreate(kind="reference_photo", media_sha256=hashlib.sha256(data).hexdigest(),
                                           model_versions={"identity": runtime.identity.model_version}))
        try:
            scope = ConsentScope(partners=partners, purposes=purposes,
                                 valid_until=datetime.now(UTC) + timedelta(days=days))
        except ValidationError as exc:
            problems = "; ".join(str(e["msg"]).removeprefix("Value error, ") for e in exc.errors()[:1])
            raise LikenessError(f"invalid scope: {problems}") from None
        consent, _token = runtime.registry.register(
            scope, evidence=evidence, reference_embeddings=references,
            reason="development consent self-attested by the operator")
        log_grant(runtime.audit_log, consent, actor="operator", self_attested=True)
    finally:
        runtime.engine.dispose()
    typer.echo(consent.id)


__all__ = ["consents_app"]
