"""Single-use codes, refresh rotation with replay detection, and the grace setting."""

from __future__ import annotations

import pytest
import requests
from sqlalchemy import select

from col_auth.core.models import AuditEvent
from col_auth.extensions import db
from tests.oauth.support import get_code, seed_client


def _token(live, seeded, **data) -> requests.Response:
    data.setdefault("client_id", seeded.client_id)
    data.setdefault("client_secret", seeded.client_secret)
    return requests.post(f"{live.url}/api/o/oauth/v2/token", data=data, timeout=10)


def _exchange(live, seeded, code) -> requests.Response:
    return _token(live, seeded, grant_type="authorization_code", code=code,
                  redirect_uri=seeded.redirect_uri)


def _me(live, access_token) -> int:
    return requests.get(f"{live.url}/api/v1/me", timeout=10,
                        headers={"Authorization": f"Bearer {access_token}"}).status_code


def _events(app) -> list[str]:
    with app.app_context():
        return list(db.session.scalars(select(AuditEvent.event)))


def test_second_use_of_code_fails_and_revokes_tokens(app, live):
    seeded = seed_client(app)
    code = get_code(live, seeded)
    first = _exchange(live, seeded, code)
    assert first.status_code == 200
    tokens = first.json()
    assert _me(live, tokens["access_token"]) == 200
    second = _exchange(live, seeded, code)
    assert second.status_code == 400
    assert second.json()["error"] == "invalid_grant"
    assert _me(live, tokens["access_token"]) == 401
    refresh = _token(live, seeded, grant_type="refresh_token",
                     refresh_token=tokens["refresh_token"])
    assert refresh.json()["error"] == "invalid_grant"
    assert "code_replay" in _events(app)


def test_replayed_refresh_token_revokes_the_chain(app, live):
    seeded = seed_client(app)
    tokens = _exchange(live, seeded, get_code(live, seeded)).json()
    rotated = _token(live, seeded, grant_type="refresh_token",
                     refresh_token=tokens["refresh_token"])
    assert rotated.status_code == 200
    new = rotated.json()
    replay = _token(live, seeded, grant_type="refresh_token",
                    refresh_token=tokens["refresh_token"])
    assert replay.status_code == 400 and replay.json()["error"] == "invalid_grant"
    # The whole chain is dead: the newest refresh token and its access token too.
    assert _me(live, new["access_token"]) == 401
    again = _token(live, seeded, grant_type="refresh_token", refresh_token=new["refresh_token"])
    assert again.json()["error"] == "invalid_grant"
    assert "refresh_replay" in _events(app)


@pytest.fixture
def app_config(request):
    return getattr(request, "param", {})


@pytest.mark.parametrize("app_config", [{"REFRESH_GRACE": 30}], indirect=True)
def test_retry_within_grace_is_answered_not_treated_as_theft(app, live, clock):
    seeded = seed_client(app)
    tokens = _exchange(live, seeded, get_code(live, seeded)).json()
    first = _token(live, seeded, grant_type="refresh_token",
                   refresh_token=tokens["refresh_token"])
    assert first.status_code == 200
    clock.advance(10)
    retry = _token(live, seeded, grant_type="refresh_token",
                   refresh_token=tokens["refresh_token"])
    assert retry.status_code == 200, retry.text
    # The retry supersedes what the first use issued: one live pair per chain.
    assert _me(live, first.json()["access_token"]) == 401
    assert _me(live, retry.json()["access_token"]) == 200
    clock.advance(30)
    late = _token(live, seeded, grant_type="refresh_token",
                  refresh_token=tokens["refresh_token"])
    assert late.json()["error"] == "invalid_grant"
    assert _me(live, retry.json()["access_token"]) == 401


def test_grace_defaults_to_zero(app, live):
    assert app.config["REFRESH_GRACE"] == 0
    seeded = seed_client(app)
    tokens = _exchange(live, seeded, get_code(live, seeded)).json()
    assert _token(live, seeded, grant_type="refresh_token",
                  refresh_token=tokens["refresh_token"]).status_code == 200
    retry = _token(live, seeded, grant_type="refresh_token",
                   refresh_token=tokens["refresh_token"])
    assert retry.json()["error"] == "invalid_grant"


def test_tokens_never_outlive_the_client(app, live, clock):
    seeded = seed_client(app, expires_days=1)
    response = _exchange(live, seeded, get_code(live, seeded))
    assert response.status_code == 200
    assert response.json()["expires_in"] == 600
    clock.advance(86400 - 100)
    refreshed = _token(live, seeded, grant_type="refresh_token",
                       refresh_token=response.json()["refresh_token"])
    assert refreshed.status_code == 200
    # Only 100 seconds of the client remain: the access token is capped to them.
    assert refreshed.json()["expires_in"] == 100
    clock.advance(101)
    assert _me(live, refreshed.json()["access_token"]) == 401
    expired = _token(live, seeded, grant_type="refresh_token",
                     refresh_token=refreshed.json()["refresh_token"])
    assert expired.status_code == 401 and expired.json()["error"] == "invalid_client"
