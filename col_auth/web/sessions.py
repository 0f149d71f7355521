"""The session cookie, and ending a browser's sign-in, shared by ``/logout``
(accounts) and the OpenID Connect logout endpoint (oauth), so that both end it
the same way."""

from __future__ import annotations

from flask import Flask, Request, session
from flask.sessions import SecureCookieSession, SecureCookieSessionInterface
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


class CookieSessionInterface(SecureCookieSessionInterface):
    """Flask's signed-cookie sessions, but a request without the session cookie (every
    API call) gets its empty session without the signing serializer being built
    first, and an empty session is saved without the cookie's settings being
    worked out, both of which Flask does on every request."""

    def open_session(self, app: Flask, request: Request) -> SecureCookieSession | None:
        # No Cookie header at all (werkzeug's ``.get`` raises and catches a KeyError
        # for a missing key, so it is not asked).
        if app.secret_key and "HTTP_COOKIE" not in request.environ:
            return self.session_class()
        return super().open_session(app, request)

    def save_session(self, app: Flask, session: SecureCookieSession, response) -> None:
        if not session and not session.modified:
            # Nothing to set or delete: only say the answer depended on the cookie.
            if session.accessed:
                headers = response.headers
                if any(name.lower() == "vary" for name in headers.keys()):  # noqa: SIM118
                    response.vary.add("Cookie")
                else:
                    headers.add("Vary", "Cookie")
            return
        super().save_session(app, session, response)
