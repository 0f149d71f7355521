"""Deleting what has expired, in batches, so a huge table never loads into memory.

Each batch commits by itself (``own_transaction``): a purge holds its locks for
one batch at a time, and one stopped half-way keeps what it had done.
"""

from __future__ import annotations

import random

from flask import current_app
from sqlalchemy import delete, select

from ..extensions import db
from .clock import now
from .models import AuthorizationCode, LoginSession, Token
from .transaction import own_transaction


def _delete_in_batches(model, condition, batch_size: int, max_batches: int | None = None,
                       key=None) -> int:
    key = model.id if key is None else key
    total = 0
    batches = 0
    while max_batches is None or batches < max_batches:
        batches += 1
        ids = list(db.session.scalars(select(key).where(condition).limit(batch_size)))
        if not ids:
            return total
        with own_transaction():
            db.session.execute(delete(model).where(key.in_(ids)))
        total += len(ids)
    return total


def purge_expired(batch_size: int, max_batches: int | None = None) -> dict[str, int]:
    """Delete expired codes, tokens and sign-in sessions; returns how many rows of
    each kind went.

    An expired code can no longer be redeemed, so its row is no longer needed to
    detect a replay: a late replay is refused as an unknown code.
    """
    moment = now()
    codes = _delete_in_batches(AuthorizationCode, AuthorizationCode.expires_at < moment,
                               batch_size, max_batches)
    tokens = _delete_in_batches(
        Token, Token.expires_at.is_not(None) & (Token.expires_at < moment), batch_size,
        max_batches,
    )
    sessions = _delete_in_batches(LoginSession, LoginSession.expires_at < moment, batch_size,
                                  max_batches, key=LoginSession.id_hash)
    return {"codes": codes, "tokens": tokens, "sessions": sessions}


def maybe_purge() -> dict[str, int] | None:
    """Opportunistic purging: with a chance of 1 in ``PURGE_CHANCE`` (0: never), purge
    one batch of ``PURGE_BATCH_SIZE``, so a deployment without a scheduler still
    keeps its tables small. Cheap when it does not fire."""
    chance = int(current_app.config.get("PURGE_CHANCE") or 0)
    if chance <= 0 or random.randrange(chance) != 0:  # noqa: S311 - not security
        return None
    return purge_expired(int(current_app.config["PURGE_BATCH_SIZE"]), max_batches=1)
