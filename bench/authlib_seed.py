"""What the Authlib reference needs in the database, made before anything is timed.

Its tables (``authlib_*``) go into the service's database. The codes are rows as
its ``save_authorization_code`` writes them (PKCE S256, scope ``api``), standing
for consents given on an authorization endpoint the bench does not drive; the
token pairs come from real code exchanges through the app's token endpoint (a
Flask test client, in this process), which also checks that the reference works
before it is timed.
"""

from __future__ import annotations

import secrets
import time
from dataclasses import dataclass

from authlib.oauth2.rfc7636 import create_s256_code_challenge
from flask import Flask

from . import authlib_reference as ref
from .seed import CODE_VERIFIER, REDIRECT_URI, SITE, USERNAME


@dataclass(frozen=True)
class AuthlibFixture:
    """The reference's client, its secret, and the user every code and token is for."""

    client_id: str
    client_secret: str
    user_id: str


def create(app: Flask) -> AuthlibFixture:
    """Create the reference's tables, a user and a confidential client (``client_secret_post``,
    authorization_code and refresh_token, scope ``api``)."""
    with app.app_context():
        ref.db.create_all()
        user = ref.User(username=USERNAME, full_name="Bench User", email="bench@bench.example",
                        site_id=ref.new_guid(), site_name=SITE)
        client = ref.Client(client_id=secrets.token_urlsafe(18),
                            client_secret=secrets.token_urlsafe(32),
                            client_id_issued_at=int(time.time()), user=user)
        client.set_client_metadata({
            "client_name": "Bench client",
            "redirect_uris": [REDIRECT_URI],
            "grant_types": ["authorization_code", "refresh_token"],
            "response_types": ["code"],
            "scope": ref.SCOPE,
            "token_endpoint_auth_method": "client_secret_post",
        })
        ref.db.session.add_all([user, client])
        ref.db.session.commit()
        return AuthlibFixture(client.client_id, client.client_secret, user.id)


def codes(app: Flask, fx: AuthlibFixture, count: int) -> list[str]:
    """``count`` authorization codes for the bench user (PKCE S256 of ``CODE_VERIFIER``).

    They expire 5 minutes after they are made (the mixin's ``is_expired``): make
    them just before they are exchanged."""
    challenge = create_s256_code_challenge(CODE_VERIFIER)
    made = [secrets.token_urlsafe(36) for _ in range(count)]
    with app.app_context():
        ref.db.session.add_all([
            ref.AuthorizationCode(code=code, client_id=fx.client_id, redirect_uri=REDIRECT_URI,
                                  response_type="code", scope=ref.SCOPE, user_id=fx.user_id,
                                  code_challenge=challenge, code_challenge_method="S256")
            for code in made])
        ref.db.session.commit()
    return made


def code_form(fx: AuthlibFixture) -> dict[str, str]:
    """The form of a code exchange, without the code."""
    return {"client_id": fx.client_id, "client_secret": fx.client_secret,
            "grant_type": "authorization_code", "redirect_uri": REDIRECT_URI,
            "code_verifier": CODE_VERIFIER}


def refresh_form(fx: AuthlibFixture) -> dict[str, str]:
    """The form of a refresh, without the refresh token."""
    return {"client_id": fx.client_id, "client_secret": fx.client_secret,
            "grant_type": "refresh_token"}


def token_pairs(app: Flask, fx: AuthlibFixture, count: int) -> list[tuple[str, str]]:
    """``count`` (access token, refresh token) pairs, each from a code exchanged at the
    reference's token endpoint."""
    client = app.test_client()
    pairs = []
    for code in codes(app, fx, count):
        answer = client.post(ref.TOKEN_PATH, data=dict(code_form(fx), code=code))
        if answer.status_code != 200:
            raise RuntimeError(f"the Authlib reference refused a code exchange: "
                               f"{answer.status_code} {answer.get_data(as_text=True)[:300]}")
        body = answer.get_json()
        pairs.append((body["access_token"], body["refresh_token"]))
    return pairs


def check_me(app: Flask, access_token: str) -> dict:
    """The reference's /api/v1/me for ``access_token``: fails unless it answers 200."""
    answer = app.test_client().get("/api/v1/me",
                                   headers={"Authorization": f"Bearer {access_token}"})
    if answer.status_code != 200:
        raise RuntimeError(f"the Authlib reference refused its own access token: "
                           f"{answer.status_code} {answer.get_data(as_text=True)[:300]}")
    return answer.get_json()
