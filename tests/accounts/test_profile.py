"""The profile's "External Apps" and the site administrators' "Authorized Apps & Websites"
over real HTTP: listing grants and revoking them (contract §6)."""

from __future__ import annotations

import json
import re

import jwt
from sqlalchemy import select

from col_auth.core import accounts
from col_auth.core.models import AuditEvent, Grant
from col_auth.extensions import db
from tests.helpers import PASSWORD, Browser, basic, csrf_token, query_of, seed

_PROFILE_REVOKE = re.compile(r'action="/profile/connections/([^"/]+)/revoke"')
_SITE_REVOKE = re.compile(r'action="/site/authorized-apps/([^"/]+)/revoke"')


def _browser(live, username: str) -> Browser:
    browser = Browser(live.url)
    browser.login(username)
    return browser


def _allow(browser: Browser, app_token: str, secret: str, token_type: str = "44") -> str:
    """Allow on the consent page; the token the app receives."""
    page = browser.get(f"/auth/?apptoken={app_token}&type={token_type}")
    assert page.status_code == 200, page.text[:300]
    response = browser.post("/auth/", data={"csrf_token": csrf_token(page.text),
                                            "apptoken": app_token, "type": token_type,
                                            "allow": "Allow"})
    assert response.status_code == 302
    packet = query_of(response.headers["Location"])["jwt"][0]
    return jwt.decode(packet, secret.encode(), algorithms=["HS256"])["token"]


def _any_csrf(browser: Browser) -> str:
    """A CSRF token of the browser's session, from a page that always has a form."""
    return csrf_token(browser.get("/developer/add").text)


def _me(live, username: str, token: str) -> int:
    return Browser(live.url).get("/api/v1/me", headers=basic(username, token)).status_code


def _grant_of(app, token_kind: str, user_id: str) -> Grant:
    with app.app_context():
        grant = db.session.scalar(select(Grant).where(Grant.user_id == user_id,
                                                      Grant.kind == token_kind))
        db.session.expunge_all()
        return grant


def _revocations(app) -> list[dict]:
    with app.app_context():
        rows = db.session.scalars(select(AuditEvent).where(AuditEvent.event == "grant_revoked"))
        return [{"user_id": r.user_id, "site_id": r.site_id, **json.loads(r.detail)}
                for r in rows]


def _add_admin(app, username: str = "admin2", site_name: str = "Sample CU",
               full_name: str = "Avery Admin") -> str:
    with app.app_context():
        user = accounts.create_user(username, site=accounts.get_site_by_name(site_name),
                                    password=PASSWORD, full_name=full_name, site_admin=True)
        db.session.commit()
        return user.id


def _row(page: str, grant_id: str) -> str:
    """The table row of the page whose revoke form names ``grant_id``."""
    for row in page.split("<tr>")[1:]:
        if f"/{grant_id}/revoke" in row:
            return row.split("</tr>")[0]
    raise AssertionError(f"no row for {grant_id}")


# --- profile: External Apps -----------------------------------------------------------


def test_profile_requires_login(app, live):
    response = Browser(live.url).get("/profile")
    assert response.status_code == 302
    assert "/login" in response.headers["Location"]


def test_external_apps_lists_the_users_grants(app, live):
    s = seed(app)
    admin = _browser(live, "admin")
    member = _browser(live, "member")
    assert "You have not connected any app." in member.get("/profile").text

    _allow(admin, s.app_token, s.app_secret, "44")
    _allow(admin, s.app_token, s.app_secret, "1")
    _allow(member, s.app_token, s.app_secret, "44")

    page = admin.get("/profile")
    assert page.status_code == 200
    assert "External Apps" in page.text
    ids = _PROFILE_REVOKE.findall(page.text)
    assert len(ids) == 2
    user_grant = _grant_of(app, "user_token", s.admin_id)
    site_grant = _grant_of(app, "site_token", s.admin_id)
    assert set(ids) == {user_grant.id, site_grant.id}
    user_row, site_row = _row(page.text, user_grant.id), _row(page.text, site_grant.id)
    assert "Test App" in user_row and "Test App" in site_row
    assert "User token" in user_row and "Site token" not in user_row
    assert "Site token" in site_row and "any user of Sample CU" in site_row
    for grant, row in ((user_grant, user_row), (site_grant, site_row)):
        assert grant.created_at.strftime("%Y-%m-%d %H:%M") in row, "the granted date"
        assert "Revoke" in row
    assert csrf_token(page.text)

    # The member sees only their own grant.
    member_page = member.get("/profile").text
    member_grant = _grant_of(app, "user_token", s.member_id)
    assert _PROFILE_REVOKE.findall(member_page) == [member_grant.id]
    assert "User token" in member_page and "Site token" not in member_page


