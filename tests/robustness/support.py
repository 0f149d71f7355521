"""Helpers of the suites that run against gunicorn: HTTP calls over fresh connections,
a barrier race, and seeding straight into the server's database."""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import timedelta

import requests
from sqlalchemy import select

from col_auth.core import oauth_tokens
from col_auth.core.clock import now
from col_auth.core.models import OAuthClient, User
from col_auth.extensions import db
from tests.oauth.support import OAuthSeed

TOKEN_PATH = "/api/o/oauth/v2/token"


def fresh_post(url: str, data: dict, timeout: float = 30) -> requests.Response:
    """A POST over a connection of its own (no session, ``Connection: close``), so that
    consecutive calls can be answered by different workers."""
    return requests.post(url, data=data, timeout=timeout, headers={"Connection": "close"})


def fresh_get(url: str, headers: dict | None = None, timeout: float = 30) -> requests.Response:
    return requests.get(url, timeout=timeout, headers={"Connection": "close", **(headers or {})})


def exchange(base: str, seeded: OAuthSeed, code: str) -> requests.Response:
    return fresh_post(base + TOKEN_PATH, {
        "grant_type": "authorization_code", "code": code, "redirect_uri": seeded.redirect_uri,
        "client_id": seeded.client_id, "client_secret": seeded.client_secret})


def refresh(base: str, seeded: OAuthSeed, refresh_token: str) -> requests.Response:
    return fresh_post(base + TOKEN_PATH, {
        "grant_type": "refresh_token", "refresh_token": refresh_token,
        "client_id": seeded.client_id, "client_secret": seeded.client_secret})


def race(n: int, attempt: Callable[[], int]) -> list[int]:
    """``n`` threads released at once by a barrier; the statuses they got."""
    barrier = threading.Barrier(n)
    statuses: list[int] = []
    lock = threading.Lock()

    def run() -> None:
        barrier.wait()
        status = attempt()
        with lock:
            statuses.append(status)

    threads = [threading.Thread(target=run) for _ in range(n)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    return statuses


def parallel(n_threads: int, per_thread: int, attempt: Callable[[], int]) -> list[int]:
    """``n_threads`` threads each calling ``attempt`` ``per_thread`` times."""
    statuses: list[int] = []
    lock = threading.Lock()

    def run() -> None:
        for _ in range(per_thread):
            status = attempt()
            with lock:
                statuses.append(status)

    threads = [threading.Thread(target=run) for _ in range(n_threads)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    return statuses


def create_codes(app, seeded: OAuthSeed, user_id: str, n: int) -> list[str]:
    """``n`` codes as if ``user_id`` had pressed "Allow" ``n`` times (one transaction)."""
    with app.app_context():
        client = db.session.scalar(select(OAuthClient)
                                   .where(OAuthClient.client_id == seeded.client_id))
        user = db.session.get(User, user_id)
        codes = [oauth_tokens.create_code(client, user, redirect_uri=seeded.redirect_uri,
                                          scope="openid api", nonce=None, code_challenge=None,
                                          auth_time=now() - timedelta(seconds=5))
                 for _ in range(n)]
        db.session.commit()
        db.session.remove()
        return codes
