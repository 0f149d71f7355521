"""``/auth/``: an app sends the user here; the user allows or cancels; the app gets a packet.

The order of checks is the contract's (§3): an unknown AppToken is a 400 page
and never a redirect (we do not know where it would go); a bad ``type`` goes
back to the Return URL at once, before any login; then login; then the
site-administrator check; then consent.
"""

from __future__ import annotations

from flask import abort, make_response, redirect, render_template, request, url_for
from flask_login import current_user

from ..core import audit, grants, metrics
from ..core.legacy_apps import app_secret, find_app
from ..core.models import GRANT_SITE_TOKEN, GRANT_USER_TOKEN, LegacyApp
from ..extensions import db
from ..web import client_ip, error_page, no_store, with_query
from . import bp, packets
from .forms import ConsentForm

# ``type`` values of the Connections Online protocol.
TOKEN_TYPES = {"1": GRANT_SITE_TOKEN, "44": GRANT_USER_TOKEN}
DEFAULT_TYPE = "44"


def _params() -> dict[str, str]:
    """Request parameters with names compared case-insensitively (first value wins)."""
    source = request.form if request.method == "POST" else request.args
    params: dict[str, str] = {}
    for name, value in source.items(multi=True):
        params.setdefault(name.lower(), value)
    return params


def _back_to_app(app: LegacyApp, params: dict[str, str]):
    response = redirect(with_query(app.return_url, params), code=302)
    return no_store(response)


def _refuse(app: LegacyApp, error: str):
    metrics.REFUSALS.labels("legacy", error).inc()
    audit.record(audit.LEGACY_REFUSED, user_id=_current_user_id(), ip=client_ip(),
                 app=app.app_token, error=error)
    db.session.commit()
    packet = packets.sign(packets.error_claims(error), app_secret(app))
    return _back_to_app(app, {"jwt": packet})


def _current_user_id() -> str | None:
    return current_user.id if current_user.is_authenticated else None


@bp.route("/auth/", methods=["GET", "POST"])
@bp.route("/auth", methods=["GET", "POST"])
def authorize():
    params = _params()
    app = find_app(params.get("apptoken"))
    if app is None:
        return error_page(400, "unknown_app",
                          "This link does not name a registered app. Nothing was sent anywhere.")
    type_value = (params.get("type") or DEFAULT_TYPE).strip()
    kind = TOKEN_TYPES.get(type_value)
    if kind is None:
        return _refuse(app, packets.INVALID_TYPE)
    if not current_user.is_authenticated:
        if request.method == "POST":
            abort(400, "Your session ended. Start again from the app.")
        return redirect(url_for("accounts.login", next=request.full_path))
    if kind == GRANT_SITE_TOKEN and not current_user.is_site_admin:
        return _refuse(app, packets.SITE_ADMIN_REQUIRED)

    form = ConsentForm(apptoken=app.app_token, type=type_value)
    if request.method == "POST":
        if not form.validate_on_submit():
            abort(400, "The form expired or did not come from this site. Start again from the app.")
        if form.allow.data:
            grant, token = grants.issue_legacy_token(current_user, app, kind, ip=client_ip())
            packet = packets.sign(packets.grant_claims(grant, token, current_user),
                                  app_secret(app))
            db.session.commit()
            return _back_to_app(app, {"jwt": packet})
        if not form.cancel.data:
            abort(400, "Choose Allow or Cancel.")
        metrics.REFUSALS.labels("legacy", "cancelled").inc()
        audit.record(audit.LEGACY_CANCELLED, user_id=current_user.id,
                     site_id=current_user.site_id, ip=client_ip(), app=app.app_token, kind=kind)
        db.session.commit()
        return _back_to_app(app, {"cancel": "1"})

    page = render_template(
        "legacy/consent.html", app=app, form=form, site_token=kind == GRANT_SITE_TOKEN
    )
    return no_store(make_response(page))
