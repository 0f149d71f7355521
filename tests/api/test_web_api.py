"""/api/v1 over real HTTP with legacy tokens: who am I, site users, items, errors."""

from __future__ import annotations

import base64
import json

import pytest
import requests
from sqlalchemy import func, select

from col_auth.core import grants, legacy_tokens
from col_auth.core.models import (
    GRANT_SITE_TOKEN,
    GRANT_USER_TOKEN,
    ROLE_MEMBER,
    Grant,
    Item,
    LegacyApp,
    Token,
    User,
)
from col_auth.extensions import db
from tests.helpers import Seed, basic, seed

ME_FIELDS = {"userid", "username", "full_name", "email", "siteid", "site", "auth"}


# --- helpers -----------------------------------------------------------------------------


def issue(app, user_id: str, app_token: str, kind: str = GRANT_USER_TOKEN) -> tuple[str, str]:
    """A new legacy token granted by ``user_id``: ``(grant id, token in clear)``."""
    with app.app_context():
        user = db.session.get(User, user_id)
        legacy_app = db.session.scalar(select(LegacyApp).where(LegacyApp.app_token == app_token))
        grant, token = legacy_tokens.issue_legacy_token(user, legacy_app, kind)
        db.session.commit()
        return grant.id, token


def revoke(app, grant_id: str) -> None:
    with app.app_context():
        grants.revoke_grant(db.session.get(Grant, grant_id))
        db.session.commit()


def set_role(app, user_id: str, role: str) -> None:
    with app.app_context():
        db.session.get(User, user_id).role = role
        db.session.commit()


def item_count(app) -> int:
    with app.app_context():
        return db.session.scalar(select(func.count()).select_from(Item))


def get(live, path: str, headers: dict | None = None) -> requests.Response:
    return requests.get(live.url + path, headers=headers or {}, timeout=10)


def post(live, path: str, headers: dict | None = None, **kwargs) -> requests.Response:
    return requests.post(live.url + path, headers=headers or {}, timeout=10, **kwargs)


def assert_invalid_token(response: requests.Response) -> None:
    """A 401 as contract §4 has it: JSON ``invalid_token`` and both challenges."""
    assert response.status_code == 401, (response.status_code, response.text[:300])
    assert response.headers["Content-Type"].startswith("application/json")
    body = response.json()
    assert body["error"] == "invalid_token"
    challenges = response.raw.headers.getlist("WWW-Authenticate")
    assert len(challenges) == 2, challenges
    basic_challenges = [c for c in challenges if c.lower().startswith("basic ")]
    bearer_challenges = [c for c in challenges if c.lower().startswith("bearer")]
    assert len(basic_challenges) == 1 and len(bearer_challenges) == 1, challenges
    assert 'realm="col_auth"' in basic_challenges[0]


@pytest.fixture
def s(app) -> Seed:
    return seed(app)


# --- /api/v1/me --------------------------------------------------------------------------


def test_user_token_with_own_username(app, live, s):
    _, token = issue(app, s.member_id, s.app_token)
    response = get(live, "/api/v1/me", basic("Member", token))
    assert response.status_code == 200, response.text
    body = response.json()
    assert set(body) == ME_FIELDS
    assert body == {
        "userid": s.member_id,
        "username": "Member",
        "full_name": "Morgan Member",
        "email": "m@sample.example",
        "siteid": s.site_id,
        "site": "Sample CU",
        "auth": "user_token",
    }


@pytest.mark.parametrize("username", ["member", "MEMBER", "mEmBeR"])
def test_username_is_compared_case_insensitively(app, live, s, username):
    _, token = issue(app, s.member_id, s.app_token)
    response = get(live, "/api/v1/me", basic(username, token))
    assert response.status_code == 200, response.text
    assert response.json()["userid"] == s.member_id
    assert response.json()["username"] == "Member", "the stored spelling is answered"


@pytest.mark.parametrize("username", ["admin", "outsider", "nobody"])
def test_user_token_with_another_username_is_401(app, live, s, username):
    _, token = issue(app, s.member_id, s.app_token)
    assert_invalid_token(get(live, "/api/v1/me", basic(username, token)))


