"""Races across processes: gunicorn with 4 sync workers on PostgreSQL.

Of 20 simultaneous redemptions of one code, or refreshes of one refresh token,
exactly one wins whichever workers answer; 20 retries within ``REFRESH_GRACE``
leave one live refresh token; a revocation answered by one worker is
seen at once by every other (contract §4: "refused on the very next request, on
any worker"). ``COL_AUTH_RACE_ROUNDS`` repeats each race.
"""

from __future__ import annotations

import re
import time

import pytest
from sqlalchemy import select

from col_auth.client import LegacyClient
from col_auth.core.models import AuthorizationCode, Grant, Token
from col_auth.extensions import db
from tests.helpers import Browser, basic, csrf_token
from tests.oauth.support import get_code, seed_client
from tests.robustness.conftest import RACE_ROUNDS, clean, dispose, seeding_app
from tests.robustness.support import (
    TOKEN_PATH,
    exchange,
    fresh_get,
    fresh_post,
    parallel,
    race,
    refresh,
)

ATTEMPTS = 20
WORKERS = 4


class _Live:
    """What ``get_code`` needs of a server: its URL."""

    def __init__(self, url: str) -> None:
        self.url = url


@pytest.fixture(scope="module")
def server(gunicorn_factory):
    return gunicorn_factory(workers=WORKERS)


@pytest.fixture
def store(server):
    """An app on the server's database, emptied before and after each test."""
    app = seeding_app(server.database_url, server.instance_path)
    clean(app)
    yield app
    clean(app)
    dispose(app)


def _workers_answering(server, path: str, count: int) -> set[int]:
    """The worker pids of the last ``count`` logged requests to ``path``."""
    deadline = time.monotonic() + 5
    while True:
        rows = [pid for pid, _, logged, _ in server.access_lines() if logged == path]
        if len(rows) >= count or time.monotonic() > deadline:
            return set(rows[-count:])
        time.sleep(0.05)


def test_twenty_redemptions_of_one_code_across_workers(server, store):
    seeded = seed_client(store)
    live = _Live(server.url)
    for _ in range(RACE_ROUNDS):
        code = get_code(live, seeded)
        statuses = race(ATTEMPTS, lambda code=code: exchange(server.url, seeded, code).status_code)
        assert sorted(statuses) == [200] + [400] * (ATTEMPTS - 1), statuses
        assert len(_workers_answering(server, TOKEN_PATH, ATTEMPTS)) >= 2
        with store.app_context():
            row = db.session.scalar(select(AuthorizationCode).order_by(AuthorizationCode.id.desc()))
            assert row.used_at is not None and row.grant_id is not None
            grant = db.session.get(Grant, row.grant_id)
            # The losers' second use revoked what the winner was given (RFC 6749 §4.1.2).
            assert grant.revoked_at is not None
            assert {t.kind for t in grant.tokens} == {"access", "refresh"}
            assert len(grant.tokens) == 2, "one pair, from the one winner"
            db.session.remove()


def test_twenty_refreshes_of_one_token_across_workers(server, store):
    seeded = seed_client(store)
    live = _Live(server.url)
    for _ in range(RACE_ROUNDS):
        tokens = exchange(server.url, seeded, get_code(live, seeded)).json()
        statuses = race(ATTEMPTS, lambda tokens=tokens: refresh(
            server.url, seeded, tokens["refresh_token"]).status_code)
        assert sorted(statuses) == [200] + [400] * (ATTEMPTS - 1), statuses
        assert len(_workers_answering(server, TOKEN_PATH, ATTEMPTS)) >= 2
        with store.app_context():
            rotated = db.session.scalars(select(Token).where(
                Token.kind == "refresh", Token.rotated_at.is_not(None))).all()
            assert len(rotated) >= 1
            db.session.remove()


@pytest.fixture(scope="module")
def grace_server(gunicorn_factory):
    return gunicorn_factory(workers=WORKERS, REFRESH_GRACE="30")


