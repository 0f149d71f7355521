"""A refused authorization request, on either face: counted in metrics every time,
audited always for a signed-in user, and before sign-in at most once a minute per
(app or client, error, address), since anyone can cause those (issue 9, finding 8)."""

from __future__ import annotations

from flask_login import current_user

from ..core import audit, metrics
from ..extensions import client_ip
from . import once


def record_refusal(face: str, event: str, subject: str | None, code: str,
                   **detail: str | None) -> None:
    """Count and (maybe) audit a refusal of ``subject`` (an AppToken, a client_id)."""
    metrics.REFUSALS.labels(face, code).inc()
    user = current_user if current_user.is_authenticated else None
    if user is None and not once.first_in(60, event, subject, code, client_ip()):
        return
    audit.record(event, user_id=user.id if user else None,
                 site_id=user.site_id if user else None, ip=client_ip(), error=code,
                 **detail)
