"""``col_auth.client.legacy`` against the real server over HTTP: packets from /auth/ read,
refused when forged, stale, early or replayed, and the Basic session on /api/v1."""

from __future__ import annotations

import ast
import base64
import json
import sys
import threading
import time
import uuid
from pathlib import Path

import jwt
import pytest
import requests

import col_auth.client as client_package
from col_auth.client import (
    AuthorizationError,
    Cancelled,
    LegacyClient,
    MemoryReplayStore,
    PacketError,
    TokenGrant,
)
from col_auth.client import legacy as legacy_module
from tests.helpers import RETURN_URL, Browser, csrf_token, query_of, seed


def _client(live, s, **kwargs) -> LegacyClient:
    return LegacyClient(live.url, s.app_token, s.app_secret, **kwargs)


def _return(live, s, username: str = "member", token_type: str = "44",
            button: str = "allow") -> str:
    """Log in as ``username``, answer the consent page, return the redirect's Location."""
    browser = Browser(live.url)
    browser.login(username)
    page = browser.get(f"/auth/?apptoken={s.app_token}&type={token_type}")
    assert page.status_code == 200, page.text[:300]
    response = browser.post("/auth/", data={"csrf_token": csrf_token(page.text),
                                            "apptoken": s.app_token, "type": token_type,
                                            button: button.capitalize()})
    assert response.status_code == 302
    return response.headers["Location"]


def _claims(location: str, secret: str) -> dict:
    packet = query_of(location)["jwt"][0]
    return jwt.decode(packet, secret.encode("utf-8"), algorithms=["HS256"])


