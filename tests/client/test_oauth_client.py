"""col_auth.client.oauth: the OAuth2 connection, against the real server over HTTP."""

from __future__ import annotations

import json
import os
import stat
import time
from urllib.parse import urlencode

import jwt
import pytest
import requests
from sqlalchemy import select

from col_auth.client.oauth import (
    FileCredentialStore,
    InteractionRequired,
    MemoryCredentialStore,
    OAuth2Connection,
    OAuth2Error,
    Status,
)
from col_auth.core.grants import revoke_grant
from col_auth.core.models import Grant
from col_auth.extensions import db
from tests.helpers import Browser, query_of
from tests.oauth.support import consent, seed_client


@pytest.fixture
def app_config(request):
    return getattr(request, "param", {})


class Ticker:
    """The connection's clock: real time, moved on when the test moves the server's."""

    def __init__(self) -> None:
        self.offset = 0.0

    def __call__(self) -> float:
        return time.time() + self.offset

    def advance(self, seconds: float) -> None:
        self.offset += seconds


def _connection(live, seeded, **overrides) -> OAuth2Connection:
    base = f"{live.url}/api/o/oauth/v2"
    settings = dict(client_id=seeded.client_id, client_secret=seeded.client_secret,
                    redirect_uri=seeded.redirect_uri, authorize_url=f"{base}/authorize",
                    token_url=f"{base}/token", userinfo_url=f"{base}/userinfo",
                    introspection_url=f"{base}/introspect", revocation_url=f"{base}/revoke",
                    jwks_url=f"{base}/jwks", issuer=live.url)
    settings.update(overrides)
    return OAuth2Connection(**settings)


def _allow(live, connection: OAuth2Connection, button: str = "allow") -> str:
    """A person signs in and presses a button on the consent page; the callback URL."""
    browser = Browser(live.url)
    browser.login("member")
    return consent(browser, connection.authorization_url(), button).headers["Location"]


def _authorize(live, connection: OAuth2Connection) -> dict:
    return connection.complete(_allow(live, connection))


def _me(live, connection: OAuth2Connection) -> requests.Response:
    return connection.request("GET", f"{live.url}/api/v1/me")


def _bearer_me(live, access_token: str) -> int:
    return requests.get(f"{live.url}/api/v1/me", timeout=10,
                        headers={"Authorization": f"Bearer {access_token}"}).status_code


def _revoke_grants_at_server(app) -> None:
    """What the user's "Revoke" on the profile page does."""
    with app.app_context():
        for grant in db.session.scalars(select(Grant).where(Grant.revoked_at.is_(None))):
            revoke_grant(grant, reason="user")
        db.session.commit()


def _expire_access_token(clock, ticker: Ticker) -> None:
    clock.advance(601)
    ticker.advance(601)


# -- status ------------------------------------------------------------------------------


def test_status_follows_configuration_credential_and_server_side_revocation(app, live):
    seeded = seed_client(app)
    assert _connection(live, seeded, client_id=None).status is Status.NOT_CONFIGURED
    assert "client_id" in _connection(live, seeded, client_id=None).message
    assert _connection(live, seeded, token_url=None).status is Status.NOT_CONFIGURED

    connection = _connection(live, seeded)
    assert connection.status is Status.NOT_AUTHORIZED
    assert connection.id_token_claims is None

    claims = _authorize(live, connection)
    assert claims["sub"] == seeded.legacy.member_id
    assert claims["preferred_username"] == "Member"
    assert connection.id_token_claims == claims
    assert connection.check() is Status.AUTHORIZED
    assert connection.status is Status.AUTHORIZED
    assert _me(live, connection).json()["auth"] == "oauth"

    _revoke_grants_at_server(app)
    # Nothing asked yet: the status is the last result, still AUTHORIZED.
    assert connection.status is Status.AUTHORIZED
    assert connection.check() is Status.NOT_AUTHORIZED
    assert connection.status is Status.NOT_AUTHORIZED
    assert "get a new credential" in connection.message
    assert connection.id_token_claims is None


