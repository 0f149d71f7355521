"""The token response the seeds' integration platforms read (issue 10, item 6).

- ``issued_at`` (seconds since the epoch) in every token response, first exchange
  and refresh: the iPaaS document reads it with ``expires_in`` to schedule refreshes.
- The refresh token's ``REFRESH_TTL`` (14 days) runs from the grant, not from the
  last rotation (ELMA365: "valid for 14 days; after that, the user will need to
  authorize again"); ``REFRESH_SLIDING`` makes each rotation start it afresh.

Named after the OpenID conformance suite's token-response checks where one exists
(``oidcc-server`` checks the token endpoint's answer in every module); the anchor
has no module of its own there.
"""

from __future__ import annotations

from datetime import timedelta

import pytest
import requests
from sqlalchemy import select, update

from col_auth import config
from col_auth.core.clock import to_epoch
from col_auth.core.models import TOKEN_REFRESH, Grant, Token
from col_auth.extensions import db
from tests.oauth.support import get_code, seed_client

V2 = "/api/o/oauth/v2"
DAY = 24 * 3600


def _token(live, seeded, **data) -> requests.Response:
    data.update(client_id=seeded.client_id, client_secret=seeded.client_secret)
    return requests.post(f"{live.url}{V2}/token", data=data, timeout=10)


def _first(live, seeded) -> dict:
    response = _token(live, seeded, grant_type="authorization_code",
                      code=get_code(live, seeded), redirect_uri=seeded.redirect_uri)
    assert response.status_code == 200, response.text
    return response.json()


def _refresh(live, seeded, refresh_token: str) -> requests.Response:
    return _token(live, seeded, grant_type="refresh_token", refresh_token=refresh_token)


def _introspect(live, seeded, token: str) -> dict:
    response = requests.post(f"{live.url}{V2}/introspect", timeout=10, data={
        "token": token, "client_id": seeded.client_id, "client_secret": seeded.client_secret})
    assert response.status_code == 200, response.text
    return response.json()


def _grant_created_at(app):
    with app.app_context():
        return db.session.scalar(select(Grant.created_at))


# --- issued_at ------------------------------------------------------------------------


def test_oidcc_token_response_has_issued_at_on_code_exchange(app, live, clock):
    seeded = seed_client(app)
    body = _first(live, seeded)
    assert isinstance(body["issued_at"], int) and not isinstance(body["issued_at"], bool)
    assert body["issued_at"] == to_epoch(clock())
    # The moment the tokens were issued: the access token's introspected ``iat``.
    assert _introspect(live, seeded, body["access_token"])["iat"] == body["issued_at"]
    assert body["expires_in"] == int(app.config["ACCESS_TTL"])


def test_oidcc_token_response_has_issued_at_after_refresh(app, live, clock):
    seeded = seed_client(app)
    first = _first(live, seeded)
    clock.advance(3600)
    response = _refresh(live, seeded, first["refresh_token"])
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["issued_at"] == to_epoch(clock()) == first["issued_at"] + 3600
    assert _introspect(live, seeded, body["access_token"])["iat"] == body["issued_at"]
    assert body["expires_in"] == int(app.config["ACCESS_TTL"])


# --- the refresh anchor ---------------------------------------------------------------


