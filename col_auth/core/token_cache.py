"""Each worker's cache of the token validations it made: a request with a token
seen before costs a dictionary lookup and one read of the revocation generation
(``revocations``), not a database query.

An entry is trusted only while the generation it was made under is the current
one, and never past the token's expiry or ``TOKEN_CACHE_SECONDS`` (a bound for the
one case the generation cannot cover: a process killed between a revocation's
commit and its announcement in Redis). The generation is read *before* the
database, so a validation that raced a revocation is cached under the generation
that the revocation replaces. Only successes are cached: a refused token is
looked up again each time (a token can only become valid by being issued, and an
issued token is new to every cache).

``last_used`` stays right to its resolution: a hit still records the use when
the last one recorded is older than ``LAST_USED_RESOLUTION`` (``principals.touch``).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Hashable
from dataclasses import dataclass
from datetime import datetime, timedelta

from flask import Flask, current_app

from ..extensions import db
from .clock import now
from .principals import Principal, touch
from .revocations import GenerationStore, store_for, watch

_EXTENSION = "col_auth.token_cache"


@dataclass(slots=True)
class Validated:
    """A successful validation as the database answered it."""

    principal: Principal
    token_id: int
    last_used_at: datetime | None  # as recorded after this validation
    expires_at: datetime | None  # the token's own expiry (None: until revoked)


@dataclass(slots=True)
class _Entry:
    validated: Validated
    generation: object
    stale_after: datetime


class TokenCache:
    """One process's validations, keyed by what identifies a credential."""

    def __init__(self, store: GenerationStore) -> None:
        self.store = store
        self._entries: dict[Hashable, _Entry] = {}
        self._generation: object | None = None
        self._pid = os.getpid()

    def principal(self, key: Hashable, validate: Callable[[], Validated | None],
                  before_query: Callable[[], None] | None = None) -> Principal | None:
        """The principal of the credential ``key`` names: from the cache when its
        entry is current, else from ``validate`` (which reads the database), with
        ``before_query`` called first (how the caller wants its connection)."""
        config = current_app.config
        seconds, size = config["TOKEN_CACHE_SECONDS"], config["TOKEN_CACHE_SIZE"]
        generation = self.store.read() if seconds > 0 and size > 0 else None
        if generation is None:
            found = _validated(validate, before_query)
            return found.principal if found else None
        if generation != self._generation or os.getpid() != self._pid:
            # Something was revoked since (or this is a forked child): nothing held
            # is current any more.
            self._entries = {}
            self._generation, self._pid = generation, os.getpid()
        moment = now()
        entry = self._entries.get(key)
        # The entry's own generation is compared too: with threads, a validation
        # begun under the old generation may be stored after another thread saw
        # the new one.
        if (entry is not None and entry.generation == generation
                and entry.stale_after > moment):
            found = entry.validated
            # ``touch`` writes only when the recorded use is older than the resolution.
            found.last_used_at = touch(found.token_id, found.principal.grant_id,
                                       found.last_used_at, moment)
            return found.principal
        found = _validated(validate, before_query)
        if found is None:
            self._entries.pop(key, None)
            return None
        stale_after = moment + timedelta(seconds=seconds)
        if found.expires_at is not None and found.expires_at < stale_after:
            stale_after = found.expires_at
        if len(self._entries) >= size:
            self._entries = {}  # crude, but bounded; a full cache is a rare event
        self._entries[key] = _Entry(found, generation, stale_after)
        return found.principal


def _validated(validate: Callable[[], Validated | None],
               before_query: Callable[[], None] | None) -> Validated | None:
    if before_query is not None:
        before_query()
    return validate()


def token_cache() -> TokenCache:
    return current_app.extensions[_EXTENSION]


def init_app(flask_app: Flask) -> None:
    """The cache of this app, and the watch on its engine that keeps it honest."""
    with flask_app.app_context():
        engine = db.engine
    store = store_for(engine, flask_app.config.get("RATELIMIT_STORAGE_URI"))
    watch(engine, store)
    flask_app.extensions[_EXTENSION] = TokenCache(store)