def test_site_token_acts_as_any_user_of_its_site(app, live, s):
    _, token = issue(app, s.admin_id, s.app_token, GRANT_SITE_TOKEN)
    for username, user_id in [("Member", s.member_id), ("member", s.member_id),
                              ("admin", s.admin_id)]:
        response = get(live, "/api/v1/me", basic(username, token))
        assert response.status_code == 200, (username, response.text)
        body = response.json()
        assert set(body) == ME_FIELDS
        assert body["userid"] == user_id
        assert body["siteid"] == s.site_id
        assert body["auth"] == "site_token"


@pytest.mark.parametrize("username", ["outsider", "nobody"])
def test_site_token_with_user_of_another_site_is_401(app, live, s, username):
    _, token = issue(app, s.admin_id, s.app_token, GRANT_SITE_TOKEN)
    assert_invalid_token(get(live, "/api/v1/me", basic(username, token)))


def test_bare_guid_without_prefix_is_401(app, live, s):
    _, user_token = issue(app, s.member_id, s.app_token)
    _, site_token = issue(app, s.admin_id, s.app_token, GRANT_SITE_TOKEN)
    for token in (user_token, site_token):
        bare = token.split("}", 1)[1]
        assert_invalid_token(get(live, "/api/v1/me", basic("Member", bare)))
    # the genuine tokens work, so the refusal is about the prefix
    assert get(live, "/api/v1/me", basic("Member", user_token)).status_code == 200
    assert get(live, "/api/v1/me", basic("Member", site_token)).status_code == 200


def test_token_with_wrong_prefix_kind_is_401(app, live, s):
    _, user_token = issue(app, s.admin_id, s.app_token)
    _, site_token = issue(app, s.admin_id, s.app_token, GRANT_SITE_TOKEN)
    as_site = "{SiteToken}" + user_token.split("}", 1)[1]
    as_user = "{UserToken}" + site_token.split("}", 1)[1]
    assert_invalid_token(get(live, "/api/v1/me", basic("admin", as_site)))
    assert_invalid_token(get(live, "/api/v1/me", basic("admin", as_user)))
    assert_invalid_token(get(live, "/api/v1/me", basic("admin", "{AppToken}" + s.app_token)))


def test_revoked_token_is_401_on_the_very_next_call(app, live, s):
    grant_id, token = issue(app, s.member_id, s.app_token)
    headers = basic("Member", token)
    assert get(live, "/api/v1/me", headers).status_code == 200
    revoke(app, grant_id)
    assert_invalid_token(get(live, "/api/v1/me", headers))


def test_revoking_one_grant_leaves_others_working(app, live, s):
    grant_id, token = issue(app, s.member_id, s.app_token)
    _, other = issue(app, s.member_id, s.app_token)
    revoke(app, grant_id)
    assert_invalid_token(get(live, "/api/v1/me", basic("Member", token)))
    assert get(live, "/api/v1/me", basic("Member", other)).status_code == 200


def test_revoked_site_token_is_401_on_the_very_next_call(app, live, s):
    grant_id, token = issue(app, s.admin_id, s.app_token, GRANT_SITE_TOKEN)
    headers = basic("Member", token)
    assert get(live, "/api/v1/site/users", headers).status_code == 200
    revoke(app, grant_id)
    assert_invalid_token(get(live, "/api/v1/site/users", headers))
    assert_invalid_token(get(live, "/api/v1/me", headers))


def test_site_token_stops_when_granter_is_demoted(app, live, s):
    _, token = issue(app, s.admin_id, s.app_token, GRANT_SITE_TOKEN)
    _, user_token = issue(app, s.admin_id, s.app_token)
    headers = basic("Member", token)
    assert get(live, "/api/v1/me", headers).status_code == 200
    set_role(app, s.admin_id, ROLE_MEMBER)
    assert_invalid_token(get(live, "/api/v1/me", headers))
    assert_invalid_token(get(live, "/api/v1/me", basic("admin", token)))
    # the demoted admin's own user token still acts as them
    assert get(live, "/api/v1/me", basic("admin", user_token)).status_code == 200


