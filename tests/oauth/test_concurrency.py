"""Many requests at once over HTTP: of 20 redemptions of one code, or 20 refreshes of
one refresh token, exactly one wins, on SQLite and on PostgreSQL; 20 retries of one
refresh token within ``REFRESH_GRACE`` leave one live refresh token."""

from __future__ import annotations

import threading

import pytest
import requests
from sqlalchemy import func, select

from col_auth.core.models import TOKEN_REFRESH, Token
from col_auth.extensions import db
from tests.oauth.support import get_code, seed_client

ATTEMPTS = 20


def _race(url: str, data: dict) -> list[int]:
    barrier = threading.Barrier(ATTEMPTS)
    statuses: list[int] = []
    lock = threading.Lock()

    def attempt() -> None:
        barrier.wait()
        status = requests.post(url, data=data, timeout=60).status_code
        with lock:
            statuses.append(status)

    threads = [threading.Thread(target=attempt) for _ in range(ATTEMPTS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(90)
    return statuses


def test_twenty_concurrent_redemptions_of_one_code_have_one_winner(app, live):
    seeded = seed_client(app)
    code = get_code(live, seeded)
    statuses = _race(f"{live.url}/api/o/oauth/v2/token", {
        "grant_type": "authorization_code", "code": code, "redirect_uri": seeded.redirect_uri,
        "client_id": seeded.client_id, "client_secret": seeded.client_secret})
    assert len(statuses) == ATTEMPTS
    assert statuses.count(200) == 1, statuses
    assert statuses.count(400) == ATTEMPTS - 1, statuses


def test_twenty_concurrent_refreshes_of_one_token_have_one_winner(app, live):
    seeded = seed_client(app)
    tokens = requests.post(f"{live.url}/api/o/oauth/v2/token", timeout=10, data={
        "grant_type": "authorization_code", "code": get_code(live, seeded),
        "redirect_uri": seeded.redirect_uri, "client_id": seeded.client_id,
        "client_secret": seeded.client_secret}).json()
    statuses = _race(f"{live.url}/api/o/oauth/v2/token", {
        "grant_type": "refresh_token", "refresh_token": tokens["refresh_token"],
        "client_id": seeded.client_id, "client_secret": seeded.client_secret})
    assert len(statuses) == ATTEMPTS
    assert statuses.count(200) == 1, statuses
    assert statuses.count(400) == ATTEMPTS - 1, statuses


@pytest.fixture
def app_config(request):
    return getattr(request, "param", {})


@pytest.mark.parametrize("app_config", [{"REFRESH_GRACE": 30}], indirect=True)
def test_concurrent_retries_within_grace_leave_one_live_refresh_token(app, live):
    seeded = seed_client(app)
    url = f"{live.url}/api/o/oauth/v2/token"
    credentials = {"client_id": seeded.client_id, "client_secret": seeded.client_secret}
    tokens = requests.post(url, timeout=10, data={
        "grant_type": "authorization_code", "code": get_code(live, seeded),
        "redirect_uri": seeded.redirect_uri, **credentials}).json()
    statuses = _race(url, {"grant_type": "refresh_token",
                           "refresh_token": tokens["refresh_token"], **credentials})
    assert statuses == [200] * ATTEMPTS, statuses
    with app.app_context():
        live_refresh = db.session.scalar(select(func.count()).select_from(Token).where(
            Token.kind == TOKEN_REFRESH, Token.revoked_at.is_(None),
            Token.rotated_at.is_(None)))
    assert live_refresh == 1
