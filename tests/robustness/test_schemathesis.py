"""The live server fed with generated requests: /api/v1 from its own OpenAPI document
(schemathesis, positive and negative cases, with a real token) and the protocol
endpoints with Hypothesis-generated form fields and query parameters.

For every request: no answer is a 5xx, and a refused request writes nothing (the
row counts of items, grants, tokens and codes are unchanged). Examples per
operation or endpoint: half of ``COL_AUTH_FUZZ_EXAMPLES`` (at least 20). Each runs
on SQLite and on PostgreSQL (the ``app`` fixture), since only PostgreSQL refuses
NUL and text longer than its column: the generated values hold NUL and other
control characters, values longer than the columns and at their edges, look-alike
hosts, and JSON nested deeper than the parser goes; path segments and header values
are generated too.
"""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass
from urllib.parse import quote, quote_plus

import pytest
import requests
import schemathesis
from hypothesis import given
from hypothesis import strategies as st
from schemathesis.checks import (
    content_type_conformance,
    not_a_server_error,
    response_schema_conformance,
)
from schemathesis.generation import GenerationMode
from sqlalchemy import func, select

from col_auth.core import legacy_tokens
from col_auth.core.models import (
    GRANT_SITE_TOKEN,
    GRANT_USER_TOKEN,
    AuthorizationCode,
    Grant,
    Item,
    LegacyApp,
    Token,
    User,
)
from col_auth.extensions import db
from tests.helpers import Browser, basic, query_of
from tests.oauth.support import get_code, seed_client
from tests.robustness.conftest import OVER_HTTP
from tests.robustness.support import create_codes

# Text a client can put in a form or a query (UTF-8: no lone surrogates).
field_text = st.text(st.characters(exclude_categories=("Cs",)), max_size=60)
# What a database refuses or a check must catch: control characters (NUL first),
# and lengths beyond and at the edges of the columns (200, 500, 2000 characters).
CONTROLS = "\x00\x01\x08\t\n\r\x0b\x1b\x1f\x7f\x85\x9f"
COLUMN_EDGES = [199, 200, 201, 499, 500, 501, 1999, 2000, 2001, 5000]
hostile_text = st.one_of(
    field_text,
    st.text(st.sampled_from(CONTROLS + "ab:/."), min_size=1, max_size=8),
    st.sampled_from(COLUMN_EDGES).map(lambda n: "n" * n),
    st.sampled_from(["https://client.example\u3002evil.example/callback",
                     "https://cli\u0435nt.example/callback", "a\u0000b", "\u2028"]),
)
# JSON nested deeper than Python's parser goes, and just within it.
deep_json = st.one_of(
    st.integers(1, 100_000).map(lambda n: "[" * n),
    st.integers(1, 50_000).map(lambda n: '{"title": ' * n),
    st.integers(1, 900).map(lambda n: '{"title": ' + "[" * n + "]" * n + "}"),
)


def _header_value(text: str) -> bytes:
    """``text`` as a header value requests will send: UTF-8 bytes without CR or LF
    or spaces at the start, at most 300 bytes."""
    return (text.replace("\r", "").replace("\n", "").strip() or "x").encode("utf-8")[:300]


# Extra headers with control characters and UTF-8 text in their values.
extra_headers = st.one_of(
    st.just({}),
    st.builds(lambda name, text: {name: _header_value(text)},
              st.sampled_from(["X-Fuzz", "User-Agent", "Accept-Language", "X-Forwarded-For"]),
              hostile_text),
)


def counts(app) -> dict[str, int]:
    with app.app_context():
        try:
            return {model.__tablename__: db.session.scalar(select(func.count()).select_from(model))
                    for model in (Item, Grant, Token, AuthorizationCode, LegacyApp)}
        finally:
            db.session.remove()


@dataclass
class Target:
    url: str
    client_id: str
    client_secret: str
    redirect_uri: str
    app_token: str
    admin_token: str  # a {UserToken} of the site administrator "admin"
    site_token: str  # a {SiteToken} of "admin"
    access_token: str  # OAuth2, scopes openid api
    refresh_token: str
    codes: list[str]


