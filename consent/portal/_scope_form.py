"""The scope form: who may use the likeness, for what, and for how long — parsed into a ConsentScope.

Nothing is chosen for the person: every radio group starts empty and every box unticked.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from pydantic import ValidationError

from consent.schemas import ANY_PURPOSE, ANY_VETTED, ConsentScope

PURPOSES: tuple[tuple[str, str], ...] = (
    ("education", "Education and training"),
    ("accessibility", "Accessibility (for example dubbing or sign-language avatars)"),
    ("entertainment", "Film, television, games and entertainment"),
    ("research", "Research"),
    ("news", "News and journalism"),
    ("advertising", "Advertising and marketing"),
    ("political", "Political campaigns"),
)
DURATIONS: tuple[tuple[str, str, timedelta | None], ...] = (
    ("30d", "30 days", timedelta(days=30)),
    ("1y", "1 year", timedelta(days=365)),
    ("2y", "2 years", timedelta(days=730)),
    ("open", "Until I revoke it", None),
)
_PURPOSE_IDS = {pid for pid, _ in PURPOSES}
_PARTNER = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$")
MAX_PARTNERS = 20


@dataclass
class ScopeChoice:
    """What the form said, kept to show it again; ``errors`` maps a field to what to fix."""

    partners_mode: str = ""
    partners_text: str = ""
    purposes_mode: str = ""
    purposes: list[str] = field(default_factory=list)
    prohibited: list[str] = field(default_factory=list)
    duration: str = ""
    errors: dict[str, str] = field(default_factory=dict)

    def as_json(self) -> dict[str, Any]:
        return {"partners_mode": self.partners_mode, "partners_text": self.partners_text,
                "purposes_mode": self.purposes_mode, "purposes": self.purposes, "prohibited": self.prohibited,
                "duration": self.duration}

    @classmethod
    def from_json(cls, data: dict[str, Any] | None) -> ScopeChoice:
        return cls(**(data or {}))


def parse(form: dict[str, list[str]]) -> ScopeChoice:
    """The person's choices, with an error per field that needs fixing (none: the scope is complete)."""
    def one(name: str) -> str:
        values = form.get(name, [])
        return values[0].strip() if values else ""

    choice = ScopeChoice(partners_mode=one("partners_mode"), partners_text=one("partners")[:2000],
                         purposes_mode=one("purposes_mode"), duration=one("duration"),
                         purposes=[p for p in form.get("purposes", []) if p in _PURPOSE_IDS],
                         prohibited=[p for p in form.get("prohibited", []) if p in _PURPOSE_IDS])
    if choice.partners_mode not in ("any_vetted", "named"):
        choice.errors["partners_mode"] = "Choose who may use your likeness."
    elif choice.partners_mode == "named":
        names = partner_names(choice.partners_text)
        bad = [n for n in names if not _PARTNER.match(n)]
        if not names:
            choice.errors["partners"] = "Name at least one partner, or choose “any vetted partner”."
        elif bad:
            choice.errors["partners"] = (f"“{bad[0][:40]}” is not a partner id: use the id the partner gave you "
                                         "(letters, digits, dots, dashes and underscores).")
        elif len(names) > MAX_PARTNERS:
            choice.errors["partners"] = f"Name at most {MAX_PARTNERS} partners."
    if choice.purposes_mode not in ("listed", "any"):
        choice.errors["purposes_mode"] = "Choose for which purposes your likeness may be used."
    elif choice.purposes_mode == "listed" and not choice.purposes:
        choice.errors["purposes"] = "Tick at least one purpose, or choose “any purpose”."
    both = sorted(set(choice.purposes) & set(choice.prohibited)) if choice.purposes_mode == "listed" else []
    if both:
        choice.errors["prohibited"] = f"A purpose cannot be both allowed and ruled out: {', '.join(both)}."
    if choice.duration not in {key for key, _, _ in DURATIONS}:
        choice.errors["duration"] = "Choose how long your consent lasts."
    return choice


def partner_names(text: str) -> list[str]:
    return sorted({name.strip() for name in re.split(r"[,\n;]+", text) if name.strip()})


def to_scope(choice: ScopeChoice, *, now: datetime) -> ConsentScope:
    """The registry's scope for a complete choice (raises ValueError with the validator's words otherwise)."""
    delta = next(d for key, _, d in DURATIONS if key == choice.duration)
    partners: Any = ANY_VETTED if choice.partners_mode == "any_vetted" else partner_names(choice.partners_text)
    purposes: Any = ANY_PURPOSE if choice.purposes_mode == "any" else choice.purposes
    prohibited = choice.prohibited if choice.purposes_mode == "any" else []
    try:
        return ConsentScope(partners=partners, purposes=purposes, prohibited_purposes=prohibited,
                            valid_until=None if delta is None else now + delta)
    except ValidationError as exc:
        raise ValueError("; ".join(e["msg"].removeprefix("Value error, ") for e in exc.errors())) from None


def summary(scope: ConsentScope) -> str:
    """The scope in the few words the consent statement says aloud, e.g. "education and research by Acme"."""
    if scope.purposes == ANY_PURPOSE:
        what = "any purpose"
        if scope.prohibited_purposes:
            what += " except " + _and(scope.prohibited_purposes)
    else:
        what = _and(list(scope.purposes))
    if scope.partners == ANY_VETTED:
        who = "any vetted partner"
    else:
        spoken = [re.sub(r"[._]+", " ", name).strip() for name in scope.partners]
        who = _and(spoken) if len(", ".join(spoken)) <= 90 else f"the {len(spoken)} partners I named"
    return f"{what} by {who}"


def describe(scope: ConsentScope) -> dict[str, str]:
    """The scope in plain sentences for the review, receipt and management pages."""
    labels = dict(PURPOSES)
    who = ("Any partner that Likeness has vetted" if scope.partners == ANY_VETTED
           else "Only " + _and(list(scope.partners)))
    if scope.purposes == ANY_PURPOSE:
        what = "Any purpose"
        if scope.prohibited_purposes:
            what += ", except " + _and([labels.get(p, p).lower() for p in scope.prohibited_purposes])
    else:
        what = _and([labels.get(p, p) for p in scope.purposes])
    until = "Until you revoke it" if scope.valid_until is None else scope.valid_until.strftime("Until %d %b %Y")
    return {"who": who, "what": what, "until": until}


def _and(items: list[str]) -> str:
    if len(items) <= 1:
        return "".join(items)
    return ", ".join(items[:-1]) + " and " + items[-1]