def test_last_used_is_shown_after_use(app, live):
    s = seed(app)
    member = _browser(live, "member")
    token = _allow(member, s.app_token, s.app_secret)
    grant = _grant_of(app, "user_token", s.member_id)
    assert "never" in _row(member.get("/profile").text, grant.id)
    assert _me(live, "member", token) == 200
    grant = _grant_of(app, "user_token", s.member_id)
    assert grant.last_used_at is not None
    row = _row(member.get("/profile").text, grant.id)
    assert grant.last_used_at.strftime("%Y-%m-%d %H:%M") in row
    assert "never" not in row


def test_revoke_stops_the_token_and_is_audited(app, live):
    s = seed(app)
    member = _browser(live, "member")
    token = _allow(member, s.app_token, s.app_secret)
    kept = _allow(member, s.app_token, s.app_secret)
    assert _me(live, "member", token) == 200

    page = member.get("/profile")
    grant_id = next(g for g in _PROFILE_REVOKE.findall(page.text)
                    if g != _kept_grant_id(app, kept))
    response = member.post(f"/profile/connections/{grant_id}/revoke",
                           data={"csrf_token": csrf_token(page.text)})
    assert response.status_code == 302
    assert response.headers["Location"].endswith("/profile")

    response = Browser(live.url).get("/api/v1/me", headers=basic("member", token))
    assert response.status_code == 401
    assert response.json()["error"] == "invalid_token"
    assert _me(live, "member", kept) == 200, "the other connection is untouched"
    assert grant_id not in member.get("/profile").text

    events = _revocations(app)
    assert len(events) == 1
    assert events[0]["user_id"] == s.member_id
    assert events[0]["grant"] == grant_id
    assert events[0]["granted_by"] == s.member_id
    assert events[0]["site_id"] == s.site_id

    # Revoking again: the connection is gone from the list; nothing more is recorded.
    again = member.post(f"/profile/connections/{grant_id}/revoke",
                        data={"csrf_token": csrf_token(page.text)})
    assert again.status_code in (302, 404)
    assert len(_revocations(app)) == 1


def _kept_grant_id(app, token: str) -> str:
    from col_auth.core.crypto import token_hash
    from col_auth.core.models import Token

    with app.app_context():
        return db.session.scalar(select(Token.grant_id).where(
            Token.token_hash == token_hash(token)))


def test_revoke_without_csrf_is_refused(app, live):
    s = seed(app)
    member = _browser(live, "member")
    token = _allow(member, s.app_token, s.app_secret)
    grant_id = _PROFILE_REVOKE.findall(member.get("/profile").text)[0]
    response = member.post(f"/profile/connections/{grant_id}/revoke", data={})
    assert response.status_code == 400
    assert _me(live, "member", token) == 200
    assert _revocations(app) == []


def test_user_cannot_revoke_someone_elses_grant(app, live):
    s = seed(app)
    admin = _browser(live, "admin")
    member = _browser(live, "member")
    outsider = _browser(live, "outsider")
    member_token = _allow(member, s.app_token, s.app_secret)
    admin_user_token = _allow(admin, s.app_token, s.app_secret)
    admin_site_token = _allow(admin, s.app_token, s.app_secret, "1")
    member_grant = _grant_of(app, "user_token", s.member_id).id
    admin_user_grant = _grant_of(app, "user_token", s.admin_id).id
    admin_site_grant = _grant_of(app, "site_token", s.admin_id).id

    attempts = [
        # A member, another site's user: nobody else's grant, by either route.
        (member, admin_user_grant), (member, admin_site_grant),
        (outsider, member_grant), (outsider, admin_user_grant), (outsider, admin_site_grant),
        # A site administrator may revoke site tokens, never a user's own user token.
        (admin, member_grant),
        # A grant that does not exist.
        (member, "00000000-0000-0000-0000-000000000000"), (member, "not-a-grant"),
    ]
    for browser, grant_id in attempts:
        token = _any_csrf(browser)
        for path in (f"/profile/connections/{grant_id}/revoke",
                     f"/site/authorized-apps/{grant_id}/revoke"):
            response = browser.post(path, data={"csrf_token": token})
            assert response.status_code == 404, (path, response.status_code)

    assert _me(live, "member", member_token) == 200
    assert _me(live, "admin", admin_user_token) == 200
    assert _me(live, "member", admin_site_token) == 200
    assert _revocations(app) == []


