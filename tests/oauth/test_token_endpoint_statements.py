"""The token endpoint's cost in SQL (issue 11): how many statements and commits one
code exchange, one refresh and one client authentication send, pinned as upper
bounds per grant type and per database. A change that adds a query (a lazy load, a
second lookup, a flush of ORM objects one by one) or a commit fails here first.

What each statement is for, in order (``core.oauth_tokens``):

- exchange: the client, and whether its app is usable (joined through its template
  and external app to its module); the code with its user and, again, its client's
  app; then the writes, in one transaction with one commit: INSERT the grant,
  the conditional UPDATE that redeems the code and records the grant, INSERT the
  token pair (one statement), INSERT the audit row. PostgreSQL sends the four
  writes as one statement (data-modifying CTEs).
- refresh: the client; the refresh token with its grant and user; the conditional
  UPDATE that rotates it and INSERT the new pair (one statement on PostgreSQL);
  one commit. ``REFRESH_GRACE`` adds the chain lock.
- an id_token (scope ``openid``) adds, after the commit, the user (with their site)
  whose claims it carries and the client's ``client_id`` (expired by the commit),
  in a transaction of their own.
"""

from __future__ import annotations

import base64
import hashlib
import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

import pytest
from sqlalchemy import event, select

from col_auth.core import oauth_tokens
from col_auth.core.clock import now
from col_auth.core.errors import InvalidClient, InvalidGrant
from col_auth.core.models import AuditEvent, AuthorizationCode, Grant, User
from col_auth.core.oauth_clients import find_client
from col_auth.extensions import db
from col_auth.oauth import rfc6749
from tests.oauth.support import OAuthSeed, seed_client

TOKEN = "/api/o/oauth/v2/token"
VERIFIER = "v" * 64  # RFC 7636 §4.1: 43 to 128 characters
CHALLENGE = base64.urlsafe_b64encode(hashlib.sha256(VERIFIER.encode()).digest()
                                     ).rstrip(b"=").decode()

# Upper bounds: (statements, commits).
LIMITS = {
    "sqlite": {
        "exchange": (6, 1),
        "exchange_openid": (8, 2),
        "refresh": (4, 1),
        "refresh_grace": (5, 1),
        "client_auth": (1, 0),
        "client_auth_refused": (1, 0),
    },
    "postgresql": {
        "exchange": (3, 1),
        "exchange_openid": (5, 2),
        "refresh": (3, 1),
        "refresh_grace": (4, 1),
        "client_auth": (1, 0),
        "client_auth_refused": (1, 0),
    },
}
# What the steps' conditional UPDATEs may set (``_lock_chain``'s no-op write on
# SQLite sets last_used_at to itself). A parameter named as a column would be added
# to an UPDATE's SET by SQLAlchemy, silently: this catches it.
UPDATABLE = {"used_at", "grant_id", "rotated_at", "last_used_at"}
_SET = re.compile(r"\bUPDATE \w+ SET (.*?) WHERE ", re.IGNORECASE)


@dataclass
class Sent:
    """What the app sent to the database while a block ran."""

    statements: list[str] = field(default_factory=list)
    commits: int = 0

    def within(self, limit: tuple[int, int]) -> bool:
        return len(self.statements) <= limit[0] and self.commits <= limit[1]

    def updated_columns(self) -> set[str]:
        """The columns the UPDATEs sent set, those inside a WITH included."""
        return {assignment.split("=")[0].strip()
                for statement in self.statements
                for assignments in _SET.findall(" ".join(statement.split()))
                for assignment in assignments.split(", ")}

    def __str__(self) -> str:
        lines = [" ".join(s.split())[:160] for s in self.statements]
        return f"{len(self.statements)} statements, {self.commits} commits:\n  " + \
            "\n  ".join(lines)


@contextmanager
def counting(app) -> Iterator[Sent]:
    """Count the statements (``before_cursor_execute``: an ``executemany`` is one)
    and the commits the app's engine sends while the block runs."""
    sent = Sent()

    def statement(conn, cursor, text, parameters, context, executemany):  # noqa: ARG001
        sent.statements.append(text)

    def commit(conn):  # noqa: ARG001
        sent.commits += 1

    with app.app_context():
        engine = db.engine
    event.listen(engine, "before_cursor_execute", statement)
    event.listen(engine, "commit", commit)
    try:
        yield sent
    finally:
        event.remove(engine, "before_cursor_execute", statement)
        event.remove(engine, "commit", commit)


@pytest.fixture
def app_config(request) -> dict:
    return getattr(request, "param", {})


@pytest.fixture
def seeded(app) -> OAuthSeed:
    return seed_client(app, scopes="openid api")


