"""The one transaction rule, and the helper for the steps that break it on purpose.

Core functions add, change and flush; they never commit or roll back. Whoever
called the core owns the transaction and ends it once: a request commits after
its view returned and rolls back when the view raised (``col_auth.database``);
a CLI command commits when it ends without error. So a refused request or
command leaves nothing half-written behind.

Three steps are decided by a race between workers and must be settled at once,
whatever the rest of the request does: redeeming a code, rotating a refresh
token (both with their replay detection) and recording a token's last use.
They run inside ``own_transaction()``, which commits what the step wrote as soon
as the step ends. Each is the first write of its request, so the commit covers
that step alone. Purging (``purge``) commits batch by batch the same way, so a
purge of millions of rows never holds one long transaction.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from ..extensions import db


@contextmanager
def own_transaction() -> Iterator[None]:
    """Commit what the block wrote when it ends; roll it back if it raises."""
    try:
        yield
    except BaseException:
        db.session.rollback()
        raise
    db.session.commit()
