"""The ``col-auth`` verbs: what they create and what they print with --json."""

from __future__ import annotations

import html
import json
import re
from urllib.parse import urljoin

import jwt
from sqlalchemy import select

from col_auth.core.legacy_apps import app_secret
from col_auth.core.models import LegacyApp, User
from col_auth.extensions import db


def _run(app, *args):
    result = app.test_cli_runner().invoke(args=list(args))
    return result


def _json(app, *args) -> dict:
    result = _run(app, *args, "--json")
    assert result.exit_code == 0, result.output
    return json.loads(result.output)


def test_create_site_user_and_app_print_json(app):
    site = _json(app, "create-site", "Sample CU")
    assert site["name"] == "Sample CU" and len(site["siteid"]) == 36
    user = _json(app, "create-user", "Dev", "--site", "Sample CU", "--password", "pw",
                 "--full-name", "Dee Veloper", "--email", "dev@example.org", "--site-admin")
    assert user["role"] == "site_admin" and user["system_admin"] is False
    created = _json(app, "create-app", "--owner", "dev", "--name", "Thing",
                    "--return-url", "https://thing.example/back")
    assert created["app_secret"].startswith("{SecretKey}")
    with app.app_context():
        row = db.session.scalar(select(LegacyApp).where(LegacyApp.app_token ==
                                                        created["app_token"]))
        assert row.owner.username == "Dev"
        assert app_secret(row) == created["app_secret"]
        assert created["app_secret"] not in row.secret_ciphertext
        dev = db.session.scalar(select(User).where(User.username_key == "dev"))
        assert dev.full_name == "Dee Veloper" and dev.email == "dev@example.org"


def test_create_verbs_fail_clearly(app):
    _json(app, "create-site", "Sample CU")
    again = _run(app, "create-site", "Sample CU")
    assert again.exit_code != 0 and "site_exists" in again.output
    no_site = _run(app, "create-user", "x", "--site", "Nowhere", "--password", "pw")
    assert no_site.exit_code != 0 and "unknown_site" in no_site.output
    _json(app, "create-user", "x", "--site", "Sample CU", "--password", "pw")
    taken = _run(app, "create-user", "X", "--site", "Sample CU", "--password", "pw")
    assert taken.exit_code != 0 and "username_taken" in taken.output
    bad_url = _run(app, "create-app", "--owner", "x", "--name", "A", "--return-url", "/relative")
    assert bad_url.exit_code != 0 and "invalid_url" in bad_url.output
    with app.app_context():
        assert db.session.scalar(select(LegacyApp)) is None


def test_demo_seed_and_sample_app_complete_the_legacy_flow(app, live):
    """The demo's seeded app and the bundled sample app, end to end over HTTP."""
    from col_auth_sample_app import create_sample_app
    from werkzeug.serving import make_server

    from col_auth.demo import seed_demo
    from tests.helpers import Browser, csrf_token

    server = make_server("127.0.0.1", 0, lambda e, s: None)  # reserve a port number
    sample_port = server.server_port
    server.server_close()
    sample_url = f"http://127.0.0.1:{sample_port}"
    with app.app_context():
        info = seed_demo(sample_url)
        assert seed_demo(sample_url)["app_token"] == info["app_token"], "re-running reseeds nothing"
    sample = create_sample_app({"COL_AUTH_URL": live.url, "APP_TOKEN": info["app_token"],
                              "APP_SECRET": info["app_secret"]})
    sample_server = make_server("127.0.0.1", sample_port, sample, threaded=True)
    import threading

    threading.Thread(target=sample_server.serve_forever, daemon=True).start()
    try:
        browser = Browser(live.url)
        browser.login("member", "member-demo-pass")
        path = f"/auth/?apptoken={info['app_token']}&type=44"
        page = browser.get(path)
        allowed = browser.post("/auth/", data={"csrf_token": csrf_token(page.text),
                                               "apptoken": info["app_token"], "type": "44",
                                               "allow": "Allow"})
        location = allowed.headers["Location"]
        assert location.startswith(f"{sample_url}/col?jwt=")
        packet = location.split("jwt=", 1)[1]
        assert jwt.decode(packet, info["app_secret"].encode(), algorithms=["HS256"])
        landed = browser.get(location)
        assert landed.status_code == 200
        assert "Verified packet" in landed.text
        assert '"auth": "user_token"' in landed.text
    finally:
        sample_server.shutdown()


