"""The ``create-module`` and ``create-client`` verbs: what they create, what they print."""

from __future__ import annotations

import json

from sqlalchemy import func, select

from col_auth.core import oauth_clients
from col_auth.core.models import ClientTemplate, Module, OAuthClient
from col_auth.extensions import db


def _run(app, *args):
    return app.test_cli_runner().invoke(args=list(args))


def _json(app, *args) -> dict:
    result = _run(app, *args, "--json")
    assert result.exit_code == 0, result.output
    return json.loads(result.output)


def _count(app, model) -> int:
    with app.app_context():
        return db.session.scalar(select(func.count()).select_from(model))


def test_create_module_prints_id_and_name(app):
    created = _json(app, "create-module", "Sales", "--description", "Deals and leads")
    assert created["name"] == "Sales" and len(created["module_id"]) == 36
    with app.app_context():
        module = oauth_clients.get_module(created["module_id"])
        assert module.description == "Deals and leads" and module.enabled
        assert module.external_app is not None and not module.external_app.enabled

    plain = _run(app, "create-module", "Support")
    assert plain.exit_code == 0 and "name: Support" in plain.output


def test_create_client_enables_app_creates_template_and_prints_secret_once(app):
    _json(app, "create-module", "Sales")
    created = _json(app, "create-client", "--module", "Sales", "--template", "Sample",
                    "--redirect-uri", "https://client.example/cb",
                    "--redirect-uri", "http://localhost:8765/cb", "--expires", "30",
                    "--name", "Portal")
    assert created["scopes"] == "openid api"
    assert created["redirect_uris"] == ["https://client.example/cb", "http://localhost:8765/cb"]
    assert created["name"] == "Portal" and created["expires_at"]
    with app.app_context():
        client = oauth_clients.authenticate_client(created["client_id"],
                                                   created["client_secret"])
        assert client is not None and client.name == "Portal"
        assert client.secret_hash != created["client_secret"]
        assert client.template.external_app.enabled
        assert client.expires_at is not None

    # The template exists now: a second client reuses it (its scopes, not --scopes).
    second = _json(app, "create-client", "--module", "Sales", "--template", "Sample",
                   "--redirect-uri", "https://other.example/cb", "--scopes", "api")
    assert second["scopes"] == "openid api" and second["name"] == "Sample"
    assert second["expires_at"] is None
    assert second["client_id"] != created["client_id"]
    assert _count(app, ClientTemplate) == 1

    api_only = _json(app, "create-client", "--module", "Sales", "--template", "Api only",
                     "--redirect-uri", "https://api.example/cb", "--scopes", "api")
    assert api_only["scopes"] == "api"
    assert _count(app, ClientTemplate) == 2 and _count(app, OAuthClient) == 3


def test_create_client_plain_output_lists_every_field(app):
    _json(app, "create-module", "Sales")
    result = _run(app, "create-client", "--module", "Sales", "--template", "Sample",
                  "--redirect-uri", "https://a.example/cb", "--redirect-uri",
                  "https://b.example/cb")
    assert result.exit_code == 0, result.output
    lines = dict(line.split(": ", 1) for line in result.output.splitlines())
    assert lines["redirect_uris"] == "https://a.example/cb https://b.example/cb"
    assert lines["scopes"] == "openid api" and lines["client_secret"]