def test_status_of_a_stored_credential_is_checked_with_the_server(app, live):
    seeded = seed_client(app)
    store = MemoryCredentialStore()
    _authorize(live, _connection(live, seeded, store=store))
    # A second connection over the same store has no result yet: it asks the server.
    assert _connection(live, seeded, store=store).status is Status.AUTHORIZED
    _revoke_grants_at_server(app)
    assert _connection(live, seeded, store=store).status is Status.NOT_AUTHORIZED


def test_unreachable_server_is_an_error_with_a_message(app, live):
    seeded = seed_client(app)
    connection = _connection(live, seeded)
    _authorize(live, connection)
    unreachable = "http://127.0.0.1:9/api/o/oauth/v2/userinfo"
    broken = _connection(live, seeded, store=connection._store, userinfo_url=unreachable)
    assert broken.check() is Status.ERROR
    assert "Cannot reach" in broken.message


def test_introspection_is_the_check_without_openid(app, live):
    seeded = seed_client(app, scopes="api")
    connection = _connection(live, seeded, scope="api")
    assert _authorize(live, connection) == {}
    assert connection.check() is Status.AUTHORIZED
    assert "active" in connection.message
    _revoke_grants_at_server(app)
    assert connection.check() is Status.NOT_AUTHORIZED


def test_configured_by_the_discovery_url_alone(app, live):
    seeded = seed_client(app)
    fetched: list[str] = []
    http = requests.Session()
    http.hooks["response"].append(lambda response, **_: fetched.append(response.url))
    discovery = f"{live.url}/.well-known/openid-configuration"
    connection = OAuth2Connection(client_id=seeded.client_id,
                                  client_secret=seeded.client_secret,
                                  redirect_uri=seeded.redirect_uri, discovery_url=discovery,
                                  http=http)
    assert connection.status is Status.NOT_AUTHORIZED
    url = connection.authorization_url()
    assert url.startswith(f"{live.url}/api/o/oauth/v2/authorize?")
    assert "code_challenge_method=S256" in url
    assert _authorize(live, connection)["iss"] == live.url
    assert connection.check() is Status.AUTHORIZED
    assert _me(live, connection).status_code == 200
    connection.clear_credential()
    assert fetched.count(discovery) == 1, "the discovery document is fetched once"


def test_discovery_naming_another_issuer_is_refused(app, live):
    seeded = seed_client(app)
    connection = OAuth2Connection(client_id=seeded.client_id,
                                  client_secret=seeded.client_secret,
                                  redirect_uri=seeded.redirect_uri, issuer="https://evil.example",
                                  discovery_url=f"{live.url}/.well-known/openid-configuration")
    assert connection.status is Status.ERROR
    assert "evil.example" in connection.message


# -- getting a credential ------------------------------------------------------------------


def test_callback_with_another_state_is_refused(app, live):
    seeded = seed_client(app)
    connection = _connection(live, seeded)
    callback = _allow(live, connection)
    forged = callback.replace("state=", "state=x")
    with pytest.raises(OAuth2Error) as refused:
        connection.complete(forged)
    assert refused.value.error == "state_mismatch"
    assert connection.status is Status.NOT_AUTHORIZED
    # The forged callback did not cancel the real one.
    assert connection.complete(callback)["preferred_username"] == "Member"


def test_callback_with_a_forged_iss_is_refused(app, live):
    seeded = seed_client(app)
    connection = _connection(live, seeded)
    callback = _allow(live, connection)
    query = {k: v[0] for k, v in query_of(callback).items()}
    query["iss"] = "https://attacker.example"
    with pytest.raises(OAuth2Error) as refused:
        connection.complete(seeded.redirect_uri + "?" + urlencode(query))
    assert refused.value.error == "iss_mismatch"
    # The code was not sent anywhere, and the authorization is used up.
    with pytest.raises(OAuth2Error) as again:
        connection.complete(callback)
    assert again.value.error == "state_mismatch"
    assert connection.status is Status.NOT_AUTHORIZED


