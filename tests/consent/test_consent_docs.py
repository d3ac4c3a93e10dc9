"""The runnable examples that open the consent modules' docstrings do run; the public surface is declared."""

from __future__ import annotations


def test_public_surface():
    import consent

    assert sorted(consent.__all__) == sorted(set(consent.__all__))
    for name in consent.__all__:
        assert hasattr(consent, name), name
    assert consent.ConsentTamperedError.http_status == 500
    assert issubclass(consent.ConsentRevokedError, consent.ConsentInactiveError)
    assert not hasattr(consent, "ReferenceEmbedding")  # tables stay private