def _follow(session, url: str, limit: int = 10) -> list:
    """GET ``url`` and follow redirects across both servers, as a browser would; every
    response on the way (the last one is where the person lands)."""
    chain = []
    for _ in range(limit):
        response = session.get(url, allow_redirects=False, timeout=10)
        chain.append(response)
        if response.status_code not in (302, 303):
            return chain
        url = urljoin(url, response.headers["Location"])
    raise AssertionError(f"more than {limit} redirects: {[r.url for r in chain]}")


def test_demo_sample_app_signs_in_with_prompt_none_first_and_signs_out_through_col_auth(
        app, live, tmp_path):
    """"Sign in with col_auth": silent when col_auth knows the person and they allowed
    the app before; the consent page only the first time; "Sign out" ends the col_auth
    session too and comes back through the registered post-logout redirect URI."""
    import threading

    from col_auth_sample_app import create_sample_app
    from werkzeug.serving import make_server

    from col_auth.demo import seed_demo
    from tests.helpers import Browser, csrf_token

    server = make_server("127.0.0.1", 0, lambda e, s: None)  # reserve a port number
    sample_url = f"http://127.0.0.1:{server.server_port}"
    server.server_close()
    with app.app_context():
        info = seed_demo(sample_url)
    sample = create_sample_app({
        "COL_AUTH_URL": live.url, "PUBLIC_URL": sample_url,
        "CLIENT_ID": info["client_id"], "CLIENT_SECRET": info["client_secret"],
        "APP_TOKEN": info["app_token"], "APP_SECRET": info["app_secret"],
        "STATE_DIR": str(tmp_path / "sample")})
    sample_server = make_server("127.0.0.1", int(sample_url.rsplit(":", 1)[1]), sample,
                                threaded=True)
    threading.Thread(target=sample_server.serve_forever, daemon=True).start()
    try:
        browser = Browser(live.url)  # one cookie jar for both sites, like a browser
        home = browser.get(sample_url + "/")
        assert "Sign in with col_auth" in home.text

        # Not signed in at col_auth: prompt=none answers login_required, the app asks
        # again and col_auth shows its login page.
        chain = _follow(browser.session, sample_url + "/signin")
        assert "prompt=none" in chain[0].headers["Location"]
        assert "error=login_required" in chain[1].headers["Location"]
        assert chain[-1].url.startswith(live.url + "/login")

        # Signed in, first time: consent_required, then the consent page, then in.
        browser.login("member", "member-demo-pass")
        chain = _follow(browser.session, sample_url + "/signin")
        assert "error=consent_required" in chain[1].headers["Location"]
        consent_page = chain[-1]
        assert consent_page.url.startswith(live.url + "/api/o/oauth/v2/authorize?")
        assert "prompt" not in consent_page.url
        hidden = dict(re.findall(r'<input type="hidden" name="([a-z_]+)" value="([^"]*)">',
                                 consent_page.text))
        allowed = browser.post("/api/o/oauth/v2/authorize", data={
            **{k: html.unescape(v) for k, v in hidden.items()},
            "csrf_token": csrf_token(consent_page.text), "allow": "Allow"})
        landed = _follow(browser.session, allowed.headers["Location"])[-1]
        assert landed.url == sample_url + "/"
        assert "Signed in as" in landed.text and "Morgan Member" in landed.text
        assert "member@sample-cu.example" in landed.text

        # Sign out: out of the sample app and of col_auth, back through /signed-out.
        signout = browser.post(sample_url + "/signout", data={
            "csrf_token": _sample_csrf(landed.text)})
        assert signout.headers["Location"].startswith(live.url + "/api/o/oauth/v2/logout?")
        chain = _follow(browser.session, signout.headers["Location"])
        assert chain[0].headers["Location"].startswith(sample_url + "/signed-out?state=")
        assert chain[-1].url == sample_url + "/"
        assert "Signed out of this app and of col_auth." in chain[-1].text
        assert "Sign in with col_auth" in chain[-1].text
        assert browser.get("/profile").status_code == 302, "signed out at col_auth too"

        # Signed in at col_auth again: prompt=none now answers with a code, no page.
        browser.login("member", "member-demo-pass")
        chain = _follow(browser.session, sample_url + "/signin")
        assert [r.url.split("?")[0] for r in chain] == [
            sample_url + "/signin", live.url + "/api/o/oauth/v2/authorize",
            sample_url + "/signin/callback", sample_url + "/"]
        assert "Morgan Member" in chain[-1].text
    finally:
        sample_server.shutdown()