def _legacy_token(app, user_id: str, app_token: str, kind: str) -> str:
    with app.app_context():
        user = db.session.get(User, user_id)
        legacy_app = db.session.scalar(select(LegacyApp).where(LegacyApp.app_token == app_token))
        _, token = legacy_tokens.issue_legacy_token(user, legacy_app, kind)
        db.session.commit()
        return token


@pytest.fixture
def target(app, live) -> Target:
    seeded = seed_client(app)
    legacy = seeded.legacy
    tokens = requests.post(f"{live.url}/api/o/oauth/v2/token", timeout=10, data={
        "grant_type": "authorization_code", "code": get_code(live, seeded),
        "redirect_uri": seeded.redirect_uri, "client_id": seeded.client_id,
        "client_secret": seeded.client_secret}).json()
    return Target(
        url=live.url, client_id=seeded.client_id, client_secret=seeded.client_secret,
        redirect_uri=seeded.redirect_uri, app_token=legacy.app_token,
        admin_token=_legacy_token(app, legacy.admin_id, legacy.app_token, GRANT_USER_TOKEN),
        site_token=_legacy_token(app, legacy.admin_id, legacy.app_token, GRANT_SITE_TOKEN),
        access_token=tokens["access_token"], refresh_token=tokens["refresh_token"],
        codes=create_codes(app, seeded, legacy.member_id, 5),
    )


# --- /api/v1 from its OpenAPI document --------------------------------------------------


def _refused_at_boundary(response: requests.Response) -> bool:
    return (response.status_code == 400
            and response.json().get("error") == "invalid_request"
            and "control character" in response.json().get("error_description", ""))


def _auth_headers(t: Target) -> dict[str, dict[str, str]]:
    return {
        "user_token": basic("admin", t.admin_token),
        "site_token_as_member": basic("member", t.site_token),
        "bearer": {"Authorization": f"Bearer {t.access_token}"},
        "none": {},
        "bad_basic": basic("admin", "{UserToken}00000000-0000-0000-0000-000000000000"),
        "bad_bearer": {"Authorization": "Bearer col_at_nope"},
    }


def _fuzz_operation(app, live, operation, auths: dict, tried: dict[str, int]) -> None:
    strategy = (operation.as_strategy(GenerationMode.POSITIVE)
                | operation.as_strategy(GenerationMode.NEGATIVE))
    creates = operation.method.upper() == "POST"

    @OVER_HTTP
    @given(case=strategy, auth=st.sampled_from(sorted(auths)))
    def run(case, auth):
        before = counts(app)
        response = case.call(base_url=live.url, headers=auths[auth], timeout=30)
        after = counts(app)
        label = f"{operation.method.upper()} {operation.path} ({auth})"
        tried[label] = tried.get(label, 0) + 1
        assert response.status_code < 500, (label, response.status_code, response.text[:500])
        if creates and response.status_code == 201:
            assert after["items"] == before["items"] + 1, label
            after["items"] -= 1
        assert after == before, (label, response.status_code, before, after)
        if auth in ("none", "bad_basic", "bad_bearer"):
            # Text no database stores is refused before anything else (web.boundary).
            assert response.status_code == 401 or _refused_at_boundary(response), (
                label, response.status_code)
        # What the document promises: documented statuses carry their schema.
        case.validate_response(response, checks=[not_a_server_error, content_type_conformance,
                                                 response_schema_conformance])

    run()


def test_web_api_against_its_openapi_document(app, live, target):
    schema = schemathesis.openapi.from_url(f"{live.url}/api/openapi.json")
    # NUL in generated strings, and parameters the document does not name.
    assert schema.config.generation.allow_x00
    assert schema.config.generation.allow_extra_parameters
    operations = [result.ok() for result in schema.get_all_operations()]
    assert {(op.method.upper(), op.path) for op in operations} == {
        ("GET", "/api/v1/me"), ("GET", "/api/v1/site/users"),
        ("GET", "/api/v1/items"), ("POST", "/api/v1/items")}
    auths = _auth_headers(target)
    tried: dict[str, int] = {}
    for operation in operations:
        _fuzz_operation(app, live, operation, auths, tried)
    print("TRIED", tried)
    assert sum(tried.values()) >= len(operations) * 10, tried


