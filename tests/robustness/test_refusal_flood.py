"""Refusals before sign-in write little and are limited (issue 9, finding 8): an anonymous
flood of bad authorization requests is counted in metrics, audited at most once per
(app or client, error, address) a minute, and refused past a per-address limit."""

from __future__ import annotations

import pytest
import requests
from sqlalchemy import func, select

from col_auth.core.models import AuditEvent
from col_auth.extensions import db
from tests.helpers import seed
from tests.oauth.support import seed_client


@pytest.fixture
def app_config(request) -> dict:
    return dict(getattr(request, "param", {}))


def _audit_rows(app, event: str) -> int:
    with app.app_context():
        return db.session.scalar(select(func.count()).select_from(AuditEvent)
                                 .where(AuditEvent.event == event))


def _refusals(base: str) -> dict[str, float]:
    counts = {}
    for line in requests.get(base + "/metrics", timeout=10).text.splitlines():
        if line.startswith("col_auth_refusals_total{"):
            labels, value = line.rsplit(" ", 1)
            counts[labels] = float(value)
    return counts


def test_a_flood_of_refusals_is_audited_once_per_minute_and_counted(app, live):
    seeded = seed_client(app)
    s = seeded.legacy
    before = _refusals(live.url)
    with requests.Session() as anonymous:
        for _ in range(100):
            response = anonymous.get(f"{live.url}/auth/", allow_redirects=False, timeout=10,
                                     params={"apptoken": s.app_token, "type": "NN"})
            assert response.status_code == 302
            response = anonymous.get(f"{live.url}/api/o/oauth/v2/authorize",
                                     allow_redirects=False, timeout=10, params={
                                         "response_type": "x", "client_id": seeded.client_id,
                                         "redirect_uri": seeded.redirect_uri})
            assert response.status_code == 302
    assert _audit_rows(app, "legacy_refused") == 1
    assert _audit_rows(app, "oauth_refused") == 1
    after = _refusals(live.url)
    grown = {k: after[k] - before.get(k, 0) for k in after}
    assert sum(v for k, v in grown.items() if 'face="legacy"' in k) == 100
    assert sum(v for k, v in grown.items() if 'face="oauth"' in k) == 100


def test_another_error_or_app_is_audited_on_its_own(app, live):
    s = seed(app)
    with requests.Session() as anonymous:
        for kind in ("NN", "NN", "0", "0"):
            anonymous.get(f"{live.url}/auth/", allow_redirects=False, timeout=10,
                          params={"apptoken": s.app_token, "type": kind})
    assert _audit_rows(app, "legacy_refused") == 1, "type NN and 0 are one error code"


@pytest.mark.parametrize("app_config", [{"RATELIMIT_ENABLED": True,
                                         "AUTHORIZE_RATE_LIMIT": "20 per minute"}],
                         indirect=True)
def test_authorization_endpoints_are_limited_per_address(app, live):
    seeded = seed_client(app)
    s = seeded.legacy

    def legacy() -> int:
        return requests.get(f"{live.url}/auth/", allow_redirects=False, timeout=10,
                            params={"apptoken": s.app_token, "type": "NN"}).status_code

    def oauth() -> int:
        return requests.get(f"{live.url}/api/o/oauth/v2/authorize", allow_redirects=False,
                            timeout=10, params={"response_type": "x",
                                                "client_id": seeded.client_id,
                                                "redirect_uri": seeded.redirect_uri}
                            ).status_code

    assert [legacy() for _ in range(21)] == [302] * 20 + [429]
    assert [oauth() for _ in range(21)] == [302] * 20 + [429]
