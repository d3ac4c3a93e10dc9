"""``likeness audit``: search, show, verify, checkpoint and export the audit log.

    $ likeness audit list --kind generation.decided --partner acme --limit 20
    $ likeness audit show 17                # the entry and its inclusion proof against the latest checkpoint
    $ likeness audit verify                 # exit 0 intact; exit 1 naming the first bad entry
    $ likeness audit checkpoint > cp.json   # sign a tree head to hand to reviewers
    $ likeness audit verify --checkpoint cp.json    # also catches a truncated tail
    $ likeness audit export audit.jsonl     # re-verifiable offline with the public key
    $ likeness audit verify --file audit.jsonl --public-key ed25519:…
    $ likeness audit check-consents         # consents in the database against what the log recorded

Results go to stdout (``--json`` for machines). A damaged log (exit 1), a refused input (exit 2) or
a missing key (exit 1) is one line on stderr (``error: …``) through the CLI's single error handler.
"""

from __future__ import annotations

import json
import os
import tempfile
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from likeness import LikenessError

if TYPE_CHECKING:
    from rich.console import Console

    from audit import AuditLog, Checkpoint

audit_app = typer.Typer(help="The audit log: search, show, verify, checkpoint, export, check-consents.",
                        no_args_is_help=True)


def _consoles() -> tuple[Console, Console]:
    from gateway.cli import err, out

    return out, err


def _open(*, public_keys: list[str] | None = None, need_key: bool = False, need_public: bool = False) -> AuditLog:
    """The log over the configured database, with the signing key when there is one (or it is needed)."""
    from audit import AuditKey, AuditKeyError, AuditLog, public_key_from_text
    from gateway.cli import _settings
    from gateway.deps import open_engine

    settings = _settings()
    key_file = settings.resolved_audit_signing_key_file
    key = AuditKey.from_file(key_file) if need_key or key_file.exists() else None
    raws = [public_key_from_text(_key_text(k)) for k in public_keys or []]
    if need_public and key is None and not raws:
        raise AuditKeyError(f"no audit key to verify with: {key_file} does not exist; give --public-key "
                            "(printed by `likeness audit public-key` where the key is) or run `likeness keys init`")
    return AuditLog(open_engine(settings), signing_key=key, public_keys=raws)


def _key_text(value: str) -> str:
    """A public key given inline, or the path of a file holding one."""
    path = Path(value)
    if not value.startswith("ed25519:") and path.is_file():
        return path.read_text(encoding="utf-8").strip()
    return value


def _when(value: str | None, what: str) -> datetime | None:
    if value is None:
        return None
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise LikenessError(f"{what}: {value!r} is not an ISO 8601 date or time (e.g. 2026-11-25T09:30Z)") from None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


