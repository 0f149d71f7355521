"""A retry inside ``REFRESH_GRACE`` never forks the refresh chain (issue 9, finding 10).

Answering a rotated refresh token again within the grace revokes what its earlier
use issued (refresh and access token), so a chain has at most one live refresh
token at any moment; each such retry is counted in the metrics.
"""

from __future__ import annotations

import pytest
import requests
from prometheus_client import REGISTRY
from sqlalchemy import func, select

from col_auth.core.models import TOKEN_REFRESH, Token
from col_auth.extensions import db
from tests.oauth.support import get_code, seed_client

GRACE = 30


@pytest.fixture
def app_config() -> dict:
    return {"REFRESH_GRACE": GRACE}


def _token(live, seeded, **data) -> requests.Response:
    data.update(client_id=seeded.client_id, client_secret=seeded.client_secret)
    return requests.post(f"{live.url}/api/o/oauth/v2/token", data=data, timeout=10)


def _refresh(live, seeded, refresh_token: str) -> requests.Response:
    return _token(live, seeded, grant_type="refresh_token", refresh_token=refresh_token)


def _first_pair(live, seeded) -> dict:
    response = _token(live, seeded, grant_type="authorization_code",
                      code=get_code(live, seeded), redirect_uri=seeded.redirect_uri)
    assert response.status_code == 200, response.text
    return response.json()


def _me(live, access_token: str) -> int:
    return requests.get(f"{live.url}/api/v1/me", timeout=10,
                        headers={"Authorization": f"Bearer {access_token}"}).status_code


def _active(live, seeded, token: str) -> bool:
    response = requests.post(f"{live.url}/api/o/oauth/v2/introspect", timeout=10, data={
        "token": token, "client_id": seeded.client_id, "client_secret": seeded.client_secret})
    assert response.status_code == 200, response.text
    return response.json()["active"]


def _live_refresh_tokens(app) -> int:
    with app.app_context():
        return db.session.scalar(select(func.count()).select_from(Token).where(
            Token.kind == TOKEN_REFRESH, Token.revoked_at.is_(None),
            Token.rotated_at.is_(None)))


def _grace_retries() -> float:
    return REGISTRY.get_sample_value("col_auth_replays_detected_total",
                                     {"kind": "refresh_grace_retry"}) or 0.0


def test_retry_within_grace_revokes_the_successor_of_the_first_use(app, live, clock):
    seeded = seed_client(app)
    rt0 = _first_pair(live, seeded)["refresh_token"]
    clock.advance(1)
    first = _refresh(live, seeded, rt0)
    assert first.status_code == 200
    rt1, at1 = first.json()["refresh_token"], first.json()["access_token"]
    clock.advance(5)
    retry = _refresh(live, seeded, rt0)
    assert retry.status_code == 200, retry.text
    rt2, at2 = retry.json()["refresh_token"], retry.json()["access_token"]

    refused = _refresh(live, seeded, rt1)
    assert refused.status_code == 400 and refused.json()["error"] == "invalid_grant"
    assert _me(live, at1) == 401
    assert not _active(live, seeded, at1) and not _active(live, seeded, rt1)
    assert _me(live, at2) == 200 and _active(live, seeded, rt2)
    assert _refresh(live, seeded, rt2).status_code == 200


def test_a_chain_of_retries_leaves_exactly_one_live_refresh_token(app, live, clock):
    seeded = seed_client(app)
    rt0 = _first_pair(live, seeded)["refresh_token"]
    clock.advance(1)
    issued = [_refresh(live, seeded, rt0).json()["refresh_token"]]
    for _ in range(4):
        clock.advance(2)
        retry = _refresh(live, seeded, rt0)
        assert retry.status_code == 200, retry.text
        issued.append(retry.json()["refresh_token"])
        assert _live_refresh_tokens(app) == 1
    # The one live token is the newest; every earlier successor is refused.
    for stale in issued[:-1]:
        assert _refresh(live, seeded, stale).json()["error"] == "invalid_grant"
    assert _refresh(live, seeded, issued[-1]).status_code == 200
    assert _live_refresh_tokens(app) == 1


def test_a_retry_of_a_middle_token_revokes_only_what_came_after_it(app, live, clock):
    seeded = seed_client(app)
    rt0 = _first_pair(live, seeded)["refresh_token"]
    clock.advance(1)
    rt1 = _refresh(live, seeded, rt0).json()
    clock.advance(GRACE + 1)  # rt0's grace is over; rt1 is rotated much later
    rt2 = _refresh(live, seeded, rt1["refresh_token"]).json()
    clock.advance(1)
    retry = _refresh(live, seeded, rt1["refresh_token"])
    assert retry.status_code == 200, retry.text
    assert _me(live, rt2["access_token"]) == 401
    assert _refresh(live, seeded, rt2["refresh_token"]).json()["error"] == "invalid_grant"
    assert _me(live, rt1["access_token"]) == 200, "issued before the retried use: kept"
    assert _live_refresh_tokens(app) == 1


def test_grace_retries_are_counted(app, live, clock):
    seeded = seed_client(app)
    rt0 = _first_pair(live, seeded)["refresh_token"]
    before = _grace_retries()
    assert _refresh(live, seeded, rt0).status_code == 200
    assert _grace_retries() == before, "a first use is no retry"
    clock.advance(1)
    assert _refresh(live, seeded, rt0).status_code == 200
    assert _grace_retries() == before + 1
