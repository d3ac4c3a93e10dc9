"""Each error's HTTP status and CLI exit code, pinned; the kinds in :mod:`likeness.errors` own them once.

The table was taken from the tree as it stood before the kinds existed, so that moving the statuses
into the kinds provably changed none of them: every class keeps its status, its exit code and the
bases it had then (every ``except`` written against them still catches). Changed on purpose since, and
marked with their kind: an unavailable store (the job store, queue, blob storage, manifest repository,
database) and unusable provenance keys or a tampered stored input exit 1 like every other operator's
problem, where they exited 2, the code for a refused input.
"""

from __future__ import annotations

import importlib
import inspect

import pytest

from likeness.errors import LikenessError

MODULES = ["likeness.errors", "likeness.db", "audit.errors", "consent.errors", "detector.errors", "faces.errors",
           "gateway.errors", "generations.errors", "generator.errors", "media.errors", "partners.errors",
           "policy.errors", "provenance.errors", "provenance.repository", "speech.errors"]
PACKAGES = ["likeness", "media", "speech", "faces", "policy", "consent", "audit", "generator", "provenance",
            "detector", "partners", "generations"]

# class: (http_status, exit_code, the bases of ours it had before the kinds (LikenessError left out))
PINNED = {
    "audit.errors.AuditError": (400, 2, ()),
    "audit.errors.AuditInputError": (422, 2, ("audit.errors.AuditError",)),
    "audit.errors.AuditIntegrityError": (500, 1, ("audit.errors.AuditError",)),
    "audit.errors.AuditKeyError": (500, 1, ("audit.errors.AuditError",)),
    "audit.errors.AuditNotFoundError": (404, 2, ("audit.errors.AuditError",)),
    "audit.errors.AuditStoreError": (503, 1, ("audit.errors.AuditError",)),
    "audit.errors.RawBiometricsError": (422, 2, ("audit.errors.AuditInputError",)),
    "consent.errors.ConsentAuthError": (403, 2, ("consent.errors.ConsentError",)),
    "consent.errors.ConsentConflictError": (409, 2, ("consent.errors.ConsentError",)),
    "consent.errors.ConsentErasedError": (410, 2, ("consent.errors.ConsentInactiveError",)),
    "consent.errors.ConsentError": (400, 2, ()),
    "consent.errors.ConsentExpiredError": (403, 2, ("consent.errors.ConsentInactiveError",)),
    "consent.errors.ConsentInactiveError": (403, 2, ("consent.errors.ConsentError",)),
    "consent.errors.ConsentInputError": (422, 2, ("consent.errors.ConsentError",)),
    "consent.errors.ConsentKeyError": (500, 1, ("consent.errors.ConsentError",)),
    "consent.errors.ConsentNotYetValidError": (403, 2, ("consent.errors.ConsentInactiveError",)),
    "consent.errors.ConsentRevokedError": (403, 2, ("consent.errors.ConsentInactiveError",)),
    "consent.errors.ConsentStoreError": (503, 1, ("consent.errors.ConsentError",)),
    "consent.errors.ConsentTamperedError": (500, 1, ("consent.errors.ConsentError",)),
    "consent.errors.ReferenceUnavailableError": (409, 2, ("consent.errors.ConsentError",)),
    "consent.errors.StatementError": (422, 2, ("consent.errors.ConsentError",)),
    "consent.errors.UnknownConsentError": (404, 2, ("consent.errors.ConsentError",)),
    "detector.errors.DetectorError": (422, 2, ()),
    "detector.errors.ModelError": (500, 1, ("detector.errors.DetectorError",)),
    "faces.errors.FaceBackendError": (500, 1, ("faces.errors.FaceError",)),
    "faces.errors.FaceError": (422, 2, ()),
    "faces.errors.FaceTooSmallError": (422, 2, ("faces.errors.FaceError",)),
    "faces.errors.IdentityModelError": (500, 1, ("faces.errors.FaceBackendError",)),
    "faces.errors.MultipleFacesError": (422, 2, ("faces.errors.FaceError",)),
    "faces.errors.NoFaceError": (422, 2, ("faces.errors.FaceError",)),
    "gateway.errors.DatabaseError": (503, 1, ("gateway.errors.GatewayError", "likeness.db.DatabaseError")),
    "gateway.errors.DemoError": (400, 2, ("gateway.errors.GatewayError",)),
    "gateway.errors.GatewayError": (400, 2, ()),
    "gateway.errors.SettingsError": (400, 2, ("gateway.errors.GatewayError",)),
    "generations.errors.GenerationError": (400, 2, ()),
    "generations.errors.IdempotencyConflict": (409, 2, ("generations.errors.GenerationError",)),
    "generations.errors.InputTamperedError": (500, 1, ("generations.errors.StorageError",)),
    "generations.errors.JobStoreError": (503, 1, ("generations.errors.GenerationError",)),
    "generations.errors.QueueError": (503, 1, ("generations.errors.GenerationError",)),
    "generations.errors.QuotaExceeded": (429, 2, ("generations.errors.GenerationError",)),
    "generations.errors.Refusal": (400, 2, ("generations.errors.GenerationError",)),
    "generations.errors.StorageError": (503, 1, ("generations.errors.GenerationError",)),
    "generator.errors.GeneratorError": (422, 2, ()),
    "generator.errors.SpeechError": (422, 2, ("generator.errors.GeneratorError",)),
    "likeness.db.DatabaseError": (503, 1, ()),
    "media.errors.MediaError": (422, 2, ()),
    "media.errors.MediaTooLargeError": (413, 2, ("media.errors.MediaError",)),
    "partners.errors.AuthenticationError": (401, 2, ("partners.errors.PartnerError",)),
    "partners.errors.ExpiredKeyError": (401, 2, ("partners.errors.AuthenticationError",)),
    "partners.errors.PartnerError": (400, 2, ()),
    "partners.errors.PartnerExistsError": (409, 2, ("partners.errors.PartnerError",)),
    "partners.errors.PartnerInputError": (422, 2, ("partners.errors.PartnerError",)),
    "partners.errors.PartnerStoreError": (503, 1, ("partners.errors.PartnerError",)),
    "partners.errors.PartnerSuspendedError": (403, 2, ("partners.errors.PartnerError",)),
    "partners.errors.RevokedKeyError": (401, 2, ("partners.errors.AuthenticationError",)),
    "partners.errors.ScopeError": (403, 2, ("partners.errors.PartnerError",)),
    "partners.errors.UnknownKeyError": (401, 2, ("partners.errors.AuthenticationError",)),
    "partners.errors.UnknownPartnerError": (404, 2, ("partners.errors.PartnerError",)),
    "policy.errors.PolicyError": (500, 1, ()),
    "provenance.errors.KeyMaterialError": (500, 1, ("provenance.errors.ProvenanceError",)),
    "provenance.errors.ProvenanceError": (500, 2, ()),
    "provenance.errors.ReleaseError": (500, 2, ("provenance.errors.ProvenanceError",)),
    "provenance.errors.SigningError": (500, 2, ("provenance.errors.ProvenanceError",)),
    "provenance.errors.VerificationError": (422, 2, ("provenance.errors.ProvenanceError",)),
    "provenance.errors.WatermarkError": (500, 2, ("provenance.errors.ProvenanceError",)),
    "provenance.repository.RepositoryError": (503, 1, ("provenance.errors.ProvenanceError",)),
    "speech.errors.SpeechError": (400, 2, ()),
    "speech.errors.SynthesisError": (503, 2, ("speech.errors.SpeechError",)),
}
# the kinds: what each package error inherits its status and exit code from
KINDS = {
    "likeness.errors.LikenessError": (400, 2, ()),
    "likeness.errors.InputError": (422, 2, ()),
    "likeness.errors.ForbiddenError": (403, 2, ()),
    "likeness.errors.NotFoundError": (404, 2, ()),
    "likeness.errors.ConflictError": (409, 2, ()),
    "likeness.errors.InternalError": (500, 1, ()),
    "likeness.errors.UnusableKeyError": (500, 1, ("likeness.errors.InternalError",)),
    "likeness.errors.TamperedError": (500, 1, ("likeness.errors.InternalError",)),
    "likeness.errors.BackendError": (500, 1, ("likeness.errors.InternalError",)),
    "likeness.errors.StoreUnavailableError": (503, 1, ("likeness.errors.InternalError",)),
}
TABLE = PINNED | KINDS