def _json_text(value) -> str:
    return json.dumps(value, ensure_ascii=False)


# Item-shaped JSON with hostile strings, any JSON, nesting too deep, bytes that are not
# JSON (or not UTF-8).
_item_bodies = st.one_of(
    st.builds(lambda title, body: _json_text({"title": title, "body": body}),
              hostile_text, hostile_text),
    st.builds(lambda key, value: _json_text({"title": "t", key: value}), hostile_text,
              hostile_text),
    st.recursive(st.none() | st.booleans() | st.integers() | hostile_text,
                 lambda inner: st.lists(inner, max_size=3)
                 | st.dictionaries(field_text, inner, max_size=3),
                 max_leaves=8).map(_json_text),
    deep_json,
    st.binary(max_size=80).map(lambda b: b.decode("latin-1")),
)


def test_web_api_items_with_generated_json_bodies(app, live, target):
    """POST /api/v1/items with bodies the document does not describe: 201 or a 400
    with a code, and an item only for a 201."""
    tried: dict[int, int] = {}
    url = f"{live.url}/api/v1/items"
    auth = _auth_headers(target)["user_token"]

    @OVER_HTTP
    @given(body=_item_bodies)
    def run(body):
        before = counts(app)
        response = requests.post(url, data=body.encode("utf-8", "surrogatepass"), timeout=30,
                                 headers={**auth, "Content-Type": "application/json"})
        after = counts(app)
        tried[response.status_code] = tried.get(response.status_code, 0) + 1
        assert response.status_code in (201, 400), (body[:200], response.status_code,
                                                    response.text[:300])
        if response.status_code == 201:
            after["items"] -= 1
        else:
            assert response.json()["error"] in ("invalid_request", "invalid_json",
                                                "invalid_field")
        assert after == before, (body[:200], response.status_code)

    run()
    print("STATUSES", tried)
    assert sum(tried.values()) >= 20, tried


# --- path segments ----------------------------------------------------------------------

# Routes with a segment taken from the URL, by who may reach them.
SEGMENT_ROUTES = [
    ("anonymous", "GET", "/api/o/oauth/v2/apps/{}/icon"),
    ("anonymous", "GET", "/developer/{}/icon"),
    ("member", "GET", "/developer/{}/edit"),
    ("member", "POST", "/profile/connections/{}/revoke"),
    ("admin", "GET", "/admin/modules/{}"),
    ("admin", "GET", "/admin/modules/{}/icon"),
]


@pytest.mark.parametrize("who, method, route", SEGMENT_ROUTES,
                         ids=[f"{m} {r}" for _, m, r in SEGMENT_ROUTES])
def test_path_segments_with_generated_text(app, live, target, who, method, route):
    session = requests.Session()
    if who != "anonymous":
        browser = Browser(live.url)
        browser.login(who)
        session = browser.session
    statuses: dict[int, int] = {}

    @OVER_HTTP
    @given(segment=hostile_text.filter(lambda t: t not in (".", "..")), headers=extra_headers)
    def run(segment, headers):
        before = counts(app)
        url = live.url + route.format(quote(segment, safe=""))
        response = session.request(method, url, allow_redirects=False, timeout=30,
                                   headers=headers)
        after = counts(app)
        statuses[response.status_code] = statuses.get(response.status_code, 0) + 1
        assert response.status_code < 500, (segment[:100], response.status_code,
                                            response.text[:300])
        assert response.status_code in (200, 302, 308, 400, 404, 405), response.status_code
        assert after == before, (segment[:100], response.status_code)

    run()
    print("STATUSES", statuses)
    assert sum(statuses.values()) >= 20, statuses


# --- the protocol endpoints with generated form fields ----------------------------------

TOKEN_FIELDS = ["grant_type", "code", "redirect_uri", "client_id", "client_secret",
                "refresh_token", "scope", "code_verifier", "token", "token_type_hint"]
AUTHORIZE_FIELDS = ["client_id", "redirect_uri", "scope", "response_type", "response_mode",
                    "state", "nonce", "code_challenge", "code_challenge_method", "prompt"]
AUTH_FIELDS = ["apptoken", "AppToken", "APPTOKEN", "type", "Type", "return_url", "next"]