# --- site administration: Authorized Apps & Websites ----------------------------------


def test_site_page_lists_the_sites_site_tokens_with_who_authorized_them(app, live):
    s = seed(app)
    _add_admin(app)
    _add_admin(app, "foreign", "Other CU", "Fiona Foreign")
    admin = _browser(live, "admin")
    admin2 = _browser(live, "admin2")
    _allow(admin, s.app_token, s.app_secret, "1")
    _allow(admin2, s.app_token, s.app_secret, "1")
    _allow(admin, s.app_token, s.app_secret, "44")
    _allow(_browser(live, "member"), s.app_token, s.app_secret, "44")
    _allow(_browser(live, "foreign"), s.app_token, s.app_secret, "1")

    page = admin.get("/site/authorized-apps")
    assert page.status_code == 200
    assert "Authorized Apps &amp; Websites" in page.text
    ids = _SITE_REVOKE.findall(page.text)
    with app.app_context():
        site_grants = {g.user.username: g.id for g in db.session.scalars(
            select(Grant).where(Grant.kind == "site_token"))}
        created = {g.id: g.created_at for g in db.session.scalars(select(Grant))}
    assert sorted(ids) == sorted([site_grants["admin"], site_grants["admin2"]]), \
        "only the site's site tokens, no user tokens, nothing of another site"
    row = _row(page.text, site_grants["admin"])
    assert "Test App" in row and "Alex Admin (admin)" in row
    assert created[site_grants["admin"]].strftime("%Y-%m-%d %H:%M") in row
    row2 = _row(page.text, site_grants["admin2"])
    assert "Avery Admin (admin2)" in row2

    # The other site's administrator sees only theirs.
    foreign = _browser(live, "foreign").get("/site/authorized-apps").text
    assert _SITE_REVOKE.findall(foreign) == [site_grants["foreign"]]


def test_site_page_is_for_site_administrators_only(app, live):
    s = seed(app)
    _allow(_browser(live, "admin"), s.app_token, s.app_secret, "1")
    for username in ("member", "outsider"):
        browser = _browser(live, username)
        response = browser.get("/site/authorized-apps")
        assert response.status_code == 403
        assert "Test App" not in response.text
        assert "Site administration" not in browser.get("/profile").text
    anonymous = Browser(live.url).get("/site/authorized-apps")
    assert anonymous.status_code == 302 and "/login" in anonymous.headers["Location"]


def test_admin_revokes_a_site_token_another_admin_granted(app, live):
    s = seed(app)
    admin2_id = _add_admin(app)
    site_token = _allow(_browser(live, "admin"), s.app_token, s.app_secret, "1")
    assert _me(live, "member", site_token) == 200

    admin2 = _browser(live, "admin2")
    page = admin2.get("/site/authorized-apps")
    (grant_id,) = _SITE_REVOKE.findall(page.text)
    response = admin2.post(f"/site/authorized-apps/{grant_id}/revoke",
                           data={"csrf_token": csrf_token(page.text)})
    assert response.status_code == 302
    assert response.headers["Location"].endswith("/site/authorized-apps")

    for username in ("member", "admin", "admin2"):
        assert _me(live, username, site_token) == 401
    assert grant_id not in admin2.get("/site/authorized-apps").text
    assert grant_id not in _browser(live, "admin").get("/profile").text

    (event,) = _revocations(app)
    assert event["user_id"] == admin2_id
    assert event["granted_by"] == s.admin_id
    assert event["grant"] == grant_id
    assert event["kind"] == "site_token"


def test_member_cannot_revoke_a_site_token_through_the_site_page(app, live):
    s = seed(app)
    site_token = _allow(_browser(live, "admin"), s.app_token, s.app_secret, "1")
    grant_id = _grant_of(app, "site_token", s.admin_id).id
    member = _browser(live, "member")
    response = member.post(f"/site/authorized-apps/{grant_id}/revoke",
                           data={"csrf_token": _any_csrf(member)})
    assert response.status_code == 404
    assert _me(live, "member", site_token) == 200
