"""``/api/o/oauth/v2/authorize``: the authorization endpoint (RFC 6749 §4.1.1–§4.1.2).

Checks run in the order of §4.1.2.1: while the client or its redirect URI is in
doubt, errors are a 400 page and nothing is redirected (an attacker must not
be able to use us as an open redirector); after that, errors go back to the
client's redirect URI with ``error``, ``state`` and ``iss`` (RFC 9207).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from urllib.parse import parse_qsl, urlencode

from flask import Response, current_app, make_response, redirect, render_template, request, session
from flask import url_for as flask_url_for
from flask_login import current_user

from ..core import audit, rfc7636
from ..core.clock import now
from ..core.errors import (
    AccessDenied,
    InvalidRequest,
    InvalidScope,
    NotFound,
    OAuthError,
    UnsupportedResponseType,
    ValidationError,
)
from ..core.models import AuthorizationCode, OAuthClient
from ..core.oauth_clients import (
    check_redirect_uri,
    client_is_usable,
    find_client,
    parse_scopes,
    scope_string,
)
from ..core.oauth_tokens import create_code
from ..extensions import limit_from, limiter
from ..web import client_ip, errors, icon_response, with_query
from ..web.forms import require_submitted
from ..web.headers import no_store
from ..web.refusals import record_refusal
from . import bp
from .forms import OAuthConsentForm

# What the consent form carries back, so the POST is checked exactly like the GET.
REQUEST_PARAMS = ("client_id", "redirect_uri", "scope", "response_type", "response_mode",
                  "state", "nonce", "code_challenge", "code_challenge_method")
MAX_PARAM_LENGTH = 2000
# A parameter stored with the code may be no longer than its column, which
# PostgreSQL would refuse at "Allow" (a 500); the others only travel.
MAX_LENGTHS = {name: MAX_PARAM_LENGTH for name in REQUEST_PARAMS} | {
    "nonce": AuthorizationCode.nonce.type.length,
}


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


def check_lengths(params: dict[str, str]) -> None:
    """``InvalidRequest`` naming the first parameter longer than ``MAX_LENGTHS`` allows."""
    for name, value in params.items():
        if len(value) > MAX_LENGTHS[name]:
            raise InvalidRequest(f"Parameter too long: {name} "
                                 f"({MAX_LENGTHS[name]} characters at most).")


def validate(params: dict[str, str], repeated: set[str]) -> AuthorizationRequest:
    """The checked request. While the client or its redirect URI is in doubt an
    error is a 400 page; after that it is an ``OAuthError`` sent to the client."""
    if repeated & {"client_id", "redirect_uri"}:
        raise ValidationError("invalid_request", "client_id and redirect_uri must be given once.")
    client = find_client(params.get("client_id"))
    if client is None:
        raise ValidationError("invalid_client", "This link names no known application.")
    if not client_is_usable(client):
        raise ValidationError("invalid_client",
                              "This application is expired or disabled and cannot be authorized.")
    redirect_uri = params.get("redirect_uri")
    if not redirect_uri:
        raise ValidationError("invalid_request", "The request has no redirect_uri.")
    # Exact string comparison against the registered URIs (RFC 9700 §4.1.3).
    if redirect_uri not in client.redirect_uri_list:
        raise ValidationError("invalid_request",
                              "The redirect_uri is not registered for this application.")
    # Registered before a rule it breaks (a host not in ASCII): not redirected to.
    try:
        check_redirect_uri(redirect_uri)
    except ValidationError as exc:
        raise ValidationError("invalid_request", "The redirect_uri registered for this "
                              f"application is no longer accepted: {exc.message}") from None
    try:
        return _validate_for_client(client, redirect_uri, params, repeated)
    except OAuthError as exc:
        raise exc.to_client(redirect_uri, params.get("state")) from None


def _validate_for_client(client: OAuthClient, redirect_uri: str, params: dict[str, str],
                         repeated: set[str]) -> AuthorizationRequest:
    if repeated:
        raise InvalidRequest(f"Repeated parameter(s): {', '.join(sorted(repeated))}.")
    check_lengths(params)
    response_type = params.get("response_type")
    if not response_type:
        raise InvalidRequest("response_type is required.")
    if response_type != "code":
        raise UnsupportedResponseType("Only response_type=code is supported.")
    if params.get("response_mode", "query") != "query":
        raise InvalidRequest("Only response_mode=query is supported.")

    template_scopes = client.template.scope_set
    try:
        requested = parse_scopes(params.get("scope", ""))
    except ValidationError as exc:
        raise InvalidScope(exc.message) from exc
    if not requested:
        requested = template_scopes  # none given means all of the template's
    if not requested <= template_scopes:
        raise InvalidScope("The application may not ask for "
                           + ", ".join(sorted(requested - template_scopes)) + ".")

    challenge = params.get("code_challenge")
    method = params.get("code_challenge_method")
    if challenge or method:
        if method != rfc7636.S256:
            # RFC 7636 §4.4.1; "plain" is refused (RFC 9700 §2.1.1).
            raise InvalidRequest("code_challenge_method must be S256.")
        if not challenge or not rfc7636.is_valid_challenge(challenge):
            raise InvalidRequest("code_challenge is missing or malformed.")

    return AuthorizationRequest(
        client=client,
        redirect_uri=redirect_uri,
        scope=scope_string(requested),
        state=params.get("state"),
        nonce=params.get("nonce") or None,
        code_challenge=challenge or None,
        params=params,
    )


def _redirect_to_client(redirect_uri: str, state: str | None, **values: str) -> Response:
    if state is not None:
        values["state"] = state
    values["iss"] = current_app.config["ISSUER"]  # RFC 9207 §2
    return no_store(redirect(with_query(redirect_uri, values), code=302))


def _answer_error(error: BaseException) -> Response:
    """This blueprint's error handler: an error whose redirect URI is trusted goes
    back to the client (RFC 6749 §4.1.2.1), recorded as a refusal; any other is a page."""
    if not isinstance(error, OAuthError) or error.redirect_uri is None:
        return errors.page_response(error)
    client_id = request.values.get("client_id")
    record_refusal("oauth", audit.OAUTH_REFUSED, client_id, error.code, client_id=client_id)
    return _redirect_to_client(error.redirect_uri, error.state, error=error.code,
                               error_description=error.message)


errors.answer_with(bp, _answer_error)


@bp.route("/authorize/<path:rest>", methods=["GET"])
def authorize_misspelt(rest: str):
    """The seed documents' ``/authorize/client_id=…&…``: sent on to the canonical URL."""
    authorize_path = flask_url_for("oauth.authorize")
    raw = request.environ.get("RAW_URI") or request.environ.get("REQUEST_URI") or ""
    marker = authorize_path + "/"
    raw_rest = raw.split(marker, 1)[1] if marker in raw else rest
    pairs = parse_qsl(raw_rest.replace("?", "&"), keep_blank_values=True)
    pairs += list(request.args.items(multi=True)) if "?" not in raw_rest else []
    return redirect(authorize_path + "?" + urlencode(pairs), code=302)