def _class(dotted: str) -> type[LikenessError]:
    module, name = dotted.rsplit(".", 1)
    return getattr(importlib.import_module(module), name)


def _defined_in(module_name: str) -> list[type[LikenessError]]:
    module = importlib.import_module(module_name)
    return [obj for obj in vars(module).values()
            if inspect.isclass(obj) and issubclass(obj, LikenessError) and obj.__module__ == module_name]


@pytest.mark.parametrize(("dotted", "expected"), sorted(TABLE.items()))
def test_status_exit_code_and_bases_are_as_pinned(dotted, expected):
    http_status, exit_code, bases = expected
    cls = _class(dotted)
    assert issubclass(cls, LikenessError)
    assert (cls.http_status, cls.exit_code) == (http_status, exit_code)
    assert all(issubclass(cls, _class(base)) for base in bases)


@pytest.mark.parametrize("module_name", MODULES)
def test_every_error_class_is_pinned(module_name):
    defined = {f"{cls.__module__}.{cls.__qualname__}" for cls in _defined_in(module_name)}
    assert defined - TABLE.keys() == set(), "a new error class: pin its status and exit code here"


@pytest.mark.parametrize("package", PACKAGES)
def test_every_exported_error_is_pinned(package):
    module = importlib.import_module(package)
    exported = [getattr(module, name) for name in module.__all__]
    errors = {f"{obj.__module__}.{obj.__qualname__}" for obj in exported
              if inspect.isclass(obj) and issubclass(obj, LikenessError)}
    assert errors - TABLE.keys() == set()


@pytest.mark.parametrize("module_name", MODULES)
def test_no_class_restates_what_it_inherits(module_name):
    """A status or exit code is written where it changes, once: a kind or a package base owns it."""
    for cls in _defined_in(module_name):
        for attr in ("http_status", "exit_code"):
            if attr in vars(cls) and cls is not LikenessError:
                assert vars(cls)[attr] != getattr(super(cls, cls), attr), f"{cls.__qualname__}.{attr}"


def test_the_kind_wins_over_the_package_base():
    from consent.errors import ConsentError, ConsentStoreError
    from likeness.errors import InternalError, StoreUnavailableError

    err = ConsentStoreError("the consent registry is unavailable: OperationalError")
    assert isinstance(err, StoreUnavailableError) and isinstance(err, InternalError) and isinstance(err, ConsentError)
    assert (err.http_status, err.exit_code) == (503, 1)
    assert ConsentStoreError.__mro__[1] is StoreUnavailableError
