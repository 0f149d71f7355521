"""``col-auth purge``: expired codes and tokens go, live ones stay."""

from __future__ import annotations

import json

import pytest
from sqlalchemy import func, select

from col_auth.core.models import AuthorizationCode, Token
from col_auth.extensions import db
from tests.oauth.support import get_code, seed_client


def _count(app, model) -> int:
    with app.app_context():
        return db.session.scalar(select(func.count()).select_from(model))


def test_purge_deletes_only_expired_codes_and_tokens(app, live, clock):
    import requests

    seeded = seed_client(app)
    tokens = requests.post(f"{live.url}/api/o/oauth/v2/token", timeout=10, data={
        "grant_type": "authorization_code", "code": get_code(live, seeded),
        "redirect_uri": seeded.redirect_uri, "client_id": seeded.client_id,
        "client_secret": seeded.client_secret}).json()
    get_code(live, seeded)  # a second code, never redeemed
    assert _count(app, AuthorizationCode) == 2
    assert _count(app, Token) == 2  # an access and a refresh token
    clock.advance(601)  # codes and the access token have expired
    result = app.test_cli_runner().invoke(args=["purge", "--json", "--batch-size", "1"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.output) == {"codes": 2, "tokens": 1, "sessions": 0}
    assert _count(app, AuthorizationCode) == 0
    assert _count(app, Token) == 1
    refreshed = requests.post(f"{live.url}/api/o/oauth/v2/token", timeout=10, data={
        "grant_type": "refresh_token", "refresh_token": tokens["refresh_token"],
        "client_id": seeded.client_id, "client_secret": seeded.client_secret})
    assert refreshed.status_code == 200


@pytest.fixture
def app_config(request):
    return getattr(request, "param", {})


@pytest.mark.parametrize("app_config", [{"PURGE_CHANCE": 1, "PURGE_BATCH_SIZE": 10}],
                         indirect=True)
def test_token_requests_purge_opportunistically(app, live, clock):
    import requests

    seeded = seed_client(app)
    get_code(live, seeded)  # expires unused
    clock.advance(601)
    code = get_code(live, seeded)
    assert _count(app, AuthorizationCode) == 2
    response = requests.post(f"{live.url}/api/o/oauth/v2/token", timeout=10, data={
        "grant_type": "authorization_code", "code": code, "redirect_uri": seeded.redirect_uri,
        "client_id": seeded.client_id, "client_secret": seeded.client_secret})
    assert response.status_code == 200
    assert _count(app, AuthorizationCode) == 1, "the expired code was purged, the used one kept"


def test_purge_deletes_expired_sign_in_sessions(app, live, clock):
    from col_auth.core.models import LoginSession
    from tests.helpers import Browser, seed

    seed(app)
    early, late = Browser(live.url), Browser(live.url)
    early.login("member")
    clock.advance(app.config["SESSION_LIFETIME"] - 60)
    late.login("admin")
    clock.advance(120)  # the first session has expired, the second has not
    result = app.test_cli_runner().invoke(args=["purge", "--json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.output)["sessions"] == 1
    assert _count(app, LoginSession) == 1
    assert early.get("/profile").status_code == 302
    assert late.get("/profile").status_code == 200
