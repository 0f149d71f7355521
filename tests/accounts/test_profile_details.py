"""The profile's optional details (issue 10, item 1): given and family name, phone
number and postal address, set at /profile/details or by ``create-user``, and
released as OpenID claims only with their scopes (OIDC Core §5.1, §5.4)."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
import requests
from sqlalchemy import select

from col_auth.core import accounts
from col_auth.core.errors import ValidationError
from col_auth.core.models import User
from col_auth.extensions import db
from tests.helpers import Browser, csrf_token, seed
from tests.oauth.support import get_code, seed_client

DETAILS = {"given_name": "Morgan", "family_name": "Member", "phone_number": "+1 (425) 555-1212",
           "address": "  Main Street 1\r\n10115 Berlin  \r\nGermany"}


def _user(app, username: str = "member") -> User:
    with app.app_context():
        user = db.session.scalar(select(User).where(User.username_key == username))
        db.session.expunge_all()
        return user


def _browser(live) -> Browser:
    browser = Browser(live.url)
    browser.login("member")
    return browser


def _save(browser: Browser, **data: str) -> requests.Response:
    return browser.submit("/profile/details", data)


def test_profile_links_to_the_details_page(app, live):
    seed(app)
    page = _browser(live).get("/profile")
    assert 'href="/profile/details"' in page.text


def test_details_page_needs_a_sign_in(app, live):
    seed(app)
    response = Browser(live.url).get("/profile/details")
    assert response.status_code == 302 and "/login" in response.headers["Location"]


def test_saving_details_stores_them_and_moves_updated_at(app, live, clock):
    seed(app)
    browser = _browser(live)
    assert _user(app).updated_at is None
    response = _save(browser, **DETAILS)
    assert response.status_code == 302, response.text[:500]
    assert response.headers["Location"].endswith("/profile")
    user = _user(app)
    assert (user.given_name, user.family_name, user.phone_number) == (
        "Morgan", "Member", "+1 (425) 555-1212")
    # The textarea's "\r\n" become "\n", each line trimmed (the claim's ``formatted``).
    assert user.address == "Main Street 1\n10115 Berlin\nGermany"
    assert user.updated_at == clock()
    # Shown again, filled in.
    page = browser.get("/profile/details").text
    assert 'value="Morgan"' in page and "10115 Berlin" in page

    clock.advance(60)
    assert _save(browser, **DETAILS).status_code == 302  # the same again: no change
    assert _user(app).updated_at == clock() - timedelta(seconds=60)
    assert _save(browser, **{**DETAILS, "phone_number": ""}).status_code == 302  # cleared
    assert _user(app).phone_number == "" and _user(app).updated_at == clock()


@pytest.mark.parametrize(("name", "value", "says"), [
    ("given_name", "g" * 101, "100"),
    ("family_name", "f" * 101, "100"),
    ("phone_number", "1" * 41, "40"),
    ("phone_number", "call me maybe", "phone"),
    ("phone_number", "12", "phone"),
    ("address", "a" * 501, "500"),
    ("given_name", "Mor\u0007gan", "control character"),
])
def test_bad_details_are_refused_and_nothing_is_stored(app, live, name, value, says):
    seed(app)
    browser = _browser(live)
    response = _save(browser, **{**DETAILS, name: value})
    assert response.status_code == 400, (name, response.status_code)
    assert says in response.text
    user = _user(app)
    assert user.given_name == "" and user.phone_number == "" and user.updated_at is None


def test_the_core_refuses_an_address_longer_than_it_keeps(app):
    seed(app)
    with app.app_context():
        user = db.session.scalar(select(User).where(User.username_key == "member"))
        accounts.update_details(user, address="a" * accounts.MAX_ADDRESS_LENGTH)
        with pytest.raises(ValidationError) as caught:
            accounts.update_details(user, address="a" * (accounts.MAX_ADDRESS_LENGTH + 1))
        assert caught.value.code == "invalid_address"
        with pytest.raises(ValidationError):
            accounts.update_details(user, address="Main Street\x00 1")
        db.session.rollback()


@pytest.mark.parametrize("phone", ["+1 (425) 555-1212", "+4930123456", "030 1234567 ext. 12",
                                   "555-0100 x7", "+49 30/123.456", "+1 425 555 1212;ext=5"])
def test_phone_numbers_as_people_write_them(app, phone):
    seed(app)
    with app.app_context():
        user = db.session.scalar(select(User).where(User.username_key == "member"))
        assert accounts.update_details(user, phone_number=f" {phone} ") is True
        assert user.phone_number == phone
        db.session.rollback()


def test_forged_details_post_without_csrf_is_refused(app, live):
    seed(app)
    browser = _browser(live)
    response = browser.post("/profile/details", data=DETAILS)
    assert response.status_code == 400
    token = csrf_token(browser.get("/profile").text)
    assert browser.post("/profile/details", data={**DETAILS, "csrf_token": token}
                        ).status_code == 302
    assert _user(app).given_name == "Morgan"


def test_create_user_takes_the_details(app):
    runner = app.test_cli_runner()
    assert runner.invoke(args=["create-site", "Sample CU"]).exit_code == 0
    result = runner.invoke(args=[
        "create-user", "dee", "--site", "Sample CU", "--password", "pw", "--json",
        "--given-name", "Dee", "--family-name", "Veloper", "--phone", "+49 30 1234567",
        "--address", "Main Street 1\\n10115 Berlin"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.output)["username"] == "dee"
    user = _user(app, "dee")
    assert (user.given_name, user.family_name, user.phone_number, user.address) == (
        "Dee", "Veloper", "+49 30 1234567", "Main Street 1\n10115 Berlin")
    bad = runner.invoke(args=["create-user", "eve", "--site", "Sample CU", "--password", "pw",
                              "--phone", "not a number"])
    assert bad.exit_code != 0 and "invalid_phone_number" in bad.output
    assert _user(app, "eve") is None


def test_details_reach_userinfo_only_with_their_scopes(app, live):
    seeded = seed_client(app)
    assert _save(_browser(live), **DETAILS).status_code == 302

    def claims(scope: str) -> dict:
        code = get_code(live, seeded, scope=scope)
        tokens = requests.post(f"{live.url}/api/o/oauth/v2/token", timeout=10, data={
            "grant_type": "authorization_code", "code": code,
            "redirect_uri": seeded.redirect_uri, "client_id": seeded.client_id,
            "client_secret": seeded.client_secret}).json()
        return requests.get(f"{live.url}/api/o/oauth/v2/userinfo", timeout=10, headers={
            "Authorization": f"Bearer {tokens['access_token']}"}).json()

    everything = claims("openid profile phone address")
    assert everything["given_name"] == "Morgan" and everything["family_name"] == "Member"
    assert everything["phone_number"] == "+1 (425) 555-1212"
    assert everything["address"] == {"formatted": "Main Street 1\n10115 Berlin\nGermany"}
    assert isinstance(everything["updated_at"], int)
    bare = claims("openid")
    assert not {"given_name", "family_name", "phone_number", "address"} & set(bare)
