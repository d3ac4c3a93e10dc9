"""``likeness partners …`` and ``likeness admin …``: vetted partners, their API keys, operators' admin tokens.

A key or token is printed once, alone, on stdout (so ``KEY=$(likeness partners add …)`` works);
everything else goes to stderr. Only the hash is stored: a lost key is rotated, never recovered.

    $ likeness partners add acme --use-case education --use-case dubbing --quota 500 --rate 30
    $ likeness partners list --json
    $ likeness partners suspend acme --reason "misuse reported"
    $ likeness partners rotate-key acme --grace-hours 24
    $ likeness admin add "Ada (trust & safety)" --expires-in 30d     # default: LIKENESS_ADMIN_TOKEN_DAYS (90)
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Sequence
from datetime import timedelta
from typing import TYPE_CHECKING, Annotated, TypeVar

import typer
from pydantic import BaseModel
from rich.console import Console
from rich.table import Table

if TYPE_CHECKING:
    from audit import AuditSink
    from partners import IssuedKey, PartnerService

partners_app = typer.Typer(help="Vetted partners and their API keys.", no_args_is_help=True)
admins_app = typer.Typer(help="Operators' tokens for the /admin routes.", no_args_is_help=True)

out = Console(highlight=False, soft_wrap=True)
err = Console(stderr=True, highlight=False, soft_wrap=True)


def register(app: typer.Typer) -> None:
    """Add ``partners`` and ``admin`` to the ``likeness`` CLI."""
    app.add_typer(partners_app, name="partners")
    app.add_typer(admins_app, name="admin")


def _service() -> PartnerService:
    from gateway.deps import open_engine
    from gateway.settings import get_settings
    from partners import PartnerService

    return PartnerService(open_engine(get_settings()))


def _audited() -> tuple[PartnerService, AuditSink]:
    """The service and a function that logs an operator's action; the audit key is loaded first, so an
    action that could not be logged is not taken."""
    import getpass

    from audit import AuditKey, AuditKind, AuditLog
    from gateway.deps import open_engine
    from gateway.settings import get_settings
    from partners import PartnerService

    settings = get_settings()
    engine = open_engine(settings)
    log = AuditLog(engine, signing_key=AuditKey.from_file(settings.resolved_audit_signing_key_file))
    actor = f"operator:{getpass.getuser()}"

    def record(kind: AuditKind, /, *, partner: str | None = None, **data: object) -> None:
        log.append(kind, actor=actor, partner=partner, data=data)

    return PartnerService(engine), record


def _print_secret(issued: IssuedKey, *, what: str, note: str = "it is shown only this once") -> None:
    """The new secret alone on stdout; on stderr, ``what`` it is (its prefix and id, never more) and ``note``."""
    err.print(f"{what} {issued.prefix}… ({issued.key_id}) printed on stdout; {note}", markup=False)
    print(issued.plaintext, flush=True)  # noqa: T201  (plain print: no console markup or wrapping may touch a key)


_Record = TypeVar("_Record", bound=BaseModel)


def _listing(records: Sequence[_Record], *, as_json: bool, columns: tuple[str, ...],
             row: Callable[[_Record], Sequence[str]]) -> None:
    """``records`` as one JSON array (``--json``) or as a table of ``columns``, a ``row`` a record."""
    if as_json:
        out.print_json(json.dumps([record.model_dump(mode="json") for record in records]))
        return
    table = Table(*columns)
    for record in records:
        table.add_row(*row(record))
    out.print(table)


@partners_app.command("add")
def partners_add(
    name: Annotated[str, typer.Argument(help="The partner's name (what consents name; lowercase).")],
    use_case: Annotated[list[str], typer.Option("--use-case", help="A declared use case (purpose); repeat for more.")],
    quota: Annotated[int | None, typer.Option(min=0, help="Generations per quota period (default 1000).")] = None,
    quota_days: Annotated[int | None, typer.Option(min=1, help="Length of the quota period in days (default 30).")]
    = None,
    rate: Annotated[int | None, typer.Option(min=1, help="Requests per minute (default 60).")] = None,
    scope: Annotated[list[str] | None, typer.Option("--scope", help="Limit the key to these scopes (default all).")]
    = None,
) -> None:
    """Register a partner and print its API key once (store it now: only its hash is kept)."""
    from audit import AuditKind
    from partners import DEFAULT_QUOTA, DEFAULT_QUOTA_PERIOD_DAYS, DEFAULT_RATE_PER_MINUTE, SCOPES

    service, record = _audited()
    partner, issued = service.add(
        name, use_cases=use_case, quota=DEFAULT_QUOTA if quota is None else quota,
        quota_period_days=quota_days or DEFAULT_QUOTA_PERIOD_DAYS, rate_per_minute=rate or DEFAULT_RATE_PER_MINUTE,
        scopes=scope or SCOPES)
    record(AuditKind.PARTNER_CREATED, partner=partner.id, name=partner.name, use_cases=partner.use_cases,
           quota=partner.quota, quota_period_days=partner.quota_period_days, rate_per_minute=partner.rate_per_minute,
           key_id=issued.key_id)
    err.print(f"partner {partner.name} ({partner.id}) added: use cases {', '.join(partner.use_cases)}; "
              f"{partner.quota} generations per {partner.quota_period_days} days, {partner.rate_per_minute}/min",
              markup=False)
    _print_secret(issued, what="API key")


@partners_app.command("list")
def partners_list(as_json: Annotated[bool, typer.Option("--json", help="Print one JSON array.")] = False) -> None:
    """The partners, their limits and their keys (prefixes only)."""
    _listing(_service().list(), as_json=as_json,
             columns=("name", "id", "status", "use cases", "quota", "rate/min", "keys (active)"),
             row=lambda p: (p.name, p.id, p.status if p.active else f"suspended: {p.suspended_reason}",
                            ", ".join(p.use_cases), f"{p.quota}/{p.quota_period_days}d", str(p.rate_per_minute),
                            ", ".join(k.prefix for k in p.keys if k.revoked_at is None) or "-"))


@partners_app.command("suspend")
def partners_suspend(
    name: Annotated[str, typer.Argument(help="Partner name or id.")],
    reason: Annotated[str, typer.Option(help="Why (shown to the partner with each refusal).")],
) -> None:
    """Suspend a partner: every request with its keys is refused (403) until reinstated."""
    from audit import AuditKind

    service, record = _audited()
    partner = service.suspend(name, reason=reason)
    record(AuditKind.PARTNER_SUSPENDED, partner=partner.id, reason=reason)
    err.print(f"partner {partner.name} ({partner.id}) suspended", markup=False)


@partners_app.command("reinstate")
def partners_reinstate(name: Annotated[str, typer.Argument(help="Partner name or id.")]) -> None:
    """Lift a suspension."""
    from audit import AuditKind

    service, record = _audited()
    partner = service.reinstate(name)
    record(AuditKind.PARTNER_REINSTATED, partner=partner.id)
    err.print(f"partner {partner.name} ({partner.id}) reinstated", markup=False)


@partners_app.command("rotate-key")
def partners_rotate_key(
    name: Annotated[str, typer.Argument(help="Partner name or id.")],
    grace_hours: Annotated[float, typer.Option(min=0, max=24 * 30, help="Keep the old keys working this long.")]
    = 0.0,
) -> None:
    """Issue a new API key (printed once) and revoke the partner's other keys, now or after a grace period."""
    from datetime import timedelta

    from audit import AuditKind

    service, record = _audited()
    issued = service.rotate_key(name, grace=timedelta(hours=grace_hours) if grace_hours else None)
    record(AuditKind.PARTNER_KEY_ROTATED, partner=issued.partner_id, key_id=issued.key_id,
           revoked_key_ids=list(issued.revoked_key_ids), grace_hours=grace_hours)
    when = f"in {grace_hours:g} h" if grace_hours else "now"
    _print_secret(issued, what="new API key", note=f"{len(issued.revoked_key_ids)} old key(s) revoked {when}")


