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
    from werkzeug.serving import make_server

    from col_auth.demo import load_sample_app, seed_demo
    from tests.helpers import Browser, csrf_token

    server = make_server("127.0.0.1", 0, lambda e, s: None)  # reserve a port number
    sample_port = server.server_port
    server.server_close()
    sample_url = f"http://127.0.0.1:{sample_port}"
    with app.app_context():
        info = seed_demo(sample_url)
        assert seed_demo(sample_url)["app_token"] == info["app_token"], "re-running reseeds nothing"
    sample = load_sample_app({"COL_AUTH_URL": live.url, "APP_TOKEN": info["app_token"],
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