def test_cancel_on_the_consent_page_raises_access_denied(app, live):
    seeded = seed_client(app)
    connection = _connection(live, seeded)
    callback = _allow(live, connection, button="cancel")
    with pytest.raises(OAuth2Error) as cancelled:
        connection.complete(callback)
    assert cancelled.value.error == "access_denied"
    assert connection.status is Status.NOT_AUTHORIZED
    assert "access_denied" in connection.message


def test_id_token_with_another_nonce_is_refused(app, live):
    seeded = seed_client(app)
    store = MemoryCredentialStore()
    connection = _connection(live, seeded, store=store)
    callback = _allow(live, connection)
    data = store.load()
    data["pending"]["nonce"] = "not-the-nonce-that-was-sent"
    store.save(data)
    with pytest.raises(OAuth2Error) as refused:
        connection.complete(callback)
    assert refused.value.error == "bad_id_token"
    assert "nonce" in refused.value.description
    assert connection.status is Status.NOT_AUTHORIZED
    assert store.load() is None, "nothing from the refused exchange is kept"


def test_without_configuration_or_credential_nothing_is_sent(app, live):
    seeded = seed_client(app)
    with pytest.raises(OAuth2Error) as unconfigured:
        _connection(live, seeded, client_secret=None).authorization_url()
    assert unconfigured.value.error == "not_configured"
    with pytest.raises(OAuth2Error) as unauthorized:
        _me(live, _connection(live, seeded))
    assert unauthorized.value.error == "not_authorized"


# -- using and refreshing it -----------------------------------------------------------------


def test_expired_access_token_is_refreshed_before_the_request(app, live, clock):
    seeded = seed_client(app)
    ticker = Ticker()
    store = MemoryCredentialStore()
    connection = _connection(live, seeded, store=store, clock=ticker)
    _authorize(live, connection)
    before = store.load()
    _expire_access_token(clock, ticker)
    assert _bearer_me(live, before["access_token"]) == 401  # the server agrees it expired
    response = _me(live, connection)
    assert response.status_code == 200
    after = store.load()
    assert after["refresh_token"] != before["refresh_token"]
    assert after["access_token"] != before["access_token"]
    assert after["expires_at"] == pytest.approx(ticker() + 600, abs=5)
    assert connection.status is Status.AUTHORIZED


def test_a_401_refreshes_once_and_retries(app, live):
    seeded = seed_client(app)
    store = MemoryCredentialStore()
    connection = _connection(live, seeded, store=store)
    _authorize(live, connection)
    before = store.load()
    revoked = requests.post(f"{live.url}/api/o/oauth/v2/revoke", timeout=10, data={
        "token": before["access_token"], "client_id": seeded.client_id,
        "client_secret": seeded.client_secret})
    assert revoked.status_code == 200
    assert _bearer_me(live, before["access_token"]) == 401
    assert _me(live, connection).status_code == 200
    assert store.load()["refresh_token"] != before["refresh_token"]
    assert connection.status is Status.AUTHORIZED


def test_rotated_refresh_token_is_kept_in_the_file_store(app, live, clock, tmp_path):
    seeded = seed_client(app)
    path = tmp_path / "credential.json"
    ticker = Ticker()
    connection = _connection(live, seeded, store=FileCredentialStore(path), clock=ticker)
    _authorize(live, connection)
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    first = json.loads(path.read_text())
    _expire_access_token(clock, ticker)
    assert _me(live, connection).status_code == 200
    rotated = json.loads(path.read_text())
    assert rotated["refresh_token"] != first["refresh_token"]
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600

    # A new process: the same file, and the rotated token still works after expiry.
    _expire_access_token(clock, ticker)
    restarted = _connection(live, seeded, store=FileCredentialStore(path), clock=ticker)
    assert restarted.id_token_claims["sub"] == seeded.legacy.member_id
    assert _me(live, restarted).status_code == 200
    assert restarted.check() is Status.AUTHORIZED
    assert json.loads(path.read_text())["refresh_token"] != rotated["refresh_token"]


