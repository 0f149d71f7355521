"""Issue 10 item 1: the OpenID identity scopes and their claims (OIDC Core §5.4,
§3.1.2.1), as the conformance suite's oidcc-scope-* modules ask for them."""

from __future__ import annotations

import pytest

from col_auth.core import accounts
from col_auth.extensions import db
from tests.oauth.conformance import (
    authorize,
    code_after_consent,
    id_token_claims,
    is_consent_page,
    member,
    redirect_values,
    tokens,
    userinfo,
)
from tests.oauth.support import seed_client

PHONE = "+1 555 0100"
ADDRESS = "1 Main Street\nSpringfield"


def _complete_account(app) -> None:
    with app.app_context():
        user = accounts.get_user_by_username("member")
        user.given_name, user.family_name = "Morgan", "Member"
        user.phone_number, user.address = PHONE, ADDRESS
        db.session.commit()


def _flow(app, live, scope: str, *, template: str = "openid api",
          complete: bool = False) -> tuple[dict, dict, dict]:
    """Token response, id_token claims and UserInfo claims for ``scope``; ``complete``
    gives the account every optional claim first."""
    seeded = seed_client(app, scopes=template)
    if complete:
        _complete_account(app)
    issued = tokens(live, seeded, code_after_consent(member(live), live, seeded, scope=scope))
    claims = id_token_claims(live, seeded, issued["id_token"]) if "id_token" in issued else {}
    info = userinfo(live, issued["access_token"])
    return issued, claims, (info.json() if info.status_code == 200 else {})


def test_oidcc_scope_profile(app, live):
    issued, claims, info = _flow(app, live, "openid profile", complete=True)
    assert issued["scope"] == "openid profile"
    for source in (claims, info):
        assert source["name"] == "Morgan Member"
        assert source["preferred_username"] == "Member"
        assert source["given_name"] == "Morgan" and source["family_name"] == "Member"
        assert isinstance(source["updated_at"], int)
        assert "phone_number" not in source and "address" not in source


def test_oidcc_scope_email(app, live):
    issued, claims, info = _flow(app, live, "openid email")
    assert issued["scope"] == "openid email"
    for source in (claims, info):
        assert source["email"] == "m@sample.example"
        assert source["email_verified"] is True


def test_oidcc_scope_address(app, live):
    issued, claims, info = _flow(app, live, "openid address", complete=True)
    assert issued["scope"] == "openid address"
    for source in (claims, info):
        assert source["address"] == {"formatted": ADDRESS}


def test_oidcc_scope_phone(app, live):
    issued, claims, info = _flow(app, live, "openid phone", complete=True)
    assert issued["scope"] == "openid phone"
    for source in (claims, info):
        assert source["phone_number"] == PHONE
        assert source["phone_number_verified"] is False


def test_oidcc_scope_all(app, live):
    issued, claims, info = _flow(app, live, "openid profile email address phone", complete=True)
    assert issued["scope"] == "openid profile email address phone"
    for source in (claims, info):
        assert {"given_name", "email", "email_verified", "address", "phone_number"} <= set(source)


def test_claims_an_account_does_not_have_are_absent_not_empty(app, live):
    """OIDC Core §5.1: a claim with no value is left out."""
    _issued, claims, info = _flow(app, live, "openid profile address phone")
    for source in (claims, info):
        assert not {"given_name", "family_name", "address", "phone_number"} & set(source)


def test_openid_alone_gives_the_contract_claims_and_no_more(app, live):
    _issued, claims, info = _flow(app, live, "openid", complete=True)
    for source in (claims, info):
        assert {"sub", "email", "company", "name", "preferred_username"} <= set(source)
        assert not {"given_name", "phone_number", "address", "email_verified"} & set(source)


def test_oidcc_ensure_other_scope_order_succeeds(app, live):
    issued, claims, info = _flow(app, live, "email openid")
    assert issued["scope"] == "openid email"
    assert claims["email"] == info["email"] == "m@sample.example"


def test_offline_access_is_granted_with_openid_and_gives_a_refresh_token(app, live):
    """The Elements Connect seed: "the offline_access scope must be part of the
    requested scopes to get a refresh token"."""
    issued, _claims, _info = _flow(app, live, "openid profile email offline_access")
    assert issued["scope"] == "openid profile email offline_access"
    assert issued["refresh_token"]


@pytest.mark.parametrize(("asked", "granted"), [
    ("openid profile email unknown-scope", "openid profile email"),
    ("openid https://example.org/scope", "openid"),
    ("openid api write:everything", "openid api"),
])
def test_unknown_scopes_are_ignored_and_the_granted_scope_says_so(app, live, asked, granted):
    issued, _claims, _info = _flow(app, live, asked)
    assert issued["scope"] == granted


def test_identity_scopes_need_openid(app, live):
    issued, _claims, _info = _flow(app, live, "api profile email", template="api")
    assert issued["scope"] == "api"
    assert "id_token" not in issued


def test_the_template_still_bounds_the_access_levels(app, live):
    seeded = seed_client(app, scopes="openid")
    response = authorize(member(live), live, seeded, scope="openid profile api")
    assert redirect_values(response, seeded)["error"] == "invalid_scope"


def test_consent_page_lists_the_identity_scopes(app, live):
    seeded = seed_client(app)
    page = authorize(member(live), live, seeded, scope="openid profile email phone address")
    assert is_consent_page(page)
    for scope in ("profile", "email", "phone", "address"):
        assert f"<strong>{scope}</strong>" in page.text


def test_discovery_lists_the_scopes_and_claims(app, live):
    import requests

    meta = requests.get(f"{live.url}/.well-known/openid-configuration", timeout=10).json()
    assert set(meta["scopes_supported"]) == {"openid", "profile", "email", "address", "phone",
                                             "offline_access", "api"}
    assert {"given_name", "family_name", "updated_at", "email_verified", "phone_number",
            "address"} <= set(meta["claims_supported"])
