"""Sign-in limits: who may try how often, and how slowly (README, "Sign-in limits").

- Per address and per (username, address), attempts past ``LOGIN_ADDRESS_RATE_LIMIT``
  and ``LOGIN_RATE_LIMIT`` are refused (429): one address cannot guess on and on.
- Per username alone nothing is refused, since anyone could then lock a user out by
  failing on purpose. Failures are counted, and past ``LOGIN_DELAY_AFTER`` within
  ``LOGIN_DELAY_WINDOW`` every attempt for that username waits a growing delay
  before the password is checked: guessing from many addresses slows down, while
  the user, from a clean address, still signs in.

Keys are built from the address and a digest of the username's enforced form
(``accounts.username_key``), never from what was typed: whatever the input, a key
is a few dozen bytes. Counts live in the limiter's storage (Redis when configured),
so every worker of every host sees them.
"""

from __future__ import annotations

import hashlib
import time

from flask import current_app, request
from flask_login import current_user
from limits import RateLimitItemPerSecond

from ..core.accounts import login_name_key
from ..extensions import limiter
from ..web import client_ip

# A name no username can be (it fails the profile): one key for all of them.
_NO_NAME = "\x00"


def _username_digest(username: str | None = None) -> str:
    """A short digest of a username's enforced form (by default the submitted one)."""
    if username is None:
        username = request.form.get("username", "")
    key = login_name_key(username) or _NO_NAME
    return hashlib.sha256(key.encode()).hexdigest()[:32]


def address_key() -> str:
    return f"login-address:{client_ip()}"


def username_address_key() -> str:
    return f"login:{client_ip()}:{_username_digest()}"


def _failure_window() -> RateLimitItemPerSecond:
    # Counted as hits against a limit never reached: the window's count is the number
    # of failures.
    return RateLimitItemPerSecond(10**9, int(current_app.config["LOGIN_DELAY_WINDOW"]))


def delay_for(failures: int, after: int, longest: float) -> float:
    """Seconds to wait before checking a password for a username that failed
    ``failures`` times lately: none up to ``after``, then 0.25 s doubling with each
    further failure, at most ``longest``."""
    if failures <= after:
        return 0.0
    return min(longest, 0.25 * 2 ** min(failures - after - 1, 16))


def _counting() -> bool:
    # The limiter is one object for every app of the process (tests make many): this
    # app's own setting decides too.
    return limiter.enabled and bool(current_app.config.get("RATELIMIT_ENABLED", True))


def wait_for_username(username: str | None = None) -> float:
    """Sleep as long as the recent failures of ``username`` (by default the submitted
    one) call for; the seconds slept. Nothing when rate limiting is off."""
    if not _counting():
        return 0.0
    window = _failure_window()
    _, remaining = limiter.limiter.get_window_stats(window, "login-failures",
                                                    _username_digest(username))
    config = current_app.config
    seconds = delay_for(window.amount - remaining, int(config["LOGIN_DELAY_AFTER"]),
                        float(config["LOGIN_DELAY_MAX"]))
    if seconds:
        time.sleep(seconds)
    return seconds


def count_failure(username: str | None = None) -> None:
    if _counting():
        limiter.limiter.hit(_failure_window(), "login-failures", _username_digest(username))


def user_key() -> str:
    """Per signed-in user and address: for forms that check the current password."""
    return f"password:{client_ip()}:{current_user.get_id()}"
