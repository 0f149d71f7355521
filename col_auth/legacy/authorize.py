"""``/auth/``: an app sends the user here; the user allows or cancels; the app gets a packet.

The order of checks is the contract's (§3): an unknown AppToken is a 400 page
and never a redirect (we do not know where it would go); a bad ``type`` goes
back to the Return URL at once, before any login; then login; then the
site-administrator check; then consent.
"""

from __future__ import annotations

from flask import Response, make_response, redirect, render_template, request, url_for
from flask_login import current_user

from ..core import audit, metrics
from ..core.errors import CoreError, ValidationError
from ..core.legacy_apps import app_secret, find_app, returnable_url
from ..core.legacy_tokens import issue_legacy_token
from ..core.models import GRANT_SITE_TOKEN, GRANT_USER_TOKEN, LegacyApp
from ..extensions import limit_from, limiter
from ..web import client_ip, errors, with_query
from ..web.forms import require_submitted
from ..web.headers import no_store
from ..web.refusals import record_refusal
from . import bp, packets
from .forms import ConsentForm

# ``type`` values of the Connections Online protocol.
TOKEN_TYPES = {"1": GRANT_SITE_TOKEN, "44": GRANT_USER_TOKEN}
DEFAULT_TYPE = "44"


class Refusal(CoreError):
    """A refusal the app learns of by an error packet at its Return URL (contract §3):
    raised only once the AppToken names a registered app."""

    def __init__(self, legacy_app: LegacyApp, code: str) -> None:
        super().__init__(code, f"The app's request was refused: {code}.")
        self.legacy_app = legacy_app


def _params() -> dict[str, str]:
    """Request parameters with names compared case-insensitively (first value wins)."""
    source = request.form if request.method == "POST" else request.args
    params: dict[str, str] = {}
    for name, value in source.items(multi=True):
        params.setdefault(name.lower(), value)
    return params


def _back_to_app(legacy_app: LegacyApp, params: dict[str, str]) -> Response:
    return no_store(redirect(with_query(legacy_app.return_url, params), code=302))


def _answer_error(error: BaseException) -> Response:
    """This blueprint's error handler: a ``Refusal`` goes back to the app as a signed
    error packet, recorded; any other error is a page."""
    if not isinstance(error, Refusal):
        return errors.page_response(error)
    app_token = error.legacy_app.app_token
    record_refusal("legacy", audit.LEGACY_REFUSED, app_token, error.code, app=app_token)
    packet = packets.sign(packets.error_claims(error.code), app_secret(error.legacy_app))
    return _back_to_app(error.legacy_app, {"jwt": packet})


errors.answer_with(bp, _answer_error)


@bp.route("/auth/", methods=["GET", "POST"])
@bp.route("/auth", methods=["GET", "POST"])
@limiter.limit(limit_from("AUTHORIZE_RATE_LIMIT"))
def authorize():
    params = _params()
    legacy_app = find_app(params.get("apptoken"))
    if legacy_app is None:
        raise ValidationError("unknown_app", "This link does not name a registered app. "
                                             "Nothing was sent anywhere.")
    returnable_url(legacy_app)  # before any redirect to it, error packets included
    type_value = (params.get("type") or DEFAULT_TYPE).strip()
    kind = TOKEN_TYPES.get(type_value)
    if kind is None:
        raise Refusal(legacy_app, packets.INVALID_TYPE)
    if not current_user.is_authenticated:
        if request.method == "POST":
            raise ValidationError("session_ended", "Your session ended. Start again from the app.")
        return redirect(url_for("accounts.login", next=request.full_path))
    if kind == GRANT_SITE_TOKEN and not current_user.is_site_admin:
        raise Refusal(legacy_app, packets.SITE_ADMIN_REQUIRED)

    form = ConsentForm(apptoken=legacy_app.app_token, type=type_value)
    if request.method == "POST":
        require_submitted(form)
        if form.allow.data:
            grant, token = issue_legacy_token(current_user, legacy_app, kind, ip=client_ip())
            packet = packets.sign(packets.grant_claims(grant, token, current_user),
                                  app_secret(legacy_app))
            return _back_to_app(legacy_app, {"jwt": packet})
        if not form.cancel.data:
            raise ValidationError("invalid_request", "Choose Allow or Cancel.")
        metrics.REFUSALS.labels("legacy", "cancelled").inc()
        audit.record(audit.LEGACY_CANCELLED, user_id=current_user.id,
                     site_id=current_user.site_id, ip=client_ip(), app=legacy_app.app_token,
                     kind=kind)
        return _back_to_app(legacy_app, {"cancel": "1"})

    page = render_template(
        "legacy/consent.html", legacy_app=legacy_app, form=form,
        site_token=kind == GRANT_SITE_TOKEN,
    )
    return no_store(make_response(page))
