"""col_auth: lets third-party apps act for a user without seeing the user's password.

Importing the package stays light, so that ``col_auth.client`` (what third-party
apps import) does not pull in the server: the app factory is loaded on first use.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from flask import Flask


def create_app(config: dict[str, Any] | None = None) -> Flask:
    """The col_auth app, configured from defaults, ``COL_AUTH_*`` env vars and ``config``."""
    from .factory import create_app as factory

    return factory(config)