def test_create_verbs_fail_clearly_and_store_nothing(app):
    _json(app, "create-module", "Sales")
    again = _run(app, "create-module", "Sales")
    assert again.exit_code != 0 and "module_exists" in again.output
    blank = _run(app, "create-module", " ")
    assert blank.exit_code != 0 and "invalid_name" in blank.output

    def client(*extra):
        return _run(app, "create-client", "--module", "Sales", "--template", "Sample", *extra)

    unknown = _run(app, "create-client", "--module", "Nowhere", "--template", "Sample",
                   "--redirect-uri", "https://a.example/cb")
    assert unknown.exit_code != 0 and "unknown_module" in unknown.output
    for bad_uri in ("http://evil.example/cb", "https://a.example/cb#x", "/relative"):
        refused = client("--redirect-uri", bad_uri)
        assert refused.exit_code != 0 and "invalid_redirect_uri" in refused.output, bad_uri
    bad_scope = client("--redirect-uri", "https://a.example/cb", "--scopes", "openid email")
    assert bad_scope.exit_code != 0 and "invalid_scope" in bad_scope.output
    no_scope = client("--redirect-uri", "https://a.example/cb", "--scopes", "")
    assert no_scope.exit_code != 0 and "invalid_scope" in no_scope.output
    bad_expiry = client("--redirect-uri", "https://a.example/cb", "--expires", "0")
    assert bad_expiry.exit_code != 0 and "invalid_expires" in bad_expiry.output
    no_uri = client()
    assert no_uri.exit_code != 0 and "--redirect-uri" in no_uri.output

    assert _count(app, Module) == 1
    assert _count(app, ClientTemplate) == 0 and _count(app, OAuthClient) == 0
    with app.app_context():
        assert not oauth_clients.get_module_by_name("Sales").external_app.enabled, \
            "a failed create-client enables nothing"


def test_create_client_public_has_no_secret_and_requires_pkce(app):
    _json(app, "create-module", "Sales")
    created = _json(app, "create-client", "--module", "Sales", "--template", "SPA",
                    "--redirect-uri", "https://spa.example/cb", "--public",
                    "--post-logout-redirect-uri", "https://spa.example/bye",
                    "--post-logout-redirect-uri", "https://spa.example/again")
    assert "client_secret" in created and created["client_secret"] is None
    assert created["public"] is True and created["require_pkce"] is True
    assert created["post_logout_redirect_uris"] == ["https://spa.example/bye",
                                                    "https://spa.example/again"]
    with app.app_context():
        client = oauth_clients.find_client(created["client_id"])
        assert client.public and client.pkce_required and client.secret_hash is None

    plain = _run(app, "create-client", "--module", "Sales", "--template", "SPA",
                 "--redirect-uri", "https://spa.example/cb", "--public")
    assert plain.exit_code == 0, plain.output
    lines = dict(line.split(": ", 1) for line in plain.output.splitlines() if ": " in line)
    assert "client_secret" not in lines or lines["client_secret"] in ("", "None", "null")


def test_create_client_require_pkce_keeps_its_secret(app):
    _json(app, "create-module", "Sales")
    created = _json(app, "create-client", "--module", "Sales", "--template", "Sample",
                    "--redirect-uri", "https://client.example/cb", "--require-pkce")
    assert created["client_secret"] and created["public"] is False
    assert created["require_pkce"] is True and created["post_logout_redirect_uris"] == []
    with app.app_context():
        client = oauth_clients.authenticate_client(created["client_id"],
                                                   created["client_secret"])
        assert client is not None and client.require_pkce and not client.public

    default = _json(app, "create-client", "--module", "Sales", "--template", "Sample",
                    "--redirect-uri", "https://client.example/cb")
    assert default["public"] is False and default["require_pkce"] is False


def test_create_client_http_uris_follow_the_setting(app):
    _json(app, "create-module", "Sales")

    def create(*extra):
        return _run(app, "create-client", "--module", "Sales", "--template", "Sample",
                    "--redirect-uri", "https://client.example/cb", *extra)

    for extra in (("--redirect-uri", "http://crm.intranet.example/cb"),
                  ("--post-logout-redirect-uri", "http://crm.intranet.example/bye"),
                  ("--post-logout-redirect-uri", "https://client.example/bye#x")):
        refused = create(*extra)
        assert refused.exit_code != 0 and "invalid_redirect_uri" in refused.output, extra
    assert _count(app, OAuthClient) == 0
    assert create("--redirect-uri", "http://localhost:8080/cb").exit_code == 0

    app.config["ALLOW_HTTP_REDIRECT_URIS"] = True
    allowed = create("--redirect-uri", "http://crm.intranet.example/cb",
                     "--post-logout-redirect-uri", "http://crm.intranet.example/bye", "--json")
    assert allowed.exit_code == 0, allowed.output
    assert "http://crm.intranet.example/cb" in json.loads(allowed.output)["redirect_uris"]