# Stand-ins replaced, at the time of the request, by the newest tokens the token
# endpoint handed out, so that well-formed requests keep reaching the success paths.
LATEST_REFRESH = "<latest refresh token>"
LATEST_ACCESS = "<latest access token>"


def _values(t: Target) -> st.SearchStrategy[str]:
    real = [t.client_id, t.client_secret, t.redirect_uri, t.refresh_token, t.access_token,
            LATEST_REFRESH, LATEST_ACCESS,
            "authorization_code", "refresh_token", "openid", "api", "openid api", "code",
            "query", "S256", "plain", "1", "44", "0", t.app_token, "{AppToken}" + t.app_token,
            t.redirect_uri + "/../evil", "https://evil.example/cb", *t.codes]
    return st.one_of(st.sampled_from(real), hostile_text)


def _bases(names: list[str], t: Target) -> list[dict[str, str]]:
    """Well-formed requests of each endpoint, for the mutations to start from."""
    client = {"client_id": t.client_id, "client_secret": t.client_secret}
    if "grant_type" in names:
        return [
            {"grant_type": "authorization_code", "code": code, "redirect_uri": t.redirect_uri,
             **client} for code in t.codes
        ] + [
            {"grant_type": "refresh_token", "refresh_token": LATEST_REFRESH, **client},
            {"grant_type": "refresh_token", "refresh_token": LATEST_REFRESH, "scope": "api",
             **client},
            {"token": LATEST_ACCESS, **client},
            {"token": LATEST_REFRESH, "token_type_hint": "refresh_token", **client},
        ]
    if "response_type" in names:
        return [{"client_id": t.client_id, "redirect_uri": t.redirect_uri,
                 "response_type": "code", "response_mode": "query", "state": "s",
                 "scope": scope} for scope in ("openid api", "api", "")]
    return [{"apptoken": t.app_token, "type": kind} for kind in ("44", "1")]


def _fields(names: list[str], t: Target) -> st.SearchStrategy[list[tuple[str, str]]]:
    """Form fields as pairs: a well-formed request with fields dropped, replaced or
    added, or fields from scratch; known names and others, real values and any text,
    names sometimes repeated."""
    name = st.one_of(st.sampled_from(names), field_text,
                     st.text(st.sampled_from(CONTROLS + "ab"), min_size=1, max_size=4))
    pair = st.tuples(name, _values(t))
    bases = _bases(names, t)

    @st.composite
    def mutated(draw) -> list[tuple[str, str]]:
        base = dict(draw(st.sampled_from(bases)))
        for key in draw(st.sets(st.sampled_from(sorted(base)), max_size=2)):
            if draw(st.booleans()):
                del base[key]
            else:
                base[key] = draw(_values(t))
        return list(base.items()) + draw(st.lists(pair, max_size=2))

    return st.one_of(mutated(), st.lists(pair, max_size=8))


def _client_auth(t: Target) -> st.SearchStrategy[dict[str, str]]:
    good = base64.b64encode(f"{quote_plus(t.client_id)}:{quote_plus(t.client_secret)}"
                            .encode()).decode()

    def basic_of(client_id: str, secret: str) -> dict[str, str]:
        pair = f"{quote_plus(client_id)}:{quote_plus(secret)}"
        return {"Authorization": "Basic " + base64.b64encode(pair.encode()).decode()}

    return st.one_of(
        st.just({}),
        st.just({"Authorization": f"Basic {good}"}),
        field_text.map(lambda s: {"Authorization": "Basic " + s.encode("utf-8").hex()}),
        st.binary(max_size=40).map(lambda b: {"Authorization": "Basic "
                                              + base64.b64encode(b).decode()}),
        # Form-encoded parts (RFC 6749 §2.3.1) holding what the form may hold.
        st.builds(basic_of, st.one_of(st.just(t.client_id), hostile_text),
                  st.one_of(st.just(t.client_secret), hostile_text)),
        extra_headers,
    )


_bodies = st.sampled_from(["form", "raw", "json", "deep"])


