"""Pending authorization codes die with what they were issued under (issue 9, finding 9).

Disabling a module or its external app, deleting a client, or a client expiring
voids its pending codes; a code of a deactivated user is voided by
``void_codes_of_user``. And redeeming a code checks again, at redemption, that
the client, its external app and module, and the user are still usable.
"""

from __future__ import annotations

from datetime import timedelta

import pytest
import requests
from sqlalchemy import func, select

from col_auth.core import oauth_clients, oauth_tokens
from col_auth.core.clock import now
from col_auth.core.errors import InvalidGrant
from col_auth.core.models import AuthorizationCode, OAuthClient, User
from col_auth.extensions import db
from tests.helpers import Browser, csrf_token
from tests.oauth.support import REDIRECT_URI, get_code, seed_client


def _exchange(live, seeded, code: str) -> requests.Response:
    return requests.post(f"{live.url}/api/o/oauth/v2/token", timeout=10, data={
        "grant_type": "authorization_code", "code": code, "redirect_uri": seeded.redirect_uri,
        "client_id": seeded.client_id, "client_secret": seeded.client_secret})


def _pending_codes(app) -> int:
    with app.app_context():
        return db.session.scalar(select(func.count()).select_from(AuthorizationCode)
                                 .where(AuthorizationCode.used_at.is_(None)))


def _module_id(app) -> str:
    with app.app_context():
        return oauth_clients.get_module_by_name("Sample Module").id


def _admin_post(live, action: str, data: dict) -> None:
    admin = Browser(live.url)
    admin.login("admin")
    module_page = action.split("/state")[0].split("/external-app")[0].split("/clients")[0]
    page = admin.get(module_page)
    assert page.status_code == 200, page.text[:300]
    response = admin.post(action, data={"csrf_token": csrf_token(page.text), **data})
    assert response.status_code == 302, response.text[:300]


def _assert_refused_as_invalid_grant(response: requests.Response) -> None:
    assert response.status_code == 400, response.text
    assert response.json()["error"] == "invalid_grant"


def test_code_does_not_survive_module_disable_and_enable(app, live):
    seeded = seed_client(app)
    code = get_code(live, seeded)
    module = f"/admin/modules/{_module_id(app)}"
    _admin_post(live, f"{module}/state", {"disable": "Disable"})
    _admin_post(live, f"{module}/state", {"enable": "Enable"})
    _assert_refused_as_invalid_grant(_exchange(live, seeded, code))
    assert _pending_codes(app) == 0, "voided with the change, not only refused"
    # A code consented to after the module is back works.
    assert _exchange(live, seeded, get_code(live, seeded)).status_code == 200


def test_code_does_not_survive_external_app_disable_and_enable(app, live):
    seeded = seed_client(app)
    code = get_code(live, seeded)
    module = f"/admin/modules/{_module_id(app)}"
    _admin_post(live, f"{module}/external-app", {"use_module_data": "y"})  # unchecked: off
    _admin_post(live, f"{module}/external-app", {"enabled": "y", "use_module_data": "y"})
    _assert_refused_as_invalid_grant(_exchange(live, seeded, code))
    assert _pending_codes(app) == 0, "voided with the change, not only refused"
    assert _exchange(live, seeded, get_code(live, seeded)).status_code == 200


def test_code_of_a_deleted_client_is_gone(app, live):
    seeded = seed_client(app)
    code = get_code(live, seeded)
    _admin_post(live, f"/admin/modules/{_module_id(app)}/clients/{seeded.client_id}/delete", {})
    assert _pending_codes(app) == 0
    refused = _exchange(live, seeded, code)
    # The client itself is unknown now: client authentication fails first (RFC 6749 §5.2).
    assert refused.status_code == 401 and refused.json()["error"] == "invalid_client"


def test_code_of_an_expired_client_is_refused(app, live, clock):
    seeded = seed_client(app, expires_days=1)
    clock.advance(86400 - 60)
    code = get_code(live, seeded)
    clock.advance(61)  # the client expired while the code was pending
    refused = _exchange(live, seeded, code)
    assert refused.status_code == 401 and refused.json()["error"] == "invalid_client"


# --- the core: checked again at redemption, and voiding a user's codes ------------------


def _pending_code(app, username: str = "Member") -> tuple[str, str]:
    """A fresh code of the seeded client for ``username``: (client_id, code)."""
    with app.app_context():
        client = db.session.scalar(select(OAuthClient))
        user = db.session.scalar(select(User).where(User.username == username))
        code = oauth_tokens.create_code(client, user, redirect_uri=REDIRECT_URI,
                                        scope="openid api", nonce=None, code_challenge=None,
                                        auth_time=now())
        db.session.commit()
        return client.client_id, code


def _expire_client(client) -> None:
    client.expires_at = now() - timedelta(seconds=1)


def _disable_module_only(client) -> None:
    # As a concurrent consent could leave it: the module is off, the code still there.
    client.template.external_app.module.enabled = False


def _disable_external_app_only(client) -> None:
    client.template.external_app.enabled = False


def _deactivate_user(client) -> None:
    db.session.scalar(select(User).where(User.username == "Member")).active = False


@pytest.mark.parametrize("change", [_expire_client, _disable_module_only,
                                    _disable_external_app_only, _deactivate_user])
def test_redemption_checks_client_module_app_and_user_again(app, change):
    seed_client(app)
    client_id, code = _pending_code(app)
    with app.test_request_context():
        client = oauth_clients.find_client(client_id)
        change(client)
        db.session.flush()
        with pytest.raises(InvalidGrant):
            oauth_tokens.redeem_code(client, code, REDIRECT_URI, None)


def test_void_codes_of_user_voids_only_their_pending_codes(app):
    seed_client(app)
    client_id, member_code = _pending_code(app)
    _, admin_code = _pending_code(app, "admin")
    with app.test_request_context():
        member = db.session.scalar(select(User).where(User.username == "Member"))
        assert oauth_tokens.void_codes_of_user(member) == 1
        db.session.commit()
    assert _pending_codes(app) == 1
    with app.test_request_context():
        client = oauth_clients.find_client(client_id)
        with pytest.raises(InvalidGrant):
            oauth_tokens.redeem_code(client, member_code, REDIRECT_URI, None)
        assert oauth_tokens.redeem_code(client, admin_code, REDIRECT_URI, None).access_token


def test_code_does_not_survive_deactivating_and_activating_its_user(app, live):
    seeded = seed_client(app)
    code = get_code(live, seeded)
    runner = app.test_cli_runner()
    for verb in ("deactivate-user", "activate-user"):
        result = runner.invoke(args=[verb, "member"])
        assert result.exit_code == 0, result.output
    assert _pending_codes(app) == 0
    _assert_refused_as_invalid_grant(_exchange(live, seeded, code))