@bp.route("/authorize", methods=["GET", "POST"])
@limiter.limit(limit_from("AUTHORIZE_RATE_LIMIT"))
def authorize():
    source = request.form if request.method == "POST" else request.args
    auth_request = validate(*_collect(source))

    if not current_user.is_authenticated:
        if request.method == "POST":
            raise ValidationError("session_ended",
                                  "Your session ended. Start again from the application.")
        return redirect(flask_url_for("accounts.login", next=request.full_path))

    form = OAuthConsentForm()
    if request.method == "POST":
        require_submitted(form)
        if form.allow.data:
            code = create_code(
                auth_request.client, current_user,
                redirect_uri=auth_request.redirect_uri,
                scope=auth_request.scope,
                nonce=auth_request.nonce,
                code_challenge=auth_request.code_challenge,
                auth_time=_auth_time(),
                ip=client_ip(),
            )
            return _redirect_to_client(auth_request.redirect_uri, auth_request.state, code=code)
        if not form.cancel.data:
            raise ValidationError("invalid_request", "Choose Allow or Cancel.")
        raise AccessDenied("The user cancelled.").to_client(auth_request.redirect_uri,
                                                             auth_request.state)

    external_app = auth_request.client.template.external_app
    page = render_template("oauth/consent.html", req=auth_request, form=form,
                           external_app=external_app,
                           scopes=auth_request.scope.split())
    return no_store(make_response(page))


def _auth_time() -> datetime:
    """When the user signed in, from the session; now if the session does not say."""
    stamp = session.get("auth_time")
    if isinstance(stamp, int):
        return datetime.fromtimestamp(stamp, UTC).replace(tzinfo=None)
    return now()


@bp.route("/apps/<client_id>/icon")
def external_app_icon(client_id: str):
    """The external app's icon for the consent page (public: shown before anyone decides)."""
    client = find_client(client_id)
    if client is None:
        raise NotFound("unknown_client", "No such application.")
    return icon_response(*client.template.external_app.display_icon)