def test_refresh_chain_ends_refresh_ttl_after_the_grant(app, live, clock):
    """Refreshed every three days, the chain still dies 14 days after the consent."""
    seeded = seed_client(app)
    ttl = int(app.config["REFRESH_TTL"])
    body = _first(live, seeded)
    anchor = to_epoch(_grant_created_at(app)) + ttl
    assert _introspect(live, seeded, body["refresh_token"])["exp"] == anchor
    for _ in range(4):  # days 3, 6, 9, 12
        clock.advance(3 * DAY)
        response = _refresh(live, seeded, body["refresh_token"])
        assert response.status_code == 200, response.text
        body = response.json()
        # Every refresh token of the chain expires at the same moment.
        assert _introspect(live, seeded, body["refresh_token"])["exp"] == anchor
    clock.advance(ttl - 12 * DAY - 60)  # a minute before the end: still good
    response = _refresh(live, seeded, body["refresh_token"])
    assert response.status_code == 200, response.text
    body = response.json()
    assert _introspect(live, seeded, body["refresh_token"])["exp"] == anchor
    clock.advance(61)
    refused = _refresh(live, seeded, body["refresh_token"])
    assert refused.status_code == 400 and refused.json()["error"] == "invalid_grant", \
        refused.text
    assert _introspect(live, seeded, body["refresh_token"]) == {"active": False}


def test_sliding_refresh_chain_lives_on(app, live, clock):
    app.config["REFRESH_SLIDING"] = True
    seeded = seed_client(app)
    ttl = int(app.config["REFRESH_TTL"])
    body = _first(live, seeded)
    for _ in range(10):  # 30 days, twice REFRESH_TTL
        clock.advance(3 * DAY)
        response = _refresh(live, seeded, body["refresh_token"])
        assert response.status_code == 200, response.text
        body = response.json()
        assert _introspect(live, seeded, body["refresh_token"])["exp"] == \
            to_epoch(clock()) + ttl
    # Sliding still ends REFRESH_TTL after the last rotation.
    clock.advance(ttl + 1)
    assert _refresh(live, seeded, body["refresh_token"]).json()["error"] == "invalid_grant"


def test_anchored_chain_is_capped_by_the_clients_expiry(app, live, clock):
    start = clock()
    seeded = seed_client(app, expires_days=5)
    body = _first(live, seeded)
    clock.advance(3 * DAY)
    response = _refresh(live, seeded, body["refresh_token"])
    assert response.status_code == 200
    exp = _introspect(live, seeded, response.json()["refresh_token"])["exp"]
    assert exp == to_epoch(start + timedelta(days=5))


def test_a_refresh_token_outliving_its_grants_ttl_is_refused(app, live, clock):
    """A refresh token stored with a later expiry (issued while sliding was on) does
    not extend an anchored chain: the grant's age decides."""
    seeded = seed_client(app)
    body = _first(live, seeded)
    with app.app_context():
        db.session.execute(update(Token).where(Token.kind == TOKEN_REFRESH)
                           .values(expires_at=clock() + timedelta(days=100)))
        db.session.commit()
    clock.advance(int(app.config["REFRESH_TTL"]) + 1)
    refused = _refresh(live, seeded, body["refresh_token"])
    assert refused.status_code == 400 and refused.json()["error"] == "invalid_grant"
    assert "authorize again" in refused.json()["error_description"]


@pytest.mark.parametrize(("value", "expected"), [
    (True, True), (False, False), ("true", True), ("True", True), ("1", True), ("yes", True),
    ("on", True), ("false", False), ("False", False), ("0", False), ("no", False),
    ("off", False), ("", False), (None, False), (1, True), (0, False)])
def test_refresh_sliding_setting_parses_like_a_flag(value, expected):
    assert config.flag_setting(value) is expected


def test_a_flag_setting_refuses_what_it_cannot_read():
    with pytest.raises(ValueError, match="maybe"):
        config.flag_setting("maybe")


def test_a_bad_refresh_sliding_value_stops_the_app_at_start(tmp_path):
    from col_auth import create_app

    with pytest.raises(ValueError, match="maybe"):
        create_app({"INSTANCE_PATH": str(tmp_path), "REFRESH_SLIDING": "maybe",
                    "DATABASE_URL": f"sqlite:///{tmp_path}/x.sqlite"})
    assert create_app({"INSTANCE_PATH": str(tmp_path), "REFRESH_SLIDING": "True",
                       "DATABASE_URL": f"sqlite:///{tmp_path}/x.sqlite"})
