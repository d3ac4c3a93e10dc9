"""The errors of the gateway itself: settings, the database, the demo. The packages below have their own
(``partners.errors``, ``generations.errors``, …); the routes map every :class:`likeness.LikenessError`
to an HTTP answer (``gateway.api.error_body``) and the CLI to one line and an exit code.

>>> from gateway.errors import DatabaseError, GatewayError, SettingsError
>>> issubclass(DatabaseError, GatewayError), DatabaseError.http_status
(True, 503)

The tree::

    GatewayError
    ├── SettingsError             a LIKENESS_ setting is missing, malformed, or refused in production
    ├── DatabaseError             the database could not be opened or migrated (503)
    └── DemoError                 the demo cannot run here (production settings)
"""

from __future__ import annotations

from likeness import LikenessError, db


class GatewayError(LikenessError):
    """Base of the gateway's own errors."""


class SettingsError(GatewayError):
    """An environment variable holds a value the settings refuse."""


class DatabaseError(GatewayError, db.DatabaseError):
    """The database could not be opened or migrated."""


class DemoError(GatewayError):
    """The demo cannot run here (production settings)."""


__all__ = ["DatabaseError", "DemoError", "GatewayError", "SettingsError"]