def _b64url(data: dict) -> str:
    raw = json.dumps(data, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def _sign(claims: dict, secret: str, algorithm: str = "HS256") -> str:
    return jwt.encode(claims, secret.encode("utf-8"), algorithm=algorithm,
                      headers={"typ": "JWT"})


def _fresh(claims: dict, **changes) -> dict:
    """``claims`` with a new jti and ``iat`` now, then ``changes`` (None removes)."""
    fresh = {**claims, "jti": str(uuid.uuid4()).upper(), "iat": int(time.time())}
    for name, value in changes.items():
        if value is None:
            fresh.pop(name)
        else:
            fresh[name] = value
    return fresh


def _code(client: LegacyClient, source) -> str:
    with pytest.raises(PacketError) as caught:
        client.read_return(source)
    return caught.value.code


# -- good packets -------------------------------------------------------------------


def test_user_packet_gives_grant_and_session_reaches_api(app, live):
    s = seed(app)
    location = _return(live, s)
    client = _client(live, s)
    grant = client.read_return(location)
    assert isinstance(grant, TokenGrant)
    assert grant.kind == "user_token"
    assert grant.token.startswith("{UserToken}")
    assert grant.username == "Member"
    assert grant.userid == s.member_id
    assert grant.desc == "Morgan Member"
    assert grant.siteid is None
    assert grant.claims == _claims(location, s.app_secret)
    assert grant.iat == grant.claims["iat"] and grant.jti == grant.claims["jti"]
    assert grant.token not in repr(grant), "the token stays out of logs"

    response = client.session(grant.username, grant.token).get(live.url + "/api/v1/me",
                                                                timeout=10)
    assert response.status_code == 200, response.text
    me = response.json()
    assert me["auth"] == "user_token"
    assert me["userid"] == s.member_id


def test_site_packet_gives_site_token_acting_as_any_site_user(app, live):
    s = seed(app)
    client = _client(live, s)
    grant = client.read_return(_return(live, s, username="admin", token_type="1"))
    assert grant.kind == "site_token"
    assert grant.token.startswith("{SiteToken}")
    assert grant.siteid == s.site_id
    assert grant.desc == "Sample CU"
    assert grant.username == "admin" and grant.userid == s.admin_id

    me = client.session("Member", grant.token).get(live.url + "/api/v1/me", timeout=10)
    assert me.status_code == 200, me.text
    assert me.json()["auth"] == "site_token"
    assert me.json()["userid"] == s.member_id


def test_return_read_from_url_path_query_string_or_mapping(app, live):
    s = seed(app)
    client = _client(live, s)
    forms = [
        lambda url: url,                                   # the full Return URL
        lambda url: "/return?" + url.split("?", 1)[1],     # path and query
        lambda url: url.split("?", 1)[1],                  # the query string
        lambda url: "?" + url.split("?", 1)[1],            # the query string with "?"
        lambda url: {k: v[0] for k, v in query_of(url).items()},  # request.args
    ]
    for form in forms:
        grant = client.read_return(form(_return(live, s)))
        assert isinstance(grant, TokenGrant) and grant.userid == s.member_id


# -- forged packets -----------------------------------------------------------------


def test_tampered_claim_is_bad_signature(app, live):
    s = seed(app)
    packet = query_of(_return(live, s))["jwt"][0]
    header, payload, signature = packet.split(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    claims["username"] = "admin"
    forged = f"{header}.{_b64url(claims)}.{signature}"
    assert _code(_client(live, s), {"jwt": forged}) == "bad_signature"


def test_packet_signed_with_another_secret_is_bad_signature(app, live):
    s = seed(app)
    claims = _fresh(_claims(_return(live, s), s.app_secret))
    other = "{SecretKey}" + str(uuid.uuid4()).upper()
    assert _code(_client(live, s), {"jwt": _sign(claims, other)}) == "bad_signature"


def test_alg_none_is_wrong_algorithm(app, live):
    s = seed(app)
    claims = _fresh(_claims(_return(live, s), s.app_secret))
    unsigned = f"{_b64url({'alg': 'none', 'typ': 'JWT'})}.{_b64url(claims)}."
    assert _code(_client(live, s), {"jwt": unsigned}) == "wrong_algorithm"


@pytest.mark.filterwarnings("ignore::jwt.warnings.InsecureKeyLengthWarning")
def test_hs512_with_the_right_secret_is_wrong_algorithm(app, live):
    s = seed(app)
    claims = _fresh(_claims(_return(live, s), s.app_secret))
    packet = _sign(claims, s.app_secret, algorithm="HS512")
    assert _code(_client(live, s), {"jwt": packet}) == "wrong_algorithm"


@pytest.mark.parametrize("changes", [
    {"admin": True},                              # an extra claim
    {"desc": None},                               # a missing claim
    {"token": "{SiteToken}" + "0" * 8 + "-0000-0000-0000-" + "0" * 12},  # prefix vs set
    {"iat": 1.5e9},                               # iat not an integer
    {"jti": "not-a-guid"},
])
def test_claims_not_of_the_contract_are_unexpected(app, live, changes):
    s = seed(app)
    claims = _fresh(_claims(_return(live, s), s.app_secret), **changes)
    packet = _sign(claims, s.app_secret)
    assert _code(_client(live, s), {"jwt": packet}) == "unexpected_claims"


# -- time and replay ----------------------------------------------------------------


def test_stale_packet_is_refused(app, live):
    s = seed(app)
    location = _return(live, s)
    client = _client(live, s, clock=lambda: time.time() + 601)
    assert _code(client, location) == "stale"


def test_packet_from_the_future_is_refused(app, live):
    s = seed(app)
    location = _return(live, s)
    client = _client(live, s, clock=lambda: time.time() - 120)
    assert _code(client, location) == "from_the_future"


def test_same_packet_read_twice_is_replayed(app, live):
    s = seed(app)
    location = _return(live, s)
    client = _client(live, s)
    assert isinstance(client.read_return(location), TokenGrant)
    assert _code(client, location) == "replayed"


def test_replay_store_shared_between_clients(app, live):
    """Two workers with one store: the second sight is refused wherever it happens."""
    s = seed(app)
    location = _return(live, s)
    store = MemoryReplayStore()
    assert isinstance(_client(live, s, replay_store=store).read_return(location), TokenGrant)
    assert _code(_client(live, s, replay_store=store), location) == "replayed"


def test_refused_packet_does_not_use_up_its_jti(app, live):
    s = seed(app)
    location = _return(live, s)
    store = MemoryReplayStore()
    early = _client(live, s, replay_store=store, clock=lambda: time.time() - 120)
    assert _code(early, location) == "from_the_future"
    assert isinstance(_client(live, s, replay_store=store).read_return(location), TokenGrant)


# -- other outcomes -----------------------------------------------------------------


def test_error_packet_raises_authorization_error(app, live):
    s = seed(app)
    client = _client(live, s)
    browser = Browser(live.url)
    browser.login("member")
    response = browser.get(client.authorization_url(site=True))
    assert response.status_code == 302
    location = response.headers["Location"]
    with pytest.raises(AuthorizationError) as caught:
        client.read_return(location)
    assert caught.value.error == "site_admin_required"
    assert set(caught.value.claims) == {"iat", "jti", "error"}
    assert _code(client, location) == "replayed", "error packets are read once too"


def test_bad_type_error_packet_raises_invalid_type(app, live):
    s = seed(app)
    response = Browser(live.url).get(f"/auth/?apptoken={s.app_token}&type=7")
    with pytest.raises(AuthorizationError) as caught:
        _client(live, s).read_return(response.headers["Location"])
    assert caught.value.error == "invalid_type"


def test_error_packet_with_bad_signature_is_packet_error(app, live):
    s = seed(app)
    other = "{SecretKey}" + str(uuid.uuid4()).upper()
    packet = _sign({"iat": int(time.time()), "jti": str(uuid.uuid4()).upper(),
                    "error": "site_admin_required"}, other)
    assert _code(_client(live, s), {"jwt": packet}) == "bad_signature"


def test_cancel_gives_cancelled(app, live):
    s = seed(app)
    assert _client(live, s).read_return(_return(live, s, button="cancel")) == Cancelled()


def test_missing_packet(app, live):
    s = seed(app)
    client = _client(live, s)
    assert _code(client, RETURN_URL) == "missing_packet"
    assert _code(client, {"jwt": ""}) == "missing_packet"
    assert _code(client, "") == "missing_packet"


@pytest.mark.parametrize("garbage", ["not-a-jwt", "a.b.c", "e30.e30.", "%%%.***.!!!"])
def test_garbage_packet_is_malformed(app, live, garbage):
    s = seed(app)
    assert _code(_client(live, s), {"jwt": garbage}) == "malformed"


def test_payload_that_is_not_a_json_object_is_malformed(app, live):
    s = seed(app)
    packet = jwt.api_jws.PyJWS().encode(b"[1, 2]", s.app_secret.encode(), algorithm="HS256",
                                        headers={"typ": "JWT"})
    assert _code(_client(live, s), {"jwt": packet}) == "malformed"


def test_authorization_url_opens_the_consent_page(app, live):
    s = seed(app)
    client = _client(live, s)
    user_url = client.authorization_url()
    assert user_url == f"{live.url}/auth/?apptoken={s.app_token}&type=44"
    browser = Browser(live.url)
    browser.login("admin")
    page = browser.get(user_url)
    assert page.status_code == 200
    assert "Test App" in page.text and "Allow" in page.text
    site_page = browser.get(client.authorization_url(site=True))
    assert site_page.status_code == 200
    assert "any user of Sample CU" in site_page.text


# -- units: no server ---------------------------------------------------------------


def test_memory_replay_store_forgets_after_expiry():
    now = [1000.0]
    store = MemoryReplayStore(clock=lambda: now[0])
    assert store.remember("A", 1010) is True
    assert store.remember("A", 1010) is False
    assert store.remember("B", 1020) is True
    now[0] = 1010.0
    assert len(store) == 1, "A expired, B kept"
    assert store.remember("B", 1020) is False
    assert store.remember("A", 1030) is True, "an expired jti is forgotten"


def test_memory_replay_store_remembers_once_across_threads():
    store = MemoryReplayStore()
    results: list[bool] = []
    barrier = threading.Barrier(8)

    def worker() -> None:
        barrier.wait()
        results.append(store.remember("same", time.time() + 60))

    threads = [threading.Thread(target=worker) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(results) == [False] * 7 + [True]


def test_session_sends_utf8_basic_only_to_the_service():
    client = LegacyClient("http://col.example:8080/", "APP", "{SecretKey}x")
    session = client.session("Zoë", "{UserToken}T")
    here = session.prepare_request(requests.Request("GET", "http://col.example:8080/api/v1/me"))
    expected = base64.b64encode("Zoë:{UserToken}T".encode()).decode()
    assert here.headers["Authorization"] == f"Basic {expected}"
    for elsewhere in ("http://evil.example/", "https://col.example:8080/",
                      "http://col.example/"):
        prepared = session.prepare_request(requests.Request("GET", elsewhere))
        assert "Authorization" not in prepared.headers, elsewhere


def test_client_module_depends_only_on_requests_and_pyjwt():
    tree = ast.parse(Path(legacy_module.__file__).read_text())
    imported = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            imported.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            assert node.level == 0, "no relative imports into the server"
            imported.add(node.module.split(".")[0])
    assert imported - sys.stdlib_module_names == {"jwt", "requests"}
    assert set(client_package.__all__) >= set(legacy_module.__all__)
