"""The hot path of /api/v1: one query per request that reads the database (a token
not in the worker's cache: ``tests/core/test_token_cache.py``), ``last_used``
written at most once per ``LAST_USED_RESOLUTION`` and only by one of concurrent
requests."""

from __future__ import annotations

from contextlib import contextmanager

import pytest
from sqlalchemy import event, select

from col_auth.core import legacy_tokens, oauth_clients, oauth_tokens, principals
from col_auth.core.clock import now
from col_auth.core.models import GRANT_SITE_TOKEN, GRANT_USER_TOKEN, Grant, LegacyApp, Token, User
from col_auth.extensions import db
from tests.helpers import basic, seed

REDIRECT_URI = "https://client.example/callback"


def _legacy_token(app, user_id: str, app_token: str, kind: str) -> tuple[str, str]:
    with app.app_context():
        user = db.session.get(User, user_id)
        legacy_app = db.session.scalar(select(LegacyApp).where(LegacyApp.app_token == app_token))
        grant, token = legacy_tokens.issue_legacy_token(user, legacy_app, kind)
        db.session.commit()
        return grant.id, token


def _access_token(app, user_id: str) -> str:
    with app.app_context():
        module = oauth_clients.create_module("Hot Path Module")
        oauth_clients.ensure_external_app_enabled(module)
        template = oauth_clients.create_template(module.external_app, "T", "openid api")
        client, _secret = oauth_clients.create_client(template, name="C",
                                                      redirect_uris=[REDIRECT_URI])
        user = db.session.get(User, user_id)
        code = oauth_tokens.create_code(client, user, redirect_uri=REDIRECT_URI,
                                        scope="openid api", nonce=None, code_challenge=None,
                                        auth_time=now())
        db.session.commit()
        return oauth_tokens.redeem_code(client, code, REDIRECT_URI, None).access_token


@contextmanager
def _statements(app):
    """The SQL statements the app sends while the block runs."""
    seen: list[str] = []

    def record(conn, cursor, statement, parameters, context, executemany):  # noqa: ARG001
        seen.append(statement)

    with app.app_context():
        engine = db.engine
    event.listen(engine, "before_cursor_execute", record)
    try:
        yield seen
    finally:
        event.remove(engine, "before_cursor_execute", record)


def _last_used(app, grant_id: str):
    with app.app_context():
        grant = db.session.get(Grant, grant_id)
        token = db.session.scalar(select(Token).where(Token.grant_id == grant_id))
        return grant.last_used_at, token.last_used_at


@pytest.mark.parametrize("credentials", ["user_token", "site_token", "bearer"])
def test_me_sends_one_query_per_validated_request(app, credentials):
    s = seed(app)
    app.config["TOKEN_CACHE_SECONDS"] = 0  # the database's path, not the cache's
    if credentials == "bearer":
        headers = {"Authorization": f"Bearer {_access_token(app, s.member_id)}"}
    elif credentials == "site_token":
        _grant_id, token = _legacy_token(app, s.admin_id, s.app_token, GRANT_SITE_TOKEN)
        headers = basic("Member", token)
    else:
        _grant_id, token = _legacy_token(app, s.member_id, s.app_token, GRANT_USER_TOKEN)
        headers = basic("Member", token)
    client = app.test_client()
    assert client.get("/api/v1/me", headers=headers).status_code == 200  # writes last_used
    with _statements(app) as seen:
        response = client.get("/api/v1/me", headers=headers)
    assert response.status_code == 200
    assert response.get_json()["site"] == "Sample CU"
    assert len(seen) == 1, seen


def test_last_used_is_written_at_most_once_per_resolution(app, clock):
    s = seed(app)
    grant_id, token = _legacy_token(app, s.member_id, s.app_token, GRANT_USER_TOKEN)
    client = app.test_client()
    assert client.get("/api/v1/me", headers=basic("Member", token)).status_code == 200
    first = _last_used(app, grant_id)
    assert first == (clock.moment, clock.moment)
    clock.advance(app.config["LAST_USED_RESOLUTION"] - 1)
    with _statements(app) as seen:
        assert client.get("/api/v1/me", headers=basic("Member", token)).status_code == 200
    assert _last_used(app, grant_id) == first
    assert not [q for q in seen if q.lstrip().upper().startswith("UPDATE")]
    clock.advance(1)
    assert client.get("/api/v1/me", headers=basic("Member", token)).status_code == 200
    assert _last_used(app, grant_id) == (clock.moment, clock.moment)


def test_requests_that_all_read_a_stale_last_used_write_it_once(app, clock):
    """Two requests validated the token before either wrote: the second write is a no-op."""
    s = seed(app)
    grant_id, _token = _legacy_token(app, s.member_id, s.app_token, GRANT_USER_TOKEN)
    with app.app_context():
        token_id = db.session.scalar(select(Token.id).where(Token.grant_id == grant_id))
        principals.touch(token_id, grant_id, None)
        written = clock.moment
        clock.advance(1)
        principals.touch(token_id, grant_id, None)  # it, too, read "never used"
    assert _last_used(app, grant_id) == (written, written)
