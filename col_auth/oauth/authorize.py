"""``/api/o/oauth/v2/authorize``: the authorization endpoint (RFC 6749 §4.1.1–§4.1.2).

Checks run in the order of §4.1.2.1: while the client or its redirect URI is in
doubt, errors are a 400 page and nothing is redirected (an attacker must not
be able to use us as an open redirector); after that, errors go back to the
client's redirect URI with ``error``, ``state`` and ``iss`` (RFC 9207).
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import parse_qsl, urlencode

from flask import abort, current_app, make_response, redirect, render_template, request, session
from flask import url_for as flask_url_for
from flask_login import current_user

from ..core import audit, metrics, rfc7636
from ..core.clock import now
from ..core.errors import ValidationError
from ..core.models import OAuthClient
from ..core.oauth_clients import client_is_usable, find_client, parse_scopes, scope_string
from ..core.oauth_tokens import create_code
from ..extensions import db
from ..web import client_ip, error_page, icon_response, no_store, with_query
from . import bp
from .forms import OAuthConsentForm

AUTHORIZE_PATH = "/api/o/oauth/v2/authorize"
# What the consent form carries back, so the POST is checked exactly like the GET.
REQUEST_PARAMS = ("client_id", "redirect_uri", "scope", "response_type", "response_mode",
                  "state", "nonce", "code_challenge", "code_challenge_method")
MAX_PARAM_LENGTH = 2000


class PageError(Exception):
    """An error shown on a 400 page, never redirected."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code, self.message = code, message


class RedirectError(Exception):
    """An error sent back to the client's redirect URI (§4.1.2.1)."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code, self.message = code, message


@dataclass(frozen=True)
class AuthorizationRequest:
    client: OAuthClient
    redirect_uri: str
    scope: str
    state: str | None
    nonce: str | None
    code_challenge: str | None
    params: dict[str, str]


def _collect(source) -> tuple[dict[str, str], set[str]]:
    """Parameters and the names that were repeated."""
    params: dict[str, str] = {}
    repeated: set[str] = set()
    for name, values in source.lists():
        if name in REQUEST_PARAMS:
            params[name] = values[0]
            if len(values) > 1:
                repeated.add(name)
    return params, repeated


def validate(params: dict[str, str], repeated: set[str]) -> AuthorizationRequest:
    """The checked request, or PageError / RedirectError."""
    if repeated & {"client_id", "redirect_uri"}:
        raise PageError("invalid_request", "client_id and redirect_uri must be given once.")
    client = find_client(params.get("client_id"))
    if client is None:
        raise PageError("invalid_client", "This link names no known application.")
    if not client_is_usable(client):
        raise PageError("invalid_client",
                        "This application is expired or disabled and cannot be authorized.")
    redirect_uri = params.get("redirect_uri")
    if not redirect_uri:
        raise PageError("invalid_request", "The request has no redirect_uri.")
    # Exact string comparison against the registered URIs (RFC 9700 §4.1.3).
    if redirect_uri not in client.redirect_uri_list:
        raise PageError("invalid_request",
                        "The redirect_uri is not registered for this application.")

    state = params.get("state")
    if repeated:
        names = ", ".join(sorted(repeated))
        raise RedirectError("invalid_request", f"Repeated parameter(s): {names}.")
    too_long = [n for n, v in params.items() if len(v) > MAX_PARAM_LENGTH]
    if too_long:
        raise RedirectError("invalid_request", f"Parameter too long: {too_long[0]}.")
    response_type = params.get("response_type")
    if not response_type:
        raise RedirectError("invalid_request", "response_type is required.")
    if response_type != "code":
        raise RedirectError("unsupported_response_type", "Only response_type=code is supported.")
    if params.get("response_mode", "query") != "query":
        raise RedirectError("invalid_request", "Only response_mode=query is supported.")

    template_scopes = client.template.scope_set
    try:
        requested = parse_scopes(params.get("scope", ""))
    except ValidationError as exc:
        raise RedirectError("invalid_scope", exc.message) from exc
    if not requested:
        requested = template_scopes  # none given means all of the template's
    if not requested <= template_scopes:
        raise RedirectError("invalid_scope", "The application may not ask for "
                            + ", ".join(sorted(requested - template_scopes)) + ".")

    challenge = params.get("code_challenge")
    method = params.get("code_challenge_method")
    if challenge or method:
        if method != rfc7636.S256:
            # RFC 7636 §4.4.1; "plain" is refused (RFC 9700 §2.1.1).
            raise RedirectError("invalid_request", "code_challenge_method must be S256.")
        if not challenge or not rfc7636.is_valid_challenge(challenge):
            raise RedirectError("invalid_request", "code_challenge is missing or malformed.")

    return AuthorizationRequest(
        client=client,
        redirect_uri=redirect_uri,
        scope=scope_string(requested),
        state=state,
        nonce=params.get("nonce") or None,
        code_challenge=challenge or None,
        params=params,
    )


def _redirect_to_client(redirect_uri: str, state: str | None, **values: str):
    values = {k: v for k, v in values.items() if v is not None}
    if state is not None:
        values["state"] = state
    values["iss"] = current_app.config["ISSUER"]  # RFC 9207 §2
    return no_store(redirect(with_query(redirect_uri, values), code=302))


@bp.route("/api/o/oauth/v2/authorize/<path:rest>", methods=["GET"])
def authorize_misspelt(rest: str):
    """The seed documents' ``/authorize/client_id=…&…``: sent on to the canonical URL."""
    raw = request.environ.get("RAW_URI") or request.environ.get("REQUEST_URI") or ""
    marker = AUTHORIZE_PATH + "/"
    raw_rest = raw.split(marker, 1)[1] if marker in raw else rest
    pairs = parse_qsl(raw_rest.replace("?", "&"), keep_blank_values=True)
    pairs += list(request.args.items(multi=True)) if "?" not in raw_rest else []
    return redirect(AUTHORIZE_PATH + "?" + urlencode(pairs), code=302)