def _code(app, seeded: OAuthSeed, scope: str) -> str:
    """A code with a PKCE S256 challenge, as the benchmark's (B3)."""
    with app.app_context():
        client = find_client(seeded.client_id)
        user = db.session.get(User, seeded.legacy.member_id)
        code = oauth_tokens.create_code(client, user, redirect_uri=seeded.redirect_uri,
                                        scope=scope, nonce="n-1", code_challenge=CHALLENGE,
                                        auth_time=now())
        db.session.commit()
        return code


def _exchange(app, seeded: OAuthSeed, code: str) -> dict:
    response = app.test_client().post(TOKEN, data={
        "grant_type": "authorization_code", "code": code,
        "redirect_uri": seeded.redirect_uri, "code_verifier": VERIFIER,
        "client_id": seeded.client_id, "client_secret": seeded.client_secret})
    assert response.status_code == 200, response.get_json()
    return response.get_json()


def _refresh(app, seeded: OAuthSeed, refresh_token: str) -> dict:
    response = app.test_client().post(TOKEN, data={
        "grant_type": "refresh_token", "refresh_token": refresh_token,
        "client_id": seeded.client_id, "client_secret": seeded.client_secret})
    assert response.status_code == 200, response.get_json()
    return response.get_json()


def _assert_within(sent: Sent, backend: str, what: str) -> None:
    assert sent.within(LIMITS[backend][what]), f"{what} on {backend}: {sent}"
    assert sent.updated_columns() <= UPDATABLE, f"{what} on {backend}: {sent}"


@pytest.mark.parametrize("scope", ["api", "openid api"])
def test_code_exchange(app, backend, seeded, scope):
    _exchange(app, seeded, _code(app, seeded, scope))  # the first one prepares things
    code = _code(app, seeded, scope)
    what = "exchange_openid" if "openid" in scope else "exchange"
    with counting(app) as sent:
        body = _exchange(app, seeded, code)
    assert ("id_token" in body) == ("openid" in scope)
    _assert_within(sent, backend, what)


def test_refresh(app, backend, seeded):
    refresh_token = _exchange(app, seeded, _code(app, seeded, "api"))["refresh_token"]
    refresh_token = _refresh(app, seeded, refresh_token)["refresh_token"]
    with counting(app) as sent:
        _refresh(app, seeded, refresh_token)
    _assert_within(sent, backend, "refresh")


@pytest.mark.parametrize("app_config", [{"REFRESH_GRACE": 30}], indirect=True)
def test_refresh_with_a_grace(app, backend, seeded):
    refresh_token = _exchange(app, seeded, _code(app, seeded, "api"))["refresh_token"]
    with counting(app) as sent:
        _refresh(app, seeded, refresh_token)
    _assert_within(sent, backend, "refresh_grace")


@pytest.mark.parametrize("secret_ok", [True, False])
def test_client_authentication_is_one_query(app, backend, seeded, secret_ok):
    """The client and whether it is usable (its external app and module enabled) in
    one query, whether the client is let in or refused."""
    secret = seeded.client_secret if secret_ok else seeded.client_secret + "x"
    data = {"client_id": seeded.client_id, "client_secret": secret}
    with app.test_request_context(TOKEN, method="POST", data=data):
        with counting(app) as sent:
            if secret_ok:
                assert rfc6749.authenticate(rfc6749.form_params()).client_id == seeded.client_id
            else:
                with pytest.raises(InvalidClient, match="wrong secret"):
                    rfc6749.authenticate(rfc6749.form_params())
        db.session.rollback()
    _assert_within(sent, backend, "client_auth" if secret_ok else "client_auth_refused")


def test_a_redemption_that_loses_the_race_commits_nothing(app, seeded):
    """The grant is inserted before the conditional UPDATE (the code records it in
    the same statement); a loser, having read the code as unused, rolls its grant
    back and answers as a second use: the winner's grant alone exists, revoked."""
    code = _code(app, seeded, "api")
    with app.test_request_context():
        client = find_client(seeded.client_id)
        row = db.session.connection().execute(oauth_tokens._CODE_QUERY, {
            "code_hash": oauth_tokens.token_hash(code), "client_pk": client.id}).first()
        oauth_tokens._redeem(row, client, now(), None)  # the winner
        with pytest.raises(InvalidGrant, match="already used"):
            oauth_tokens._redeem(row, client, now(), None)  # read it before the win
    with app.app_context():
        grants = db.session.execute(select(Grant.id, Grant.revoked_at)).all()
        redeemed_with = db.session.scalar(select(AuthorizationCode.grant_id))
        events = list(db.session.scalars(select(AuditEvent.event)))
    assert len(grants) == 1 and grants[0].revoked_at is not None
    assert redeemed_with == grants[0].id
    assert events.count("oauth_granted") == 1 and "code_replay" in events
