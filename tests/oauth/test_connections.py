"""OAuth2 connections in the profile, and what stops them."""

from __future__ import annotations

import re

import requests

from col_auth.core import oauth_clients
from col_auth.extensions import db
from tests.helpers import Browser, csrf_token
from tests.oauth.support import get_code, seed_client


def _tokens(live, seeded) -> dict:
    return requests.post(f"{live.url}/api/o/oauth/v2/token", timeout=10, data={
        "grant_type": "authorization_code", "code": get_code(live, seeded),
        "redirect_uri": seeded.redirect_uri, "client_id": seeded.client_id,
        "client_secret": seeded.client_secret}).json()


def _me(live, access_token) -> int:
    return requests.get(f"{live.url}/api/v1/me", timeout=10,
                        headers={"Authorization": f"Bearer {access_token}"}).status_code


def _refresh(live, seeded, refresh_token) -> requests.Response:
    return requests.post(f"{live.url}/api/o/oauth/v2/token", timeout=10, data={
        "grant_type": "refresh_token", "refresh_token": refresh_token,
        "client_id": seeded.client_id, "client_secret": seeded.client_secret})


def test_revoking_in_profile_stops_access_and_refresh(app, live):
    seeded = seed_client(app)
    tokens = _tokens(live, seeded)
    assert _me(live, tokens["access_token"]) == 200
    browser = Browser(live.url)
    browser.login("member")
    page = browser.get("/profile")
    assert "Sample Module" in page.text and "Sample client" in page.text
    assert "<code>openid</code>" in page.text and "<code>api</code>" in page.text
    action = re.search(r'action="(/profile/connections/[^"]+/revoke)"', page.text).group(1)
    response = browser.post(action, data={"csrf_token": csrf_token(page.text)})
    assert response.status_code == 302
    assert _me(live, tokens["access_token"]) == 401
    assert _refresh(live, seeded, tokens["refresh_token"]).json()["error"] == "invalid_grant"
    assert "Sample client" not in browser.get("/profile").text


def test_disabling_module_or_external_app_or_deleting_client_stops_tokens(app, live):
    seeded = seed_client(app)
    first, second, third = _tokens(live, seeded), _tokens(live, seeded), _tokens(live, seeded)
    with app.app_context():
        module = oauth_clients.get_module_by_name("Sample Module")
        oauth_clients.set_module_enabled(module, False)
        db.session.commit()
    assert _me(live, first["access_token"]) == 401
    assert _me(live, second["access_token"]) == 401
    with app.app_context():
        module = oauth_clients.get_module_by_name("Sample Module")
        oauth_clients.set_module_enabled(module, True)
        db.session.commit()
    fourth = _tokens(live, seeded)
    assert _me(live, fourth["access_token"]) == 200
    with app.app_context():
        module = oauth_clients.get_module_by_name("Sample Module")
        oauth_clients.configure_external_app(module.external_app, enabled=False)
        db.session.commit()
    assert _me(live, fourth["access_token"]) == 401
    with app.app_context():
        module = oauth_clients.get_module_by_name("Sample Module")
        oauth_clients.configure_external_app(module.external_app, enabled=True)
        db.session.commit()
    fifth = _tokens(live, seeded)
    with app.app_context():
        oauth_clients.delete_client(oauth_clients.find_client(seeded.client_id))
        db.session.commit()
    assert _me(live, fifth["access_token"]) == 401
    assert _refresh(live, seeded, fifth["refresh_token"]).status_code == 401
    assert third  # issued before the module was disabled, dead with the rest
    assert _me(live, third["access_token"]) == 401


def test_disabling_a_module_revokes_all_its_grants_in_one_audited_step(app, live):
    import json

    from sqlalchemy import select

    from col_auth.core.models import AuditEvent, Grant

    seeded = seed_client(app)
    for _ in range(3):
        _tokens(live, seeded)
    with app.app_context():
        module = oauth_clients.get_module_by_name("Sample Module")
        oauth_clients.set_module_enabled(module, False)
        db.session.commit()
        assert all(g.revoked_at is not None for g in db.session.scalars(select(Grant)))
        rows = list(db.session.scalars(
            select(AuditEvent).where(AuditEvent.event == "grants_revoked")))
    assert len(rows) == 1
    detail = json.loads(rows[0].detail)
    assert detail["count"] == 3 and detail["reason"] == "module_disabled"
