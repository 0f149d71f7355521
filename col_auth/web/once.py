""""At most once a minute": for writes an anonymous request can cause, such as the audit
row of a refusal before sign-in (issue 9, finding 8).

The marks live in the rate limiter's storage (``RATELIMIT_STORAGE_URI``: Redis when
configured, where every worker of every host sees them), kept apart from the
limiter so that they hold even with rate limiting turned off. With the default
in-process storage, each worker keeps its own marks: at most one row a minute per
worker, still a bound.
"""

from __future__ import annotations

import hashlib

from flask import Flask, current_app
from limits import RateLimitItemPerSecond, storage, strategies

_EXTENSION = "col_auth.once"


def first_in(seconds: int, kind: str, *parts: str | None) -> bool:
    """True the first time (``kind``, ``parts``) is seen in ``seconds``, else False.
    The parts come from requests: only their digest goes into the key."""
    digest = hashlib.sha256("\x1f".join(p or "" for p in parts).encode(
        "utf-8", "surrogatepass")).hexdigest()[:32]
    limiter: strategies.FixedWindowRateLimiter = current_app.extensions[_EXTENSION]
    return limiter.hit(RateLimitItemPerSecond(1, seconds), "once", kind, digest)


def init_app(flask_app: Flask) -> None:
    flask_app.extensions[_EXTENSION] = strategies.FixedWindowRateLimiter(
        storage.storage_from_string(flask_app.config["RATELIMIT_STORAGE_URI"]))