def test_unknown_token_is_401(app, live, s):
    assert_invalid_token(get(live, "/api/v1/me", basic(
        "Member", "{UserToken}00000000-0000-0000-0000-000000000000")))


@pytest.mark.parametrize("authorization", [
    None,
    "",
    "Basic",
    "Basic !!!",
    "Basic " + base64.b64encode(b"Member").decode(),
    "Basic " + base64.b64encode(b":{UserToken}x").decode(),
    "Bearer not-a-real-token",
    "Digest username=Member",
    "Token abc",
])
@pytest.mark.parametrize("path", ["/api/v1/me", "/api/v1/site/users", "/api/v1/items"])
def test_every_401_is_invalid_token_with_both_challenges(app, live, s, authorization, path):
    headers = {} if authorization is None else {"Authorization": authorization}
    assert_invalid_token(get(live, path, headers))


def test_401_on_post_items_stores_nothing(app, live, s):
    response = post(live, "/api/v1/items", basic("Member", "{UserToken}nope"),
                    json={"title": "x"})
    assert_invalid_token(response)
    assert item_count(app) == 0


# --- /api/v1/site/users ------------------------------------------------------------------


def test_site_users_refused_for_member_user_token(app, live, s):
    _, token = issue(app, s.member_id, s.app_token)
    response = get(live, "/api/v1/site/users", basic("Member", token))
    assert response.status_code == 403
    assert response.json()["error"] == "site_admin_required"


def _usernames(response: requests.Response) -> set[str]:
    assert response.status_code == 200, response.text
    return {u["username"] for u in response.json()["users"]}


def test_site_users_for_admin_user_token(app, live, s):
    _, token = issue(app, s.admin_id, s.app_token)
    response = get(live, "/api/v1/site/users", basic("admin", token))
    assert _usernames(response) == {"admin", "Member"}
    assert {u["siteid"] for u in response.json()["users"]} == {s.site_id}


@pytest.mark.parametrize("username", ["Member", "admin"])
def test_site_users_for_site_token(app, live, s, username):
    _, token = issue(app, s.admin_id, s.app_token, GRANT_SITE_TOKEN)
    response = get(live, "/api/v1/site/users", basic(username, token))
    assert _usernames(response) == {"admin", "Member"}
    users = {u["username"]: u for u in response.json()["users"]}
    assert users["Member"]["userid"] == s.member_id
    assert users["admin"]["userid"] == s.admin_id
    assert "outsider" not in json.dumps(response.json())


# --- /api/v1/items -----------------------------------------------------------------------


def test_created_item_answers_201_then_appears(app, live, s):
    _, token = issue(app, s.member_id, s.app_token)
    headers = basic("Member", token)
    assert get(live, "/api/v1/items", headers).json() == {"items": []}
    response = post(live, "/api/v1/items", headers, json={"title": "First", "body": "Hello"})
    assert response.status_code == 201, response.text
    created = response.json()
    assert created["title"] == "First"
    assert created["body"] == "Hello"
    assert created["created_by"] == "Member"
    listed = get(live, "/api/v1/items", headers)
    assert listed.status_code == 200
    assert listed.json()["items"] == [created]
    assert item_count(app) == 1


def test_item_body_is_optional(app, live, s):
    _, token = issue(app, s.member_id, s.app_token)
    response = post(live, "/api/v1/items", basic("Member", token), json={"title": "No body"})
    assert response.status_code == 201, response.text
    assert response.json()["title"] == "No body"
    assert response.json()["body"] == ""


def test_items_are_shared_within_the_site_and_created_by_the_caller(app, live, s):
    _, site_token = issue(app, s.admin_id, s.app_token, GRANT_SITE_TOKEN)
    _, admin_token = issue(app, s.admin_id, s.app_token)
    response = post(live, "/api/v1/items", basic("Member", site_token), json={"title": "Via site"})
    assert response.status_code == 201, response.text
    assert response.json()["created_by"] == "Member", "a site token runs as the named user"
    listed = get(live, "/api/v1/items", basic("admin", admin_token)).json()["items"]
    assert [(i["title"], i["created_by"]) for i in listed] == [("Via site", "Member")]