def _sample_csrf(page: str) -> str:
    match = re.search(r'name="csrf_token" value="([^"]+)"', page)
    assert match, "the sample app's page has no CSRF token"
    return html.unescape(match.group(1))


def test_reencrypt_secrets_moves_every_app_secret_to_the_new_key(app):
    from cryptography.fernet import Fernet

    from col_auth.core.crypto import SecretBox

    _json(app, "create-site", "Sample CU")
    _json(app, "create-user", "dev", "--site", "Sample CU", "--password", "pw")
    created = [_json(app, "create-app", "--owner", "dev", "--name", f"App {n}",
                     "--return-url", "https://thing.example/back") for n in range(3)]
    old_key = app.config["ENCRYPTION_KEYS"][0]
    new_key = Fernet.generate_key().decode()
    # Rotation: the new key in front, the old one kept so old secrets still decrypt.
    app.config["ENCRYPTION_KEYS"] = [new_key, old_key]
    app.extensions["col_auth.secret_box"] = SecretBox([new_key, old_key])
    assert _json(app, "reencrypt-secrets") == {"reencrypted": 3}
    # Now the old key can go: every secret decrypts with the new key alone.
    app.extensions["col_auth.secret_box"] = SecretBox([new_key])
    with app.app_context():
        rows = {r.app_token: r for r in db.session.scalars(select(LegacyApp))}
        for made in created:
            assert app_secret(rows[made["app_token"]]) == made["app_secret"]


def test_a_failing_command_writes_nothing_of_what_it_did_before_failing(app):
    _json(app, "create-site", "Sample CU")
    # The module is created, then the redirect URI is refused: one transaction, so
    # neither the module's external app, its template nor the client is kept.
    _json(app, "create-module", "Mod")
    failed = _run(app, "create-client", "--module", "Mod", "--template", "T",
                  "--redirect-uri", "http://not-loopback.example/cb")
    assert failed.exit_code != 0 and "invalid_redirect_uri" in failed.output
    from col_auth.core.models import ClientTemplate, ExternalApp, OAuthClient

    with app.app_context():
        assert db.session.scalar(select(ClientTemplate)) is None
        assert db.session.scalar(select(OAuthClient)) is None
        assert db.session.scalar(select(ExternalApp)).enabled is False



def test_reencrypt_secrets_without_the_old_key_fails_clearly_and_changes_nothing(app):
    from cryptography.fernet import Fernet

    from col_auth.core.crypto import SecretBox

    _json(app, "create-site", "Sample CU")
    _json(app, "create-user", "dev", "--site", "Sample CU", "--password", "pw")
    made = _json(app, "create-app", "--owner", "dev", "--name", "App",
                 "--return-url", "https://thing.example/back")
    with app.app_context():
        before = db.session.scalar(select(LegacyApp.secret_ciphertext))
    old_key = app.config["ENCRYPTION_KEYS"][0]
    # The old key was dropped too early: the stored secret cannot be read.
    app.extensions["col_auth.secret_box"] = SecretBox([Fernet.generate_key().decode()])
    failed = _run(app, "reencrypt-secrets")
    assert failed.exit_code == 1, failed.output
    assert "undecryptable_secret" in failed.output and made["app_token"] in failed.output
    app.extensions["col_auth.secret_box"] = SecretBox([old_key])
    with app.app_context():
        row = db.session.scalar(select(LegacyApp))
        assert row.secret_ciphertext == before
        assert app_secret(row) == made["app_secret"]
