"""The audit trail: one row per grant, refusal, revocation and failed sign-in."""

from __future__ import annotations

import json
from typing import Any

from ..extensions import db
from .clock import now
from .models import AuditEvent

# Event names, one per thing that happened.
LOGIN_FAILED = "login_failed"
LOGIN = "login"
LOGOUT = "logout"
# OpenID Connect RP-Initiated Logout: a client sent the user to the end_session_endpoint.
OIDC_LOGOUT = "oidc_logout"
OIDC_LOGOUT_REFUSED = "oidc_logout_refused"
SIGNED_OUT_EVERYWHERE = "signed_out_everywhere"
PASSWORD_CHANGED = "password_changed"
USER_ACTIVATED = "user_activated"
USER_DEACTIVATED = "user_deactivated"
LEGACY_GRANTED = "legacy_granted"
LEGACY_CANCELLED = "legacy_cancelled"
LEGACY_REFUSED = "legacy_refused"
GRANT_REVOKED = "grant_revoked"
GRANTS_REVOKED = "grants_revoked"
APP_REGISTERED = "app_registered"
APP_UPDATED = "app_updated"
APP_DELETED = "app_deleted"
APP_SECRET_REGENERATED = "app_secret_regenerated"
CLIENT_CREATED = "client_created"
MODULE_ENABLED = "module_enabled"
MODULE_DISABLED = "module_disabled"
EXTERNAL_APP_ENABLED = "external_app_enabled"
EXTERNAL_APP_DISABLED = "external_app_disabled"
CLIENT_DELETED = "client_deleted"
OAUTH_CONSENTED = "oauth_consented"
CONSENT_FORGOTTEN = "consent_forgotten"
OAUTH_REFUSED = "oauth_refused"
OAUTH_GRANTED = "oauth_granted"
CODE_REPLAY = "code_replay"
REFRESH_REPLAY = "refresh_replay"
TOKEN_REVOKED = "token_revoked"


def _detail(detail: dict[str, Any]) -> str:
    return json.dumps(detail, sort_keys=True, default=str)


def record(
    event: str,
    *,
    user_id: str | None = None,
    site_id: str | None = None,
    ip: str | None = None,
    **detail: Any,
) -> AuditEvent:
    """Add an audit row to the current session; the caller's commit writes it."""
    row = AuditEvent(event=event, user_id=user_id, site_id=site_id, ip=ip,
                     detail=_detail(detail))
    db.session.add(row)
    return row


def values(
    event: str,
    *,
    user_id: str | None = None,
    site_id: str | None = None,
    ip: str | None = None,
    **detail: Any,
) -> dict[str, Any]:
    """The columns of the audit row ``record`` would add, for a statement that
    inserts it itself (the token endpoint's redemption, ``oauth_tokens``)."""
    return {"at": now(), "event": event, "user_id": user_id, "site_id": site_id, "ip": ip,
            "detail": _detail(detail)}