@bp.route(AUTHORIZE_PATH, methods=["GET", "POST"])
def authorize():
    source = request.form if request.method == "POST" else request.args
    params, repeated = _collect(source)
    try:
        auth_request = validate(params, repeated)
    except PageError as exc:
        return error_page(400, exc.code, exc.message)
    except RedirectError as exc:
        metrics.REFUSALS.labels("oauth", exc.code).inc()
        audit.record(audit.OAUTH_REFUSED, ip=client_ip(), client_id=params.get("client_id"),
                     error=exc.code)
        db.session.commit()
        return _redirect_to_client(params["redirect_uri"], params.get("state"),
                                   error=exc.code, error_description=exc.message)

    if not current_user.is_authenticated:
        if request.method == "POST":
            abort(400, "Your session ended. Start again from the application.")
        return redirect(flask_url_for("accounts.login", next=request.full_path))

    form = OAuthConsentForm()
    if request.method == "POST":
        if not form.validate_on_submit():
            abort(400, "The form expired or did not come from this site. "
                       "Start again from the application.")
        client = auth_request.client
        if form.allow.data:
            code = create_code(
                client, current_user,
                redirect_uri=auth_request.redirect_uri,
                scope=auth_request.scope,
                nonce=auth_request.nonce,
                code_challenge=auth_request.code_challenge,
                auth_time=_auth_time(),
                ip=client_ip(),
            )
            db.session.commit()
            return _redirect_to_client(auth_request.redirect_uri, auth_request.state, code=code)
        if not form.cancel.data:
            abort(400, "Choose Allow or Cancel.")
        metrics.REFUSALS.labels("oauth", "access_denied").inc()
        audit.record(audit.OAUTH_REFUSED, user_id=current_user.id, site_id=current_user.site_id,
                     ip=client_ip(), client_id=client.client_id, error="access_denied")
        db.session.commit()
        return _redirect_to_client(auth_request.redirect_uri, auth_request.state,
                                   error="access_denied",
                                   error_description="The user cancelled.")

    external_app = auth_request.client.template.external_app
    page = render_template("oauth/consent.html", req=auth_request, form=form,
                           external_app=external_app,
                           scopes=auth_request.scope.split())
    return no_store(make_response(page))


def _auth_time():
    """When the user signed in, from the session; now if the session does not say."""
    from datetime import UTC, datetime

    stamp = session.get("auth_time")
    if isinstance(stamp, int):
        return datetime.fromtimestamp(stamp, UTC).replace(tzinfo=None)
    return now()


@bp.route("/api/o/oauth/v2/apps/<client_id>/icon")
def external_app_icon(client_id: str):
    """The external app's icon for the consent page (public: shown before anyone decides)."""
    client = find_client(client_id)
    if client is None:
        abort(404)
    return icon_response(*client.template.external_app.display_icon)
