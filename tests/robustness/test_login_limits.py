"""Sign-in limits against an attacker, with the counts in Redis (issue 9, findings 1 and 4).

The policy: every attempt counts per address and per (username, address), and those
refuse (429) past their limits; failures per username alone only slow the answer
down, so nobody can lock a user out by failing on purpose from elsewhere.
"""

from __future__ import annotations

import time

import pytest
import redis

from tests.helpers import PASSWORD, Browser, csrf_token, seed

LIMITS = {
    "RATELIMIT_ENABLED": True,
    "PROXY_FIX_HOPS": 1,  # X-Forwarded-For stands for the attacker's many addresses
    "LOGIN_RATE_LIMIT": "10 per minute",
    "LOGIN_ADDRESS_RATE_LIMIT": "30 per minute",
    "LOGIN_DELAY_AFTER": 3,
    "LOGIN_DELAY_MAX": 0.4,
}


@pytest.fixture
def app_config(redis_url) -> dict:
    return {**LIMITS, "RATELIMIT_STORAGE_URI": redis_url}


def _attempt(browser: Browser, token: str, username: str, password: str,
             address: str) -> int:
    return browser.post("/login", headers={"X-Forwarded-For": address},
                        data={"csrf_token": token, "username": username,
                              "password": password}).status_code


def _longest_key(redis_url: str) -> int:
    keys = redis.Redis.from_url(redis_url).keys("*")
    assert keys, "the limits are kept in Redis"
    return max(len(key) for key in keys)


def test_an_oversize_username_leaves_no_large_key(app, live, redis_url):
    seed(app)
    browser = Browser(live.url)
    token = csrf_token(browser.get("/login").text)
    statuses = {_attempt(browser, token, "x" * 900_000, "wrong", "10.1.0.1") for _ in range(3)}
    assert statuses <= {400, 413}, statuses
    for username in ("m" * 151, "mem\u200bber", "ｍｅｍｂｅｒ" * 30, "é" * 149):
        assert _attempt(browser, token, username, "wrong", "10.1.0.2") in (400, 413)
    assert _longest_key(redis_url) <= 200


def test_a_form_past_the_form_size_limit_is_refused_before_any_count(app, live, redis_url):
    seed(app)
    browser = Browser(live.url)
    token = csrf_token(browser.get("/login").text)
    redis.Redis.from_url(redis_url).flushdb()
    status = _attempt(browser, token, "member", "p" * 200_000, "10.1.1.1")
    assert status == 413
    assert not redis.Redis.from_url(redis_url).keys("*"), "nothing was counted"


@pytest.mark.parametrize("spelling", ["member", "MEMBER", " member", "Member "])
def test_failures_from_one_address_never_lock_out_a_clean_address(app, live, spelling):
    seed(app)
    attacker = Browser(live.url)
    token = csrf_token(attacker.get("/login").text)
    statuses = [_attempt(attacker, token, spelling, "wrong", "10.2.0.1") for _ in range(12)]
    assert statuses == [400] * 10 + [429] * 2, statuses
    # The attacker's own address is refused even with the right password ...
    assert _attempt(attacker, token, "member", PASSWORD, "10.2.0.1") == 429
    # ... but the user, from anywhere else, signs in.
    user = Browser(live.url)
    user_token = csrf_token(user.get("/login").text)
    assert _attempt(user, user_token, "member", PASSWORD, "10.2.0.2") == 302
    assert user.get("/profile").status_code == 200


def test_failures_from_many_addresses_slow_the_username_down_but_never_refuse_it(app, live):
    seed(app)
    attacker = Browser(live.url)
    token = csrf_token(attacker.get("/login").text)
    statuses = [_attempt(attacker, token, "member", "wrong", f"10.3.{i}.1") for i in range(8)]
    assert statuses == [400] * 8, "per username alone nothing is refused"
    # Another username is not slowed down; this one is, the correct password included.
    started = time.monotonic()
    assert _attempt(attacker, token, "admin", "wrong", "10.3.99.1") == 400
    unslowed = time.monotonic() - started
    user = Browser(live.url)
    user_token = csrf_token(user.get("/login").text)
    started = time.monotonic()
    assert _attempt(user, user_token, "member", PASSWORD, "10.3.100.1") == 302
    slowed = time.monotonic() - started
    assert slowed >= LIMITS["LOGIN_DELAY_MAX"], (slowed, unslowed)


def test_one_address_trying_many_usernames_is_refused(app, live):
    seed(app)
    browser = Browser(live.url)
    token = csrf_token(browser.get("/login").text)
    statuses = [_attempt(browser, token, f"user{i}", "wrong", "10.4.0.1") for i in range(31)]
    assert statuses == [400] * 30 + [429], statuses
    assert _attempt(browser, token, "user99", "wrong", "10.4.0.2") == 400
