"""B4: token validation as the Web API runs it, in-process, many calls, p50.

What is timed is ``col_auth.http_auth.authenticate(read_authorization(), scope="api")``
inside the request context of a ``GET /api/v1/me``: the header read and parsed,
a database connection taken from the pool, the one validation query, the
principal built. The request context and the session cleanup the request's
teardown would do are outside the timing. The per-worker cache of validations
is off in the measuring apps (``TOKEN_CACHE_SECONDS=0``): B4 asks whether the
query slows down as the table grows, which only a validation that reaches the
database shows (a token's first use in each worker does).

Two databases, one with few live tokens and one with many, are measured in
alternating rounds, so a change in the machine's load during the run weighs on
both sides alike.
"""

from __future__ import annotations

import base64
import random
import statistics
import time

from flask import Flask

from col_auth.core.errors import TokenError
from col_auth.extensions import db
from col_auth.http_auth import authenticate, read_authorization

from .seed import Samples, sample

WARM_UP = 200


def _basic(username: str, token: str) -> str:
    return "Basic " + base64.b64encode(f"{username}:{token}".encode()).decode("ascii")


class Timings:
    """Nanoseconds per validation, Basic and Bearer, collected over rounds."""

    def __init__(self) -> None:
        self.basic: list[int] = []
        self.bearer: list[int] = []

    def p50_microseconds(self) -> tuple[float, float]:
        return statistics.median(self.basic) / 1000, statistics.median(self.bearer) / 1000


def measure(app: Flask, samples: Samples, calls: int, rng: random.Random, into: Timings,
            warm_up: int = 0) -> None:
    """Validate ``calls`` Basic and ``calls`` Bearer tokens drawn at random from
    ``samples``, interleaved, and add their timings to ``into``."""
    legacy = sample(samples.legacy, calls + warm_up, rng)
    bearer = sample(samples.bearer, calls + warm_up, rng)
    with app.app_context():
        for i in range(calls + warm_up):
            basic_ns = _timed(app, _basic(*legacy[i]))
            bearer_ns = _timed(app, f"Bearer {bearer[i]}")
            if i >= warm_up:
                into.basic.append(basic_ns)
                into.bearer.append(bearer_ns)


def _timed(app: Flask, authorization: str) -> int:
    with app.test_request_context("/api/v1/me", headers={"Authorization": authorization}):
        started = time.perf_counter_ns()
        try:
            authenticate(read_authorization(), scope="api")
        except TokenError as exc:
            raise RuntimeError(f"a seeded live token did not validate: {exc.code}") from exc
        elapsed = time.perf_counter_ns() - started
        db.session.remove()
    return elapsed
