"""Sign-in sessions end on the server (issue 9, finding 3): a cookie kept after logout,
after "Sign out everywhere", a password change or deactivation, or past the session
lifetime opens nothing, on whichever worker it is replayed."""

from __future__ import annotations

import pytest

from col_auth.core import accounts
from col_auth.extensions import db
from tests.helpers import PASSWORD, Browser, seed

NEW_PASSWORD = "another correct horse"


def _signed_in(browser: Browser) -> bool:
    return browser.get("/profile").status_code == 200


def _copy(browser: Browser, base: str) -> Browser:
    """Another browser holding the same cookies: what an attacker keeps."""
    thief = Browser(base)
    thief.session.cookies.update(browser.session.cookies)
    return thief


def test_a_cookie_kept_after_logout_opens_nothing(app, live):
    seed(app)
    browser = Browser(live.url)
    browser.login("member")
    kept = _copy(browser, live.url)
    assert _signed_in(kept)
    assert browser.submit("/logout", {}).status_code == 302
    assert not _signed_in(browser)
    assert not _signed_in(kept), "the old cookie still opened the profile"


def test_logout_ends_only_that_session(app, live):
    seed(app)
    laptop, phone = Browser(live.url), Browser(live.url)
    laptop.login("member")
    phone.login("member")
    laptop.submit("/logout", {})
    assert not _signed_in(laptop)
    assert _signed_in(phone)


def test_sign_out_everywhere_ends_every_session_of_the_user(app, live):
    seed(app)
    laptop, phone, admin = Browser(live.url), Browser(live.url), Browser(live.url)
    laptop.login("member")
    phone.login("member")
    admin.login("admin")
    page = laptop.get("/profile")
    assert "Sign out everywhere" in page.text
    response = laptop.submit("/profile", {}, action="/profile/sign-out-everywhere")
    assert response.status_code == 302
    assert not _signed_in(laptop)
    assert not _signed_in(phone)
    assert _signed_in(admin), "another user's session is untouched"


def test_sign_out_everywhere_needs_a_csrf_token(app, live):
    seed(app)
    browser = Browser(live.url)
    browser.login("member")
    assert browser.post("/profile/sign-out-everywhere").status_code == 400
    assert _signed_in(browser)


def test_changing_the_password_ends_every_session(app, live):
    seed(app)
    laptop, phone = Browser(live.url), Browser(live.url)
    laptop.login("member")
    phone.login("member")
    response = laptop.submit("/profile/password", {
        "current_password": PASSWORD, "new_password": NEW_PASSWORD,
        "confirm_password": NEW_PASSWORD})
    assert response.status_code == 302
    assert not _signed_in(phone)
    assert not _signed_in(laptop)
    fresh = Browser(live.url)
    fresh.login("member", NEW_PASSWORD)
    assert _signed_in(fresh)


def test_a_wrong_current_password_changes_nothing(app, live):
    seed(app)
    laptop, phone = Browser(live.url), Browser(live.url)
    laptop.login("member")
    phone.login("member")
    response = laptop.submit("/profile/password", {
        "current_password": "wrong", "new_password": NEW_PASSWORD,
        "confirm_password": NEW_PASSWORD})
    assert response.status_code == 400
    assert "wrong" in response.text.lower()
    assert _signed_in(phone) and _signed_in(laptop)
    Browser(live.url).login("member", PASSWORD)


def test_setting_a_password_from_the_command_line_ends_every_session(app, live):
    seed(app)
    browser = Browser(live.url)
    browser.login("member")
    result = app.test_cli_runner().invoke(
        args=["set-password", "member", "--password", NEW_PASSWORD])
    assert result.exit_code == 0, result.output
    assert not _signed_in(browser)
    Browser(live.url).login("member", NEW_PASSWORD)


def test_deactivating_a_user_ends_every_session(app, live):
    seed(app)
    browser = Browser(live.url)
    browser.login("member")
    runner = app.test_cli_runner()
    result = runner.invoke(args=["deactivate-user", "member"])
    assert result.exit_code == 0, result.output
    assert not _signed_in(browser)
    # Activated again, the old cookie still opens nothing; a new sign-in works.
    result = runner.invoke(args=["activate-user", "member"])
    assert result.exit_code == 0, result.output
    assert not _signed_in(browser)
    Browser(live.url).login("member")


def test_a_session_ends_after_its_lifetime(app, live, clock):
    seed(app)
    browser = Browser(live.url)
    browser.login("member")
    clock.advance(app.config["SESSION_LIFETIME"] - 5)
    assert _signed_in(browser)
    clock.advance(10)
    assert not _signed_in(browser)


def test_the_default_lifetime_is_short(app):
    assert app.config["SESSION_LIFETIME"] <= 12 * 3600
    assert app.config["PERMANENT_SESSION_LIFETIME"].total_seconds() == \
        app.config["SESSION_LIFETIME"]


def test_sessions_are_stored_as_hashes(app, live):
    seed(app)
    browser = Browser(live.url)
    browser.login("member")
    cookie = browser.session.cookies.get("col_auth_session")
    with app.app_context():
        from col_auth.core.models import LoginSession

        content = app.session_interface.get_signing_serializer(app).loads(cookie)
        rows = db.session.scalars(db.select(LoginSession)).all()
        assert len(rows) == 1
        assert content["session_id"] and content["session_id"] != rows[0].id_hash
        assert rows[0].id_hash == accounts.session_id_hash(content["session_id"])


@pytest.mark.parametrize("username", ["member"])
def test_core_end_sessions_of_user(app, username):
    seed(app)
    with app.app_context():
        user = accounts.find_user(username)
        first = accounts.start_session(user)
        second = accounts.start_session(user)
        db.session.commit()
        assert accounts.session_user(first) is not None
        assert accounts.end_sessions_of(user) == 2
        db.session.commit()
        assert accounts.session_user(first) is None
        assert accounts.session_user(second) is None
