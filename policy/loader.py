"""Load the policy files, validate each against the schema, and version the set.

>>> from policy.loader import load_policies
>>> policies = load_policies()                       # the files shipped in policy/policies/
>>> len(policies.version), policies.rule("quota-exhausted").effect
(16, 'forbid')

A policy that does not type-check against the schema, a file Cedar cannot parse, a policy
without ``@id`` and ``@reason``, or two policies with the same id raise :class:`PolicyError`
naming the file and the policy: the server refuses to start on a broken policy set.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType
from typing import Any

import cedarpy

from policy.errors import PolicyError
from policy.schemas import DEFAULT_DENY, EVALUATION_ERROR

PACKAGE_DIR = Path(__file__).resolve().parent
DEFAULT_POLICY_DIR = PACKAGE_DIR / "policies"
SCHEMA_FILE = PACKAGE_DIR / "schema.cedarschema"
_ID = re.compile(r"^[a-z0-9][a-z0-9-]{0,63}$")
_RESERVED = {DEFAULT_DENY, EVALUATION_ERROR}


@dataclass(frozen=True)
class Rule:
    """One policy: its stable id (``@id``), effect, the human reason (``@reason``) and its file."""

    id: str
    effect: str
    reason: str
    file: str


class PolicySet:
    """A validated, versioned set of Cedar policies and its schema, parsed once and reused by ``decide``."""

    def __init__(self, *, rules: dict[str, Rule], cedar: Any, schema: Any, version: str, directory: Path) -> None:
        self.rules = MappingProxyType(dict(rules))
        self.version = version
        self.directory = directory
        self._cedar = cedar
        self._schema = schema

    def rule(self, rule_id: str) -> Rule:
        return self.rules[rule_id]

    def __repr__(self) -> str:
        return f"PolicySet(version={self.version!r}, rules={len(self.rules)}, directory={str(self.directory)!r})"


def load_policies(directory: Path | str | None = None) -> PolicySet:
    """Every ``*.cedar`` file in ``directory`` (default: the shipped policies), validated against the schema."""
    folder = Path(directory) if directory is not None else DEFAULT_POLICY_DIR
    schema_text = _read(SCHEMA_FILE, what="policy schema")
    try:
        schema = cedarpy.Schema.from_str(schema_text)
    except ValueError as exc:
        raise PolicyError(f"{SCHEMA_FILE}: invalid Cedar schema: {exc}") from None
    if not folder.is_dir():
        raise PolicyError(f"no policy directory at {folder}")
    files = sorted(folder.glob("*.cedar"))
    if not files:
        raise PolicyError(f"no policy files (*.cedar) in {folder}: an empty policy set would deny everything")

    rules: dict[str, Rule] = {}
    static: dict[str, Any] = {}
    for path in files:
        text = _read(path, what="policy file")
        for rule, est in _file_rules(path, text, schema):
            if rule.id in rules:
                raise PolicyError(f"{path}: policy id {rule.id!r} is already used in {rules[rule.id].file}")
            rules[rule.id] = rule
            static[rule.id] = est
    permits = [r for r in rules.values() if r.effect == "permit"]
    if not permits:
        raise PolicyError(f"no permit policy in {folder}: the set would deny everything")
    try:  # Cedar's own policy ids are our stable @id values
        cedar = cedarpy.PolicySet.from_json_str(json.dumps({"staticPolicies": static, "templates": {},
                                                            "templateLinks": []}))
    except ValueError as exc:
        raise PolicyError(f"{folder}: the policies do not form a set: {exc}") from None
    return PolicySet(rules=rules, cedar=cedar, schema=schema, version=_version(static, schema_text),
                     directory=folder)


def _read(path: Path, *, what: str) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise PolicyError(f"no {what} at {path}") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise PolicyError(f"cannot read {what} {path}: {exc}") from None


def _file_rules(path: Path, text: str, schema: Any) -> list[tuple[Rule, dict[str, Any]]]:
    try:
        parsed = json.loads(cedarpy.policies_to_json_str(text))
    except ValueError as exc:
        raise PolicyError(f"{path}: Cedar cannot parse it: {exc}") from None
    if parsed.get("templates") or parsed.get("templateLinks"):
        raise PolicyError(f"{path}: templates (?principal, ?resource) are not supported; write static policies")
    ids: dict[str, str] = {}
    out = []
    for cedar_id, est in parsed.get("staticPolicies", {}).items():
        annotations = est.get("annotations") or {}
        rule_id, reason = annotations.get("id"), annotations.get("reason")
        where = f"{path}: policy {rule_id or cedar_id}"
        if not rule_id or not _ID.match(rule_id):
            raise PolicyError(f"{where}: needs @id(\"…\") of lowercase letters, digits and -, got {rule_id!r}")
        if rule_id in _RESERVED:
            raise PolicyError(f"{where}: the id {rule_id!r} is reserved")
        if not reason or not reason.strip():
            raise PolicyError(f"{where}: needs @reason(\"…\"): the words a partner and the audit log read")
        if rule_id in ids.values():
            raise PolicyError(f"{path}: policy id {rule_id!r} is used twice in this file")
        ids[cedar_id] = rule_id
        out.append((Rule(id=rule_id, effect=est["effect"], reason=reason.strip(), file=path.name), est))
    if not out:
        raise PolicyError(f"{path}: holds no policy")
    result = cedarpy.validate_policies(text, schema)
    if not result.validation_passed:
        problems = []
        for error in result.errors:
            name = ids.get(error.policy_id, error.policy_id)
            message = error.error.replace(f"`{error.policy_id}`", f"`{name}`") if error.policy_id else error.error
            problems.append(f"policy {name}: {message}" if name else message)
        raise PolicyError(f"{path}: does not match the schema {SCHEMA_FILE.name}: {'; '.join(problems)}")
    return out


def _version(static: dict[str, Any], schema_text: str) -> str:
    """SHA-256 (16 hex digits) of the rules as Cedar reads them, sorted by id, and the schema.

    Comments and layout do not change it; any change to a condition, an id or a reason does.
    """
    digest = hashlib.sha256(b"likeness/policy/v1\x00")
    digest.update(json.dumps(static, sort_keys=True, separators=(",", ":")).encode())
    digest.update(b"\x00")
    digest.update("\n".join(line.rstrip() for line in schema_text.strip().splitlines()).encode())
    return digest.hexdigest()[:16]
