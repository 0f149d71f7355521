"""/healthz, /readyz and /metrics."""

from __future__ import annotations

import pytest
import requests

from tests.helpers import basic, seed


@pytest.fixture
def app_config(request) -> dict:
    return dict(getattr(request, "param", {}))


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


# --- bounded labels and who may read /metrics (issue 9, finding 2) ----------------------


def _series(text: str, name: str) -> set[str]:
    return {line.split(" ")[0] for line in text.splitlines()
            if line.startswith(name + "{")}


def test_odd_methods_and_unknown_paths_add_no_series(app, live):
    requests.get(f"{live.url}/healthz", timeout=10)
    requests.get(f"{live.url}/no/such/page", timeout=10)
    requests.request("BREW", f"{live.url}/healthz", timeout=10)
    requests.request("BREW", f"{live.url}/nothing", timeout=10)
    requests.get(f"{live.url}/metrics", timeout=10)
    before = requests.get(f"{live.url}/metrics", timeout=10).text
    with requests.Session() as session:
        for i in range(200):
            session.request(f"QWERTY{i}", f"{live.url}/healthz", timeout=10)
            session.get(f"{live.url}/no/such/page/{i}", timeout=10)
            session.request(f"X{i}", f"{live.url}/nothing-{i}", timeout=10)
    after = requests.get(f"{live.url}/metrics", timeout=10).text
    series = _series(after, "col_auth_http_requests_total")
    assert series == _series(before, "col_auth_http_requests_total"), "no new series"
    assert len(after) - len(before) < 200, "only counts changed"
    methods = {s.split('method="')[1].split('"')[0] for s in series}
    assert methods <= {"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "other"}
    assert 'method="other"' in after
    assert 'endpoint="unmatched"' in after


def test_every_label_value_is_bounded(app, live):
    """Whatever the request, every label value of every series is one of few."""
    with requests.Session() as session:
        for i in range(50):
            session.request(f"M{i}", f"{live.url}/api/o/oauth/v2/x{i}", timeout=10)
            session.post(f"{live.url}/api/v1/items/{i}", timeout=10)
    text = requests.get(f"{live.url}/metrics", timeout=10).text
    values = [value for line in text.splitlines() if line.startswith("col_auth_")
              for value in line.split('"')[1::2]]
    assert values, text[:500]
    assert all(len(value) <= 64 for value in values)
    assert not [v for v in values if "x1" in v or v.startswith("M")], "request text in a label"


@pytest.mark.parametrize("app_config", [{"PROXY_FIX_HOPS": 1}], indirect=True)
def test_metrics_are_served_to_loopback_only_by_default(app, live):
    outside = {"X-Forwarded-For": "203.0.113.5"}
    refused = requests.get(f"{live.url}/metrics", headers=outside, timeout=10)
    assert refused.status_code == 404
    assert "col_auth_" not in refused.text
    assert requests.get(f"{live.url}/metrics", timeout=10).status_code == 200


@pytest.mark.parametrize("app_config", [{"PROXY_FIX_HOPS": 1,
                                         "METRICS_ALLOW": "10.0.0.0/8, 2001:db8::/32",
                                         "METRICS_TOKEN": "s3cret-scraper-token"}],
                         indirect=True)
def test_metrics_allow_list_and_bearer_token(app, live):
    def status(address: str, token: str | None = None) -> int:
        headers = {"X-Forwarded-For": address}
        if token is not None:
            headers["Authorization"] = f"Bearer {token}"
        return requests.get(f"{live.url}/metrics", headers=headers, timeout=10).status_code

    assert status("10.1.2.3") == 200
    assert status("2001:db8::5") == 200
    assert status("127.0.0.1") == 404, "loopback is no longer listed"
    assert status("203.0.113.5") == 404
    assert status("203.0.113.5", "s3cret-scraper-token") == 200
    assert status("203.0.113.5", "wrong") == 404
    assert status("203.0.113.5", "s3cret-scraper-token" + "x") == 404