def test_items_of_another_site_are_not_visible(app, live, s):
    _, member_token = issue(app, s.member_id, s.app_token)
    _, outsider_token = issue(app, s.outsider_id, s.app_token)
    _, site_token = issue(app, s.admin_id, s.app_token, GRANT_SITE_TOKEN)
    mine = post(live, "/api/v1/items", basic("Member", member_token), json={"title": "Ours"})
    theirs = post(live, "/api/v1/items", basic("outsider", outsider_token),
                  json={"title": "Theirs"})
    assert mine.status_code == 201 and theirs.status_code == 201
    ours = get(live, "/api/v1/items", basic("Member", member_token)).json()["items"]
    assert [i["title"] for i in ours] == ["Ours"]
    via_site = get(live, "/api/v1/items", basic("admin", site_token)).json()["items"]
    assert [i["title"] for i in via_site] == ["Ours"]
    other = get(live, "/api/v1/items", basic("outsider", outsider_token)).json()["items"]
    assert [i["title"] for i in other] == ["Theirs"]
    assert item_count(app) == 2


BAD_ITEMS = [
    pytest.param({"data": b"{not json"}, "invalid_json", id="bad-json"),
    pytest.param({"data": b"", "headers": {"Content-Type": "application/json"}}, "invalid_json",
                 id="empty-body"),
    pytest.param({"data": b"\xff\xfe{}", "headers": {"Content-Type": "application/json"}},
                 "invalid_json", id="not-utf8"),
    pytest.param({"data": b"null", "headers": {"Content-Type": "application/json"}},
                 "invalid_json", id="json-null"),
    pytest.param({"json": [{"title": "x"}]}, "invalid_json", id="json-array"),
    pytest.param({"json": "title"}, "invalid_json", id="json-string"),
    pytest.param({"json": 42}, "invalid_json", id="json-number"),
    pytest.param({"json": {}}, "invalid_field", id="missing-title"),
    pytest.param({"json": {"body": "only a body"}}, "invalid_field", id="only-body"),
    pytest.param({"json": {"title": ""}}, "invalid_field", id="empty-title"),
    pytest.param({"json": {"title": "   "}}, "invalid_field", id="blank-title"),
    pytest.param({"json": {"title": None}}, "invalid_field", id="null-title"),
    pytest.param({"json": {"title": 5}}, "invalid_field", id="number-title"),
    pytest.param({"json": {"title": ["x"]}}, "invalid_field", id="array-title"),
    pytest.param({"json": {"title": "x", "body": 5}}, "invalid_field", id="number-body"),
    pytest.param({"json": {"title": "x", "body": None}}, "invalid_field", id="null-body"),
    pytest.param({"json": {"title": "x", "body": {"a": 1}}}, "invalid_field", id="object-body"),
    pytest.param({"json": {"title": "x", "extra": 1}}, "invalid_field", id="unknown-field"),
    pytest.param({"json": {"title": "x", "id": 7}}, "invalid_field", id="unknown-field-id"),
    pytest.param({"json": {"title": "x" * 201}}, "invalid_field", id="title-too-long"),
    pytest.param({"json": {"title": "x", "body": "y" * 10_001}}, "invalid_field",
                 id="body-too-long"),
]


@pytest.mark.parametrize("kwargs, code", BAD_ITEMS)
def test_bad_item_is_400_and_stores_nothing(app, live, s, kwargs, code):
    _, token = issue(app, s.member_id, s.app_token)
    kwargs = dict(kwargs)  # the parameter is shared by both backends' runs
    headers = {**basic("Member", token), **kwargs.pop("headers", {})}
    before = item_count(app)
    response = post(live, "/api/v1/items", headers, **kwargs)
    assert response.status_code == 400, response.text
    assert response.headers["Content-Type"].startswith("application/json")
    body = response.json()
    assert isinstance(body["error"], str) and body["error"]
    assert body["error"] == code
    assert item_count(app) == before == 0
    # and nothing half-done blocks the next good request
    good = post(live, "/api/v1/items", basic("Member", token), json={"title": "ok"})
    assert good.status_code == 201, good.text
    assert item_count(app) == 1