@pytest.mark.parametrize("endpoint", ["token", "revoke", "introspect"])
def test_token_side_endpoints_with_generated_forms(app, live, target, endpoint):
    url = f"{live.url}/api/o/oauth/v2/{endpoint}"
    statuses: dict[int, int] = {}
    latest = {LATEST_REFRESH: target.refresh_token, LATEST_ACCESS: target.access_token}

    @OVER_HTTP
    @given(fields=_fields(TOKEN_FIELDS, target), headers=_client_auth(target), body=_bodies,
           raw=st.binary(max_size=120), deep=deep_json)
    def run(fields, headers, body, raw, deep):
        fields = [(name, latest.get(value, value)) for name, value in fields]
        before = counts(app)
        if body == "form":
            response = requests.post(url, data=fields, headers=headers, timeout=30)
        elif body == "json":
            response = requests.post(url, json=dict(fields), headers=headers, timeout=30)
        elif body == "deep":
            response = requests.post(url, data=deep, timeout=30, headers={
                **headers, "Content-Type": "application/json"})
        else:  # arbitrary bytes as a form body: bad percent-escapes, bad UTF-8
            response = requests.post(url, data=raw, timeout=30, headers={
                **headers, "Content-Type": "application/x-www-form-urlencoded"})
        after = counts(app)
        statuses[response.status_code] = statuses.get(response.status_code, 0) + 1
        assert response.status_code < 500, (fields, response.status_code, response.text[:500])
        assert response.headers.get("Cache-Control") == "no-store"
        if endpoint == "token" and response.status_code == 200:
            issued = response.json()
            assert {"access_token", "refresh_token", "token_type"} <= set(issued)
            assert after["tokens"] == before["tokens"] + 2
            assert after["grants"] - before["grants"] in (0, 1)
            latest[LATEST_REFRESH] = issued["refresh_token"]
            latest[LATEST_ACCESS] = issued["access_token"]
            before["tokens"], before["grants"] = after["tokens"], after["grants"]
        else:
            assert response.status_code in (200, 400, 401), response.status_code
            if response.status_code != 200:
                assert response.json()["error"]
        assert after == before, (fields, response.status_code, before, after)

    run()
    print("STATUSES", statuses)
    assert sum(statuses.values()) >= 20, statuses


def _issued_a_code(response: requests.Response, target) -> bool:
    """An OAuth2 answer carrying a code, by redirect or by form_post page."""
    if response.status_code == 302:
        location = response.headers["Location"]
        return location.startswith(target.redirect_uri) and "code" in query_of(location)
    return response.status_code == 200 and 'name="code"' in response.text


def _member_session(live) -> requests.Session:
    browser = Browser(live.url)
    browser.login("member")
    return browser.session


@pytest.mark.parametrize("path", ["/api/o/oauth/v2/authorize", "/auth/"])
def test_authorization_endpoints_with_generated_queries(app, live, target, path):
    names = AUTHORIZE_FIELDS if "oauth" in path else AUTH_FIELDS
    member = _member_session(live)
    anonymous = requests.Session()
    statuses: dict[int, int] = {}

    @OVER_HTTP
    @given(fields=_fields(names, target), logged_in=st.booleans(), headers=extra_headers)
    def run(fields, logged_in, headers):
        session = member if logged_in else anonymous
        before = counts(app)
        response = session.get(live.url + path, params=fields, allow_redirects=False,
                               headers=headers, timeout=30)
        after = counts(app)
        statuses[response.status_code] = statuses.get(response.status_code, 0) + 1
        assert response.status_code < 500, (fields, response.status_code, response.text[:500])
        if _issued_a_code(response, target):
            # The member allowed this client before: a code with no page (OIDC Core
            # §3.1.2.4), the one write a GET may make.
            before["authorization_codes"] += 1
        assert after == before, (fields, response.status_code, before, after)
        if response.status_code in (301, 302, 303, 307, 308):
            location = response.headers["Location"]
            allowed = (target.redirect_uri if "oauth" in path else "https://app.example/return",
                       "/login", f"{live.url}/login")
            assert location.startswith(allowed), location
        assert response.headers.get("X-Frame-Options") == "DENY"

    run()
    print("STATUSES", statuses)
    assert sum(statuses.values()) >= 20, statuses