def test_twenty_retries_within_grace_across_workers_leave_one_live_refresh_token(
        grace_server, store):
    # Each retry revokes the successor the earlier use issued; the chain is
    # serialised, so however the workers interleave, one refresh token stays live.
    seeded = seed_client(store)
    live = _Live(grace_server.url)
    for _ in range(RACE_ROUNDS):
        tokens = exchange(grace_server.url, seeded, get_code(live, seeded)).json()
        statuses = race(ATTEMPTS, lambda tokens=tokens: refresh(
            grace_server.url, seeded, tokens["refresh_token"]).status_code)
        assert statuses == [200] * ATTEMPTS, statuses
        assert len(_workers_answering(grace_server, TOKEN_PATH, ATTEMPTS)) >= 2
        with store.app_context():
            grant_id = db.session.scalar(select(AuthorizationCode.grant_id)
                                         .order_by(AuthorizationCode.id.desc()))
            live_refresh = db.session.scalars(select(Token).where(
                Token.grant_id == grant_id, Token.kind == "refresh",
                Token.revoked_at.is_(None), Token.rotated_at.is_(None))).all()
            assert len(live_refresh) == 1, live_refresh
            db.session.remove()


def _me_everywhere(server, headers: dict, threads: int = 8, per_thread: int = 5) -> list[int]:
    """/api/v1/me from several threads at once over fresh connections: the requests
    spread over the workers."""
    return parallel(threads, per_thread,
                    lambda: fresh_get(server.url + "/api/v1/me", headers).status_code)


def _assert_refused_by_every_worker(server, headers: dict) -> None:
    statuses = _me_everywhere(server, headers)
    assert statuses == [401] * len(statuses), statuses
    answering = _workers_answering(server, "/api/v1/me", len(statuses))
    assert len(answering) >= 2, answering


@pytest.mark.parametrize("which", ["refresh_token", "access_token"])
def test_a_revocation_through_one_request_is_seen_by_every_worker(server, store, which):
    seeded = seed_client(store)
    tokens = exchange(server.url, seeded, get_code(_Live(server.url), seeded)).json()
    bearer = {"Authorization": f"Bearer {tokens['access_token']}"}
    # Every worker has answered for this token before (caches, if any, are warm).
    assert set(_me_everywhere(server, bearer)) == {200}
    revoked = fresh_post(server.url + "/api/o/oauth/v2/revoke", {
        "token": tokens[which], "client_id": seeded.client_id,
        "client_secret": seeded.client_secret})
    assert revoked.status_code == 200
    _assert_refused_by_every_worker(server, bearer)
    if which == "refresh_token":  # the whole grant went with it
        assert refresh(server.url, seeded, tokens["refresh_token"]).status_code == 400


_REVOKE_ACTION = re.compile(
    r'action="(/(?:profile/connections|site/authorized-apps)/[^"/]+/revoke)"')


@pytest.mark.parametrize("kind", ["user", "site"])
def test_a_legacy_grant_revoked_on_a_page_is_refused_by_every_worker(server, store, kind):
    seeded = seed_client(store)
    legacy = seeded.legacy
    admin = Browser(server.url)
    admin.login("admin")
    client = LegacyClient(server.url, legacy.app_token, legacy.app_secret)
    page = admin.get(client.authorization_url(site=kind == "site").removeprefix(server.url))
    assert page.status_code == 200, page.text[:300]
    allowed = admin.post("/auth/", data={"csrf_token": csrf_token(page.text),
                                         "apptoken": legacy.app_token,
                                         "type": "1" if kind == "site" else "44",
                                         "allow": "Allow"})
    assert allowed.status_code == 302
    grant = client.read_return(allowed.headers["Location"])
    # A site token acts as any user of the site: here as the member.
    headers = basic("member" if kind == "site" else "admin", grant.token)
    assert set(_me_everywhere(server, headers)) == {200}

    listing = "/site/authorized-apps" if kind == "site" else "/profile"
    page = admin.get(listing)
    actions = _REVOKE_ACTION.findall(page.text)
    assert len(actions) == 1, actions
    response = admin.post(actions[0], data={"csrf_token": csrf_token(page.text)})
    assert response.status_code == 302, response.text[:300]
    _assert_refused_by_every_worker(server, headers)