def _crash_during_refresh(live, seeded, clock, path, monkeypatch) -> tuple[dict, Ticker]:
    """Authorize, let the access token expire, then have the process 'crash' after the
    server rotated the refresh token but before the new one reached the disk."""
    ticker = Ticker()
    connection = _connection(live, seeded, store=FileCredentialStore(path), clock=ticker)
    _authorize(live, connection)
    saved = json.loads(path.read_text())
    _expire_access_token(clock, ticker)

    real_replace = os.replace

    def crash_once(src, dst):
        monkeypatch.setattr(os, "replace", real_replace)
        raise OSError("simulated crash before the rename")

    monkeypatch.setattr(os, "replace", crash_once)
    with pytest.raises(OAuth2Error) as failed:
        _me(live, connection)
    assert failed.value.error == "store_failed"
    assert connection.status is Status.ERROR
    # The file still holds the last good credential, whole and parseable, and no
    # temporary file is left beside it.
    assert json.loads(path.read_text()) == saved
    assert sorted(os.listdir(path.parent)) == [path.name]
    return saved, ticker


@pytest.mark.parametrize("app_config", [{"REFRESH_GRACE": 30}], indirect=True)
def test_crash_before_saving_a_rotation_is_survived_within_the_grace(
        app, live, clock, tmp_path, monkeypatch):
    # The server rotated the refresh token, but the answer died with the process; the
    # old refresh token on disk is presented again 0 s later, within REFRESH_GRACE, so
    # the server answers it as a retry and the credential lives on.
    seeded = seed_client(app)
    path = tmp_path / "credential.json"
    saved, ticker = _crash_during_refresh(live, seeded, clock, path, monkeypatch)
    restarted = _connection(live, seeded, store=FileCredentialStore(path), clock=ticker)
    assert _me(live, restarted).status_code == 200
    assert json.loads(path.read_text())["refresh_token"] != saved["refresh_token"]
    assert restarted.check() is Status.AUTHORIZED


def test_crash_before_saving_a_rotation_without_grace_keeps_the_file_but_not_the_grant(
        app, live, clock, tmp_path, monkeypatch):
    # With REFRESH_GRACE 0 (the default) nothing on the client can save the credential:
    # the only copy of the new refresh token was in the lost answer, and presenting the
    # old one again is, to the server, a replayed (stolen) token, so it revokes the
    # whole chain. The honest outcome: the file is intact (not truncated, not corrupt,
    # the old credential), and the connection then says plainly it needs a new
    # credential instead of failing obscurely.
    assert app.config["REFRESH_GRACE"] == 0
    seeded = seed_client(app)
    path = tmp_path / "credential.json"
    _, ticker = _crash_during_refresh(live, seeded, clock, path, monkeypatch)
    restarted = _connection(live, seeded, store=FileCredentialStore(path), clock=ticker)
    with pytest.raises(OAuth2Error) as refused:
        _me(live, restarted)
    assert refused.value.error == "not_authorized"
    assert restarted.status is Status.NOT_AUTHORIZED
    assert "get a new credential" in restarted.message
    assert not path.exists(), "the dead credential is dropped"


def test_refresh_refused_after_server_revoke_means_not_authorized(app, live, clock):
    seeded = seed_client(app)
    ticker = Ticker()
    store = MemoryCredentialStore()
    connection = _connection(live, seeded, store=store, clock=ticker)
    _authorize(live, connection)
    _revoke_grants_at_server(app)
    _expire_access_token(clock, ticker)
    with pytest.raises(OAuth2Error) as refused:
        _me(live, connection)
    assert refused.value.error == "not_authorized"
    assert connection.status is Status.NOT_AUTHORIZED
    assert "revoked" in connection.message and "get a new credential" in connection.message
    assert store.load() is None, "the dead tokens are forgotten"
    with pytest.raises(OAuth2Error):
        connection.refresh()


