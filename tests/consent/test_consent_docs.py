"""The runnable examples that open the consent modules' docstrings do run; the public surface is declared."""

from __future__ import annotations

import doctest
import importlib

import pytest

MODULES = ["consent", "consent.service", "consent.keys", "consent.schemas", "consent.errors"]


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples(name):
    module = importlib.import_module(name)
    assert ">>>" in (module.__doc__ or ""), f"{name} has no runnable example"
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS)
    assert result.failed == 0


def test_public_surface():
    import consent

    assert sorted(consent.__all__) == sorted(set(consent.__all__))
    for name in consent.__all__:
        assert hasattr(consent, name), name
    assert consent.ConsentTamperedError.http_status == 500
    assert issubclass(consent.ConsentRevokedError, consent.ConsentInactiveError)
    assert not hasattr(consent, "ReferenceEmbedding")  # tables stay private
