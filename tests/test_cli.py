"""The ``col-auth`` verbs: what they create and what they print with --json."""

from __future__ import annotations

import json

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