def test_clear_credential_revokes_at_the_server(app, live):
    seeded = seed_client(app)
    connection = _connection(live, seeded)
    _authorize(live, connection)
    access_token = connection._store.load()["access_token"]
    assert _bearer_me(live, access_token) == 200
    connection.clear_credential()
    assert _bearer_me(live, access_token) == 401
    assert connection.status is Status.NOT_AUTHORIZED
    assert connection.id_token_claims is None


def test_clear_credential_without_a_reachable_server_still_forgets(app, live):
    seeded = seed_client(app)
    connection = _connection(live, seeded)
    _authorize(live, connection)
    offline = _connection(live, seeded, store=connection._store,
                          revocation_url="http://127.0.0.1:9/revoke")
    offline.clear_credential()
    assert offline.status is Status.NOT_AUTHORIZED
    assert connection._store.load() is None


# -- the file store, alone ------------------------------------------------------------------


def test_file_store_is_owner_only_from_the_first_byte(tmp_path, monkeypatch):
    path = tmp_path / "nested" / "credential.json"
    store = FileCredentialStore(path)
    assert store.load() is None
    modes: list[int] = []
    real_replace = os.replace

    def watching_replace(src, dst):
        modes.append(stat.S_IMODE(os.stat(src).st_mode))
        real_replace(src, dst)

    monkeypatch.setattr(os, "replace", watching_replace)
    old_umask = os.umask(0)  # even a permissive umask must not widen the file
    try:
        store.save({"refresh_token": "one"})
        store.save({"refresh_token": "two"})
    finally:
        os.umask(old_umask)
    assert modes == [0o600, 0o600], "the temporary file is 0600 before it is renamed"
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert store.load() == {"refresh_token": "two"}
    store.clear()
    assert store.load() is None
    store.clear()  # clearing twice is fine