@partners_app.command("revoke-key")
def partners_revoke_key(key: Annotated[str, typer.Argument(help="Key id (key_…) or prefix (lk_live_…).")]) -> None:
    """Revoke one API key now."""
    from audit import AuditKind

    service, record = _audited()
    revoked = service.revoke_key(key)
    record(AuditKind.PARTNER_KEY_REVOKED, partner=revoked.partner_id, key_id=revoked.id)
    err.print(f"API key {revoked.prefix} ({revoked.id}) revoked", markup=False)


def _duration(text: str) -> timedelta:
    """``90d``, ``12h`` or ``45m`` as a duration (a bare number is days)."""
    from partners import PartnerInputError

    match = re.fullmatch(r"\s*(\d{1,6})\s*([dhm]?)\s*", text or "")
    if match is None:
        raise PartnerInputError(f"--expires-in {text!r}: give a number of days, hours or minutes, e.g. 90d, 12h, 45m")
    unit = {"d": "days", "": "days", "h": "hours", "m": "minutes"}[match.group(2)]
    return timedelta(**{unit: int(match.group(1))})


@admins_app.command("add")
def admin_add(
    name: Annotated[str, typer.Argument(help="Who the token is for.")],
    expires_in: Annotated[str | None, typer.Option("--expires-in", help="How long the token lasts: 90d, 12h, 45m "
                                                   "(default: LIKENESS_ADMIN_TOKEN_DAYS, 90 days; at most 366d).")]
    = None,
) -> None:
    """Issue an admin token for /admin and print it once; it is refused after it expires."""
    from audit import AuditKind
    from gateway.settings import get_settings

    valid_for = _duration(expires_in) if expires_in is not None else timedelta(days=get_settings().admin_token_days)
    service, record = _audited()
    issued = service.add_admin(name, valid_for=valid_for)
    record(AuditKind.ADMIN_ACTION, action="admin.added", admin_id=issued.key_id,
           expires_in_s=int(valid_for.total_seconds()))
    _print_secret(issued, what="admin token")


@admins_app.command("list")
def admin_list(as_json: Annotated[bool, typer.Option("--json", help="Print one JSON array.")] = False) -> None:
    """The admin tokens (prefixes only)."""
    _listing(_service().list_admins(), as_json=as_json,
             columns=("name", "id", "prefix", "created", "expires", "revoked"),
             row=lambda a: (a.name, a.id, a.prefix, f"{a.created_at:%Y-%m-%d %H:%M}", f"{a.expires_at:%Y-%m-%d %H:%M}",
                            "-" if a.revoked_at is None else f"{a.revoked_at:%Y-%m-%d %H:%M}"))


@admins_app.command("revoke")
def admin_revoke(token: Annotated[str, typer.Argument(help="Admin id (adm_…) or prefix (lka_…).")]) -> None:
    """Revoke an admin token now."""
    from audit import AuditKind

    service, record = _audited()
    revoked = service.revoke_admin(token)
    record(AuditKind.ADMIN_ACTION, action="admin.revoked", admin_id=revoked.id)
    err.print(f"admin token {revoked.prefix} ({revoked.id}) revoked", markup=False)