@audit_app.command("list")
def audit_list(
    kind: Annotated[str | None, typer.Option(help="Only this kind, e.g. generation.decided.")] = None,
    partner: Annotated[str | None, typer.Option(help="Only this partner.")] = None,
    consent: Annotated[str | None, typer.Option(help="Only this consent id.")] = None,
    generation: Annotated[str | None, typer.Option(help="Only this generation id.")] = None,
    since: Annotated[str | None, typer.Option(help="From this time on (ISO 8601; UTC unless given).")] = None,
    until: Annotated[str | None, typer.Option(help="Before this time (ISO 8601).")] = None,
    limit: Annotated[int, typer.Option(min=1, max=1000, help="At most this many entries.")] = 50,
    offset: Annotated[int, typer.Option(min=0, help="Skip this many.")] = 0,
    newest_first: Annotated[bool, typer.Option("--newest-first", help="Newest entries first.")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print a JSON array.")] = False,
) -> None:
    """Search the log: entries matching every filter given, in log order."""
    out, _ = _consoles()
    entries = _open().search(kind=kind, partner=partner, consent_id=consent, generation_id=generation,
                             since=_when(since, "--since"), until=_when(until, "--until"), limit=limit, offset=offset,
                             newest_first=newest_first)
    if as_json:
        out.print_json(json.dumps([e.model_dump(mode="json", exclude={"body"}) for e in entries]))
        return
    for e in entries:
        subjects = " ".join(f"{label}={value}" for label, value in (("partner", e.partner), ("consent", e.consent_id),
                                                                    ("generation", e.generation_id)) if value)
        out.print(f"{e.index:>6}  {e.created_at.strftime('%Y-%m-%dT%H:%M:%SZ')}  {e.kind:<20}  {e.actor:<16}  "
                  f"{subjects}".rstrip(), markup=False)
    if not entries:
        out.print("no entries match")


@audit_app.command("show")
def audit_show(
    index: Annotated[int, typer.Argument(min=0, help="The entry's index.")],
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
) -> None:
    """One entry, and its inclusion proof against the latest checkpoint (or the latest signed tree head)."""
    from audit import AuditIntegrityError, leaf_hash

    out, _ = _consoles()
    log = _open(need_public=True)
    entry = log.get(index)
    head, source = log.latest_checkpoint(), "checkpoint"
    if head is None or head.tree_size <= index:
        head, source = log.tree_head(), "latest signed tree head"
    proof = log.inclusion_proof(index, tree_size=head.tree_size)
    public = log.public_keys.get(head.key_id)
    signed = public is not None and head.verifies(public)
    included = (proof.verifies(head.root_hash) and proof.leaf_hash == entry.leaf_hash
                and leaf_hash(entry.body.encode()).hex() == entry.leaf_hash)
    if as_json:
        out.print_json(json.dumps({"entry": entry.model_dump(mode="json", exclude={"body"}),
                                   "checkpoint": head.model_dump(mode="json"), "checkpoint_source": source,
                                   "checkpoint_signature_ok": signed,
                                   "inclusion_proof": proof.model_dump(mode="json"), "included": included}))
        return
    out.print(f"entry {entry.index}: {entry.kind} at {entry.created_at.isoformat()} by {entry.actor}", markup=False)
    for name in ("partner", "consent_id", "generation_id"):
        if getattr(entry, name):
            out.print(f"  {name}: {getattr(entry, name)}", markup=False)
    out.print("  data: " + json.dumps(entry.data, sort_keys=True, ensure_ascii=False), markup=False)
    out.print(f"  leaf hash: {entry.leaf_hash}", markup=False)
    out.print(f"{source}: size {head.tree_size}, root {head.root_hash}, signed {head.created_at.isoformat()} "
              f"by key {head.key_id} ({'signature ok' if signed else 'SIGNATURE DOES NOT VERIFY'})", markup=False)
    out.print(f"inclusion proof ({len(proof.path)} hashes): "
              f"{'verifies' if included else 'DOES NOT VERIFY'}", markup=False)
    if not (signed and included):
        raise AuditIntegrityError(f"entry {index} is not proven by the {source}: run `likeness audit verify`")


@audit_app.command("verify")
def audit_verify(
    checkpoint: Annotated[list[Path] | None, typer.Option("--checkpoint", help="A checkpoint published earlier "
                          "(JSON from `likeness audit checkpoint`); repeatable. Catches a truncated tail.",
                          dir_okay=False)] = None,
    file: Annotated[Path | None, typer.Option("--file", help="Verify this export (JSON Lines) instead of the "
                                              "database; needs --public-key.", dir_okay=False)] = None,
    public_key: Annotated[list[str] | None, typer.Option("--public-key", help="An audit public key "
                          "(ed25519:<id>:<base64>, or a file holding it); repeatable.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
) -> None:
    """Recompute the whole log and check every signature. Exit 0 intact; 1 naming the first bad entry."""
    from audit import AuditIntegrityError, public_key_from_text, verify_export

    out, _ = _consoles()
    published = [_read_checkpoint(path) for path in checkpoint or []]
    if file is not None:
        if not public_key:
            raise LikenessError("--file needs --public-key: the keys inside an export are not trusted")
        if not file.is_file():
            raise LikenessError(f"no such file: {file}")
        with file.open(encoding="utf-8") as lines:
            report = verify_export(lines, public_keys=[public_key_from_text(_key_text(k)) for k in public_key],
                                   checkpoints=published)
    else:
        report = _open(public_keys=public_key, need_public=True).verify(checkpoints=published)
    if as_json:
        out.print_json(report.model_dump_json())
    if not report.ok:  # exit 1, the summary as the one-line error on stderr
        raise AuditIntegrityError(report.summary())
    if not as_json:
        out.print(report.summary(), markup=False)


@audit_app.command("check-consents")
def audit_check_consents(
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
) -> None:
    """Compare every consent the log mentions with the database. Exit 0 consistent; 1 naming the first
    contradiction (a consent rolled back behind a revision the log recorded, changed, or deleted)."""
    from audit import AuditIntegrityError
    from consent import ConsentService
    from gateway.cli import _settings
    from gateway.deps import consent_keys, open_engine
    from generations import check_consents

    out, _ = _consoles()
    log = _open(need_public=True)
    registry = ConsentService(open_engine(_settings()), keys=consent_keys(_settings()))
    report = check_consents(log, registry)
    if as_json:
        out.print_json(json.dumps({"ok": report.ok, "consents": report.consents, "entries": report.entries,
                                   "problems": report.problems}))
    if not report.ok:
        raise AuditIntegrityError(report.summary())
    if not as_json:
        out.print(report.summary(), markup=False)


def _read_checkpoint(path: Path) -> Checkpoint:
    from pydantic import ValidationError

    from audit import Checkpoint

    if not path.is_file():
        raise LikenessError(f"no such file: {path}")
    try:
        return Checkpoint.model_validate_json(path.read_text(encoding="utf-8"))
    except (ValidationError, UnicodeDecodeError):
        raise LikenessError(f"{path} is not a checkpoint (JSON from `likeness audit checkpoint`)") from None


@audit_app.command("checkpoint")
def audit_checkpoint() -> None:
    """Sign a checkpoint of the log as it is now and print it (JSON): publish it, hand it to reviewers."""
    out, _ = _consoles()
    out.print_json(_open(need_key=True).checkpoint().model_dump_json())


@audit_app.command("export")
def audit_export(
    target: Annotated[Path, typer.Argument(help="Where to write the JSON Lines file.", dir_okay=False,
                                           metavar="OUT.jsonl")],
    force: Annotated[bool, typer.Option("--force", help="Replace an existing file.")] = False,
) -> None:
    """Write the whole log with a fresh signed checkpoint; a reviewer re-verifies it offline with the public key."""
    out, err = _consoles()
    if target.exists() and not force:
        raise LikenessError(f"{target} exists; give --force to replace it")
    if not target.parent.is_dir():
        raise LikenessError(f"no such folder: {target.parent}")
    log = _open(need_key=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as stream:
            head = log.export(stream)
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    out.print(str(target), markup=False)
    err.print(f"{head.tree_size} entries, root {head.root_hash}; verify with: likeness audit verify --file "
              f"{target} --public-key {_public_key_text(log)}", markup=False)


def _public_key_text(log: AuditLog) -> str:
    from audit import public_key_text

    return public_key_text(log.public_keys[log.key_id or ""])


@audit_app.command("public-key")
def audit_public_key() -> None:
    """Print the audit public key (ed25519:<key id>:<base64>): all a reviewer needs to verify."""
    from audit import AuditKey
    from gateway.cli import _settings

    out, _ = _consoles()
    out.print(AuditKey.from_file(_settings().resolved_audit_signing_key_file).public_key_text(), markup=False)
