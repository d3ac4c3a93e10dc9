"""The errors of ``policy``: only a policy set that cannot be loaded is an error; a refusal is a decision.

>>> from policy.errors import PolicyError
>>> err = PolicyError("policies/consent.cedar: policy consent-not-active: attribute `x` not found")
>>> err.exit_code, err.http_status
(1, 500)
"""

from __future__ import annotations

from likeness import errors as kinds


class PolicyError(kinds.InternalError):
    """The policy files or their schema are missing, unparsable or invalid: the server must not start.

    The message names the file, the policy id (its ``@id``) where there is one, and Cedar's own words.
    """
