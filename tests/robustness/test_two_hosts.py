"""Two hosts: two separate gunicorn masters, two workers each, sharing PostgreSQL and
Redis as two machines behind a load balancer would.

Every worker caches the validations it made (``core.token_cache``); a revocation
through either host, or by a process of neither (an operator's command), is
refused by every worker of both on the very next request (issue 11).
"""

from __future__ import annotations

import re

import pytest
from sqlalchemy import select

from col_auth.core import accounts
from col_auth.core.models import User
from col_auth.extensions import db
from tests.helpers import Browser, csrf_token
from tests.oauth.support import get_code, seed_client
from tests.robustness.conftest import clean, dispose, seeding_app
from tests.robustness.support import exchange, fresh_get, fresh_post, parallel

WORKERS = 2


class _Live:
    def __init__(self, url: str) -> None:
        self.url = url


@pytest.fixture
def hosts(gunicorn_factory, redis_url):
    return [gunicorn_factory(workers=WORKERS, RATELIMIT_STORAGE_URI=redis_url)
            for _ in range(2)]


@pytest.fixture
def store(hosts, redis_url):
    """An app of neither host on their database and Redis (an operator's command)."""
    app = seeding_app(hosts[0].database_url, hosts[0].instance_path,
                      RATELIMIT_STORAGE_URI=redis_url)
    clean(app)
    yield app
    clean(app)
    dispose(app)


def _statuses_everywhere(hosts, headers: dict) -> dict[str, list[int]]:
    """/api/v1/me many times over fresh connections on each host: every worker of
    each answers some."""
    return {host.url: parallel(6, 4, lambda host=host: fresh_get(
        host.url + "/api/v1/me", headers).status_code) for host in hosts}


def _workers_that_answered(host, count: int) -> set[int]:
    rows = [pid for pid, _, path, _ in host.access_lines() if path == "/api/v1/me"]
    return set(rows[-count:])


def _assert_everywhere(hosts, headers: dict, status: int) -> None:
    statuses = _statuses_everywhere(hosts, headers)
    for host in hosts:
        assert set(statuses[host.url]) == {status}, (host.url, statuses[host.url])
        assert len(_workers_that_answered(host, len(statuses[host.url]))) == WORKERS


def _tokens(hosts, seeded) -> dict:
    return exchange(hosts[0].url, seeded, get_code(_Live(hosts[0].url), seeded)).json()


def test_an_access_token_revoked_on_one_host_is_refused_by_every_worker_of_both(hosts, store):
    seeded = seed_client(store)
    tokens = _tokens(hosts, seeded)
    bearer = {"Authorization": f"Bearer {tokens['access_token']}"}
    _assert_everywhere(hosts, bearer, 200)  # every worker of both hosts has it cached
    revoked = fresh_post(hosts[1].url + "/api/o/oauth/v2/revoke", {
        "token": tokens["access_token"], "client_id": seeded.client_id,
        "client_secret": seeded.client_secret})
    assert revoked.status_code == 200
    _assert_everywhere(hosts, bearer, 401)


def test_a_connection_revoked_in_the_profile_on_one_host_stops_on_both(hosts, store):
    seeded = seed_client(store)
    tokens = _tokens(hosts, seeded)
    bearer = {"Authorization": f"Bearer {tokens['access_token']}"}
    _assert_everywhere(hosts, bearer, 200)
    person = Browser(hosts[0].url)  # the member, who allowed the client
    person.login("member")
    page = person.get("/profile")
    actions = re.findall(r'action="(/profile/connections/[^"/]+/revoke)"', page.text)
    assert len(actions) == 1, actions
    response = person.post(actions[0], data={"csrf_token": csrf_token(page.text)})
    assert response.status_code == 302, response.text[:300]
    _assert_everywhere(hosts, bearer, 401)


def test_a_user_deactivated_by_a_process_of_neither_host_is_refused_by_both(hosts, store):
    seeded = seed_client(store)
    tokens = _tokens(hosts, seeded)
    bearer = {"Authorization": f"Bearer {tokens['access_token']}"}
    _assert_everywhere(hosts, bearer, 200)
    with store.app_context():
        user = db.session.scalar(select(User).where(User.username_key == "member"))
        accounts.set_active(user, False)
        db.session.commit()
        db.session.remove()
    _assert_everywhere(hosts, bearer, 401)
