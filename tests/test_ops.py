"""/healthz, /readyz and /metrics."""

from __future__ import annotations

import requests

from tests.helpers import basic, seed


def test_healthz_and_readyz_answer(app, live):
    assert requests.get(f"{live.url}/healthz", timeout=10).json() == {"status": "ok"}
    ready = requests.get(f"{live.url}/readyz", timeout=10)
    assert ready.status_code == 200 and ready.json() == {"status": "ok"}


def test_readyz_is_503_when_the_database_is_unreachable(backend, instance_dir):
    from col_auth import create_app

    broken = create_app({
        "INSTANCE_PATH": instance_dir, "TESTING": True,
        "DATABASE_URL": "postgresql+psycopg://nobody@127.0.0.1:1/none?connect_timeout=2",
    })
    response = broken.test_client().get("/readyz")
    assert response.status_code == 503
    assert response.get_json()["error"] == "database_unreachable"
    assert broken.test_client().get("/healthz").status_code == 200


def test_metrics_count_requests_validations_and_grants(app, live):
    from col_auth.core import legacy_tokens
    from col_auth.core.legacy_apps import find_app
    from col_auth.core.models import User
    from col_auth.extensions import db

    s = seed(app)
    with app.app_context():
        _, token = legacy_tokens.issue_legacy_token(db.session.get(User, s.member_id),
                                             find_app(s.app_token), "user_token")
        db.session.commit()
    requests.get(f"{live.url}/api/v1/me", headers=basic("Member", token), timeout=10)
    requests.get(f"{live.url}/api/v1/me", headers=basic("Member", "{UserToken}x"), timeout=10)
    text = requests.get(f"{live.url}/metrics", timeout=10).text
    assert 'col_auth_http_requests_total{endpoint="api.me",method="GET",status="200"}' in text
    assert 'col_auth_token_validations_total{result="ok",scheme="basic"}' in text
    assert 'col_auth_token_validations_total{result="invalid_token",scheme="basic"}' in text
    assert 'col_auth_grants_total{face="legacy",kind="user_token"}' in text
    assert "col_auth_token_validation_seconds_bucket" in text