def test_file_store_failed_save_keeps_the_old_file(tmp_path, monkeypatch):
    path = tmp_path / "credential.json"
    store = FileCredentialStore(path)
    store.save({"refresh_token": "good"})

    def broken_write(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(os, "fsync", broken_write)
    with pytest.raises(OSError):
        store.save({"refresh_token": "new"})
    monkeypatch.undo()
    assert store.load() == {"refresh_token": "good"}
    assert os.listdir(tmp_path) == ["credential.json"]


def test_memory_store_keeps_copies():
    store = MemoryCredentialStore()
    data = {"refresh_token": "r", "nested": {"a": 1}}
    store.save(data)
    data["nested"]["a"] = 2
    loaded = store.load()
    assert loaded == {"refresh_token": "r", "nested": {"a": 1}}
    loaded["refresh_token"] = "changed"
    assert store.load()["refresh_token"] == "r"
    store.clear()
    assert store.load() is None


# -- silent sign-in (prompt=none) and logout (OpenID Connect RP-Initiated Logout) --------

AFTER_LOGOUT = "https://client.example/signed-out"


def _callback_of(browser: Browser, url: str) -> str:
    """Where the server sends ``browser`` for ``url`` straight away, with no page."""
    response = browser.get(url)
    assert response.status_code == 302, (response.status_code, response.text[:300])
    return response.headers["Location"]


def test_extra_authorization_parameters_are_sent_and_managed_ones_refused(app, live):
    seeded = seed_client(app)
    connection = _connection(live, seeded)
    url = connection.authorization_url(prompt="login", max_age=0, ui_locales="en",
                                       login_hint="member")
    query = query_of(url)
    assert query["prompt"] == ["login"] and query["max_age"] == ["0"]
    assert query["ui_locales"] == ["en"] and query["login_hint"] == ["member"]
    assert query["code_challenge_method"] == ["S256"] and len(query["state"][0]) >= 32
    for managed in ("state", "nonce", "redirect_uri", "code_challenge", "client_id"):
        with pytest.raises(ValueError, match=managed):
            connection.authorization_url(**{managed: "mine"})


def test_interaction_error_is_a_typed_result_and_not_an_error_status(app, live):
    """Read from the callback alone: what any provider sends for prompt=none."""
    seeded = seed_client(app)
    connection = _connection(live, seeded)
    state = query_of(connection.authorization_url(prompt="none"))["state"][0]
    callback = seeded.redirect_uri + "?" + urlencode({
        "error": "interaction_required", "state": state, "iss": live.url})
    with pytest.raises(InteractionRequired) as needed:
        connection.complete(callback)
    assert needed.value.error == "interaction_required" and needed.value.prompt == "none"
    assert isinstance(needed.value, OAuth2Error), "callers catching OAuth2Error still do"
    assert connection.status is Status.NOT_AUTHORIZED
    assert "prompt=none" in connection.message


def test_prompt_none_without_a_sign_in_is_login_required(app, live):
    seeded = seed_client(app)
    connection = _connection(live, seeded)
    callback = _callback_of(Browser(live.url), connection.authorization_url(prompt="none"))
    assert callback.startswith(seeded.redirect_uri + "?")
    with pytest.raises(InteractionRequired) as needed:
        connection.complete(callback)
    assert needed.value.error == "login_required"
    assert connection.status is Status.NOT_AUTHORIZED


def test_prompt_none_signed_in_without_consent_is_consent_required(app, live):
    seeded = seed_client(app)
    connection = _connection(live, seeded)
    browser = Browser(live.url)
    browser.login("member")
    with pytest.raises(InteractionRequired) as needed:
        connection.complete(_callback_of(browser, connection.authorization_url(prompt="none")))
    assert needed.value.error == "consent_required"
    # What the app does next: ask again with a page; then the silent way works.
    connection.complete(consent(browser, connection.authorization_url()).headers["Location"])
    connection.clear_credential()
    claims = connection.complete(_callback_of(browser,
                                              connection.authorization_url(prompt="none")))
    assert claims["preferred_username"] == "Member"
    assert connection.status is Status.AUTHORIZED


def test_end_session_url_signs_out_at_the_server_and_comes_back(app, live):
    seeded = seed_client(app, post_logout_redirect_uris=(AFTER_LOGOUT,))
    connection = OAuth2Connection(
        client_id=seeded.client_id, client_secret=seeded.client_secret,
        redirect_uri=seeded.redirect_uri,
        discovery_url=f"{live.url}/.well-known/openid-configuration")
    browser = Browser(live.url)
    browser.login("member")
    claims = connection.complete(consent(browser, connection.authorization_url())
                                 .headers["Location"])
    assert jwt.decode(connection.id_token, options={"verify_signature": False}) == claims

    url = connection.end_session_url(post_logout_redirect_uri=AFTER_LOGOUT, state="s-9")
    assert url.startswith(f"{live.url}/api/o/oauth/v2/logout?")
    query = query_of(url)
    assert query["id_token_hint"] == [connection.id_token]
    assert query["client_id"] == [seeded.client_id]
    response = browser.get(url)
    assert response.status_code == 302
    assert response.headers["Location"] == AFTER_LOGOUT + "?state=s-9"
    assert browser.get("/profile").status_code == 302, "signed out at the server"
    assert connection.status is Status.AUTHORIZED, "the app's credential is its own affair"


def test_end_session_url_without_an_endpoint_is_not_configured(app, live):
    seeded = seed_client(app)
    with pytest.raises(OAuth2Error) as missing:
        _connection(live, seeded).end_session_url()
    assert missing.value.error == "not_configured"
    given = _connection(live, seeded, logout_url="https://op.example/logout?x=1")
    assert given.end_session_url(id_token_hint="h") == (
        f"https://op.example/logout?x=1&id_token_hint=h&client_id={seeded.client_id}")
