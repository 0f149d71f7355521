"""Ending a browser's sign-in, shared by ``/logout`` (accounts) and the OpenID
Connect logout endpoint (oauth), so that both end it the same way."""

from __future__ import annotations

from flask import session
from flask_login import logout_user

from ..core import accounts
from . import SESSION_ID_KEY


def sign_out() -> None:
    """End this browser's sign-in for good.

    The server-side session row goes first: the user loader only accepts a cookie
    whose session the server still keeps, so a copy of the cookie opens nothing
    afterwards, on any worker or host. Then Flask-Login forgets the user and the
    cookie's content is cleared. The caller's commit makes the deletion stand.
    """
    accounts.end_session(session.get(SESSION_ID_KEY))
    logout_user()
    session.clear()