@pytest.mark.parametrize("raw", [
    pytest.param(b'{"title": "a\\u0000b"}', id="nul-title"),
    pytest.param(b'{"title": "x", "body": "a\\u0000b"}', id="nul-body"),
    pytest.param(b'{"title": "a\\ud800b"}', id="lone-surrogate-title"),
    pytest.param(b'{"title": "x", "body": "\\udfff"}', id="lone-surrogate-body"),
])
def test_unstorable_text_is_400_and_stores_nothing(app, live, s, raw):
    _, token = issue(app, s.member_id, s.app_token)
    headers = {**basic("Member", token), "Content-Type": "application/json"}
    response = post(live, "/api/v1/items", headers, data=raw)
    assert item_count(app) == 0
    assert response.status_code == 400, response.text
    assert response.json()["error"] == "invalid_field"


def test_title_at_the_limit_is_accepted(app, live, s):
    _, token = issue(app, s.member_id, s.app_token)
    response = post(live, "/api/v1/items", basic("Member", token), json={"title": "é" * 200})
    assert response.status_code == 201, response.text
    assert response.json()["title"] == "é" * 200


# --- /api/openapi.json -------------------------------------------------------------------


def test_openapi_lists_the_api(app, live):
    response = get(live, "/api/openapi.json")
    assert response.status_code == 200
    document = response.json()
    assert document["openapi"].startswith("3.")
    paths = document["paths"]
    assert {"/api/v1/me", "/api/v1/site/users", "/api/v1/items"} <= set(paths)
    assert "get" in paths["/api/v1/me"]
    assert "get" in paths["/api/v1/site/users"]
    assert {"get", "post"} <= set(paths["/api/v1/items"])
    assert all(p.startswith("/api/v1/") for p in paths)
    me_schema = paths["/api/v1/me"]["get"]["responses"]["200"]["content"]["application/json"]
    ref = me_schema["schema"]["$ref"].rsplit("/", 1)[1]
    assert set(document["components"]["schemas"][ref]["properties"]) == ME_FIELDS


# --- last_used_at ------------------------------------------------------------------------


def _last_used(app, grant_id: str):
    with app.app_context():
        grant = db.session.get(Grant, grant_id)
        token = db.session.scalar(select(Token).where(Token.grant_id == grant_id))
        return grant.last_used_at, token.last_used_at


def test_last_used_at_is_set_after_a_call(app, live, s):
    grant_id, token = issue(app, s.member_id, s.app_token)
    assert _last_used(app, grant_id) == (None, None)
    assert get(live, "/api/v1/me", basic("Member", token)).status_code == 200
    grant_used, token_used = _last_used(app, grant_id)
    assert grant_used is not None
    assert token_used is not None


def test_refused_call_does_not_touch_last_used_at(app, live, s):
    grant_id, token = issue(app, s.member_id, s.app_token)
    assert_invalid_token(get(live, "/api/v1/me", basic("admin", token)))
    assert _last_used(app, grant_id) == (None, None)


def test_no_credentials_gets_challenges_without_error_code(app, live):
    """RFC 6750 §3.1: a request that sent no credentials gets no error code."""
    response = get(live, "/api/v1/me")
    assert_invalid_token(response)
    bearer = [c for c in response.raw.headers.getlist("WWW-Authenticate")
              if c.lower().startswith("bearer")][0]
    assert bearer == 'Bearer realm="col_auth"'
    bad = get(live, "/api/v1/me", {"Authorization": "Bearer nope"})
    bearer = [c for c in bad.raw.headers.getlist("WWW-Authenticate")
              if c.lower().startswith("bearer")][0]
    assert 'error="invalid_token"' in bearer
