"""``/api/o/oauth/v2/authorize``: the authorization endpoint (RFC 6749 §4.1.1–§4.1.2,
OIDC Core §3.1.2).

Checks run in the order of RFC 6749 §4.1.2.1: while the client or its redirect
URI is in doubt, errors are a 400 page and nothing is redirected (an attacker
must not be able to use us as an open redirector); after that, errors go back to
the client's redirect URI with ``error``, ``state`` and ``iss`` (RFC 9207), the
way its ``response_mode`` asks.

Then who the user is and what they allowed decide what happens (OIDC Core
§3.1.2.3–§3.1.2.6): a sign-in when there is none, or ``prompt=login``,
``prompt=select_account``, a ``max_age`` older than the sign-in or an
``id_token_hint`` naming someone else asks for one; the consent page unless the
user has allowed this client at least these scopes before (or ``prompt=consent``);
``prompt=none`` never shows a page and answers ``login_required`` or
``consent_required`` instead.

The request may come by GET or by POST (form-encoded, OIDC Core §3.1.2.1). The
consent page posts back to the same URL: its POST carries the page's CSRF token
and the button pressed, which an authorization request never does.
"""

from __future__ import annotations

import base64
import hashlib
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from flask import Response, current_app, make_response, redirect, render_template, request, session
from flask import url_for as flask_url_for
from flask_login import current_user

from ..core import audit, consents, rfc7636
from ..core.clock import now
from ..core.errors import (
    AccessDenied,
    ConsentRequired,
    InvalidRequest,
    InvalidScope,
    LoginRequired,
    NotFound,
    OAuthError,
    RegistrationNotSupported,
    RequestNotSupported,
    RequestUriNotSupported,
    UnsupportedResponseType,
    ValidationError,
)
from ..core.models import AuthorizationCode, OAuthClient
from ..core.oauth_clients import check_redirect_uri, client_is_usable, find_client
from ..core.oauth_tokens import create_code
from ..core.scopes import grantable, scope_string
from ..extensions import csrf, limit_from, limiter
from ..web import client_ip, errors, icon_response, with_query
from ..web.forms import require_submitted
from ..web.headers import no_store
from ..web.refusals import record_refusal
from . import bp, oidc
from .forms import OAuthConsentForm
from .parameters import MAX_ID_TOKEN_HINT_LENGTH, MAX_PARAM_LENGTH, collect, too_long

# What the consent form carries back, so the POST is checked exactly like the GET.
# ``prompt``, ``max_age`` and the hints were acted on before the page was shown.
CONSENT_PARAMS = ("client_id", "redirect_uri", "scope", "response_type", "response_mode",
                  "state", "nonce", "code_challenge", "code_challenge_method")
# Read and acted on; any other parameter is ignored (RFC 6749 §3.1), among them
# OIDC's ``display``, ``ui_locales``, ``claims_locales``, ``acr_values`` and ``claims``,
# which this provider accepts without error and does not use.
REQUEST_PARAMS = CONSENT_PARAMS + ("prompt", "max_age", "id_token_hint", "login_hint",
                                   "request", "request_uri", "registration")
# A parameter stored with the code may be no longer than its column, which
# PostgreSQL would refuse at "Allow" (a 500); the others only travel.
MAX_LENGTHS = {name: MAX_PARAM_LENGTH for name in REQUEST_PARAMS} | {
    "nonce": AuthorizationCode.nonce.type.length,
    "id_token_hint": MAX_ID_TOKEN_HINT_LENGTH,
}
PROMPTS = frozenset({"none", "login", "consent", "select_account"})
RESPONSE_MODES = ("query", "form_post")


@dataclass(frozen=True)
class AuthorizationRequest:
    client: OAuthClient
    redirect_uri: str
    scope: str
    state: str | None
    nonce: str | None
    code_challenge: str | None
    response_mode: str
    prompt: frozenset[str]
    max_age: int | None
    id_token_hint: dict | None
    login_hint: str | None
    params: dict[str, str]

    @property
    def consent_params(self) -> dict[str, str]:
        return {k: v for k, v in self.params.items() if k in CONSENT_PARAMS}


def _collect(source) -> tuple[dict[str, str], set[str]]:
    return collect(source, REQUEST_PARAMS)


def check_lengths(params: dict[str, str]) -> None:
    """``InvalidRequest`` naming the first parameter longer than ``MAX_LENGTHS`` allows."""
    problem = too_long(params, MAX_LENGTHS)
    if problem:
        raise InvalidRequest(problem)


def response_mode_of(params: dict[str, str]) -> str:
    """How an answer to these parameters travels back, errors included.

    ``form_post`` when asked for; ``fragment`` when asked for, or when the
    ``response_type`` is one whose answer would be in the fragment (Multiple
    Response Types §5: any with ``token`` or ``id_token``; a query there is not
    allowed), even though such a response type is refused; else the query.
    """
    asked = params.get("response_mode")
    if asked == "form_post":
        return "form_post"
    types = set((params.get("response_type") or "").split())
    if asked == "fragment" or types & {"token", "id_token"}:
        return "fragment"
    return "query"


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
        raise exc.to_client(redirect_uri, params.get("state"), response_mode_of(params)) from None


def _validate_for_client(client: OAuthClient, redirect_uri: str, params: dict[str, str],
                         repeated: set[str]) -> AuthorizationRequest:
    if repeated:
        raise InvalidRequest(f"Repeated parameter(s): {', '.join(sorted(repeated))}.")
    # OIDC Core §6.1 and §6.2: a provider without request objects says so.
    if "request" in params:
        raise RequestNotSupported("Request objects are not supported.")
    if "request_uri" in params:
        raise RequestUriNotSupported("request_uri is not supported.")
    if "registration" in params:
        raise RegistrationNotSupported("The registration parameter is not supported.")
    check_lengths(params)
    response_type = params.get("response_type")
    if not response_type:
        raise InvalidRequest("response_type is required.")
    if response_type != "code":
        raise UnsupportedResponseType("Only response_type=code is supported.")
    if params.get("response_mode", "query") not in RESPONSE_MODES:
        raise InvalidRequest("response_mode must be query or form_post.")

    try:
        requested = grantable(params.get("scope"), client.template.scope_set)
    except ValidationError as exc:
        raise InvalidScope(exc.message) from exc

    challenge = params.get("code_challenge")
    method = params.get("code_challenge_method")
    if challenge or method:
        if method != rfc7636.S256:
            # RFC 7636 §4.4.1; "plain" is refused (RFC 9700 §2.1.1).
            raise InvalidRequest("code_challenge_method must be S256.")
        if not challenge or not rfc7636.is_valid_challenge(challenge):
            raise InvalidRequest("code_challenge is missing or malformed.")
    elif client.pkce_required:
        # RFC 9700 §2.1.1: public clients MUST use PKCE; others may be made to.
        raise InvalidRequest("This application must send a code_challenge (PKCE, S256).")

    prompt = frozenset((params.get("prompt") or "").split()) & PROMPTS
    if "none" in prompt and len(prompt) > 1:
        raise InvalidRequest("prompt=none cannot be combined with other values.")
    max_age = _max_age(params.get("max_age"))
    hint = None
    if params.get("id_token_hint"):
        hint = oidc.read_id_token_hint(params["id_token_hint"])
        if hint is None:
            raise InvalidRequest("id_token_hint is not an id_token issued here.")

    return AuthorizationRequest(
        client=client,
        redirect_uri=redirect_uri,
        scope=scope_string(requested),
        state=params.get("state"),
        nonce=params.get("nonce") or None,
        code_challenge=challenge or None,
        response_mode=params.get("response_mode", "query"),
        prompt=prompt,
        max_age=max_age,
        id_token_hint=hint,
        login_hint=params.get("login_hint") or None,
        params=params,
    )


def _max_age(value: str | None) -> int | None:
    """OIDC Core §3.1.2.1: seconds, a non-negative integer."""
    if value is None or value == "":
        return None
    if not value.isascii() or not value.isdigit():
        raise InvalidRequest("max_age must be a non-negative number of seconds.")
    return int(value)


# --- answering the client -----------------------------------------------------------


def _answer_client(redirect_uri: str, state: str | None, response_mode: str,
                   **values: str) -> Response:
    """Send ``values`` back to the client as its ``response_mode`` asks."""
    if state is not None:
        values["state"] = state
    values["iss"] = current_app.config["ISSUER"]  # RFC 9207 §2
    if response_mode == "form_post":
        return _form_post(redirect_uri, values)
    if response_mode == "fragment":
        return no_store(redirect(redirect_uri + "#" + urlencode(values), code=302))
    return no_store(redirect(with_query(redirect_uri, values), code=302))


# Exactly the script in templates/oauth/form_post.html: the CSP allows it by its hash.
_AUTO_SUBMIT = "document.forms[0].submit();"
_AUTO_SUBMIT_HASH = base64.b64encode(hashlib.sha256(_AUTO_SUBMIT.encode()).digest()).decode()


def _form_post(redirect_uri: str, values: dict[str, str]) -> Response:
    """OAuth 2.0 Form Post Response Mode §2: a page whose one form posts ``values``
    to the redirect URI by itself. Its CSP allows exactly that: the one inline
    script (by hash), a form posting to that URI, nothing else."""
    page = render_template("oauth/form_post.html", action=redirect_uri, values=values)
    response = no_store(make_response(page))
    response.headers["Content-Security-Policy"] = (
        f"default-src 'none'; script-src 'sha256-{_AUTO_SUBMIT_HASH}'; "
        f"form-action {_csp_source(redirect_uri)}; frame-ancestors 'none'; base-uri 'none'")
    return response


def _csp_source(uri: str) -> str:
    """The redirect URI as a CSP source expression (CSP 3 §2.3.1): scheme, host, port
    and path, without the query, and with the characters that would end the source
    list percent-encoded."""
    parts = urlsplit(uri)
    path = parts.path or "/"
    for char, escaped in ((";", "%3B"), (",", "%2C"), (" ", "%20")):
        path = path.replace(char, escaped)
    return urlunsplit((parts.scheme, parts.netloc, path, "", ""))


def _answer_error(error: BaseException) -> Response:
    """This blueprint's error handler: an error whose redirect URI is trusted goes
    back to the client (RFC 6749 §4.1.2.1), recorded as a refusal; any other is a page."""
    if not isinstance(error, OAuthError) or error.redirect_uri is None:
        return errors.page_response(error)
    client_id = request.values.get("client_id")
    record_refusal("oauth", audit.OAUTH_REFUSED, client_id, error.code, client_id=client_id)
    return _answer_client(error.redirect_uri, error.state, error.response_mode,
                          error=error.code, error_description=error.message)


errors.answer_with(bp, _answer_error)


# --- the endpoint -------------------------------------------------------------------


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
@csrf.exempt  # an authorization request by POST carries none; _decide checks its own
def authorize():
    if request.method == "POST" and _is_consent_decision():
        return _decide()
    source = request.form if request.method == "POST" else request.args
    auth_request = validate(*_collect(source))
    return _authorize(auth_request)


def _is_consent_decision() -> bool:
    """The consent page's POST, not an authorization request sent by POST."""
    return any(name in request.form for name in ("csrf_token", "allow", "cancel"))


def _authorize(req: AuthorizationRequest) -> Response:
    why_sign_in = _sign_in_needed(req)
    if why_sign_in:
        if "none" in req.prompt:
            raise LoginRequired(why_sign_in).to_client(req.redirect_uri, req.state,
                                                        req.response_mode)
        return _to_login(req)
    scopes = frozenset(req.scope.split())
    remembered = consents.covers(current_user, req.client, scopes)
    if "none" in req.prompt and not remembered:
        raise ConsentRequired("The user has not allowed this application these scopes."
                              ).to_client(req.redirect_uri, req.state, req.response_mode)
    if remembered and "consent" not in req.prompt:
        return _issue_code(req)
    return _consent_page(req)


def _sign_in_needed(req: AuthorizationRequest) -> str | None:
    """Why the user must sign in (again) before this request is answered, or None."""
    if not current_user.is_authenticated:
        return "The user is not signed in."
    if req.prompt & {"login", "select_account"}:
        return "A new sign-in was asked for."
    if req.max_age is not None:
        signed_in = _auth_time()
        if signed_in is None or now() - signed_in > timedelta(seconds=req.max_age):
            return "The sign-in is older than max_age."
    if req.id_token_hint is not None and req.id_token_hint.get("sub") != current_user.id:
        return "The signed-in user is not the one id_token_hint names."
    return None


def _to_login(req: AuthorizationRequest) -> Response:
    """The login page, then this request again by GET.

    What asked for the sign-in (``prompt=login``/``select_account``, ``max_age``, the
    hint) is left out of the request sent on: the user has just signed in, so
    repeating it would only send them round again; ``auth_time`` moves with the
    new sign-in (OIDC Core §3.1.2.3)."""
    again = {k: v for k, v in req.params.items()
             if k not in ("max_age", "id_token_hint", "prompt")}
    kept_prompt = " ".join(sorted(req.prompt - {"login", "select_account"}))
    if kept_prompt:
        again["prompt"] = kept_prompt
    next_url = flask_url_for("oauth.authorize") + "?" + urlencode(again)
    login_args = {"next": next_url}
    if req.login_hint:
        login_args["login_hint"] = req.login_hint
    return no_store(redirect(flask_url_for("accounts.login", **login_args)))


def _consent_page(req: AuthorizationRequest) -> Response:
    page = render_template("oauth/consent.html", req=req, form=OAuthConsentForm(),
                           external_app=req.client.template.external_app,
                           scopes=req.scope.split())
    return no_store(make_response(page))


def _issue_code(req: AuthorizationRequest) -> Response:
    code = create_code(
        req.client, current_user,
        redirect_uri=req.redirect_uri,
        scope=req.scope,
        nonce=req.nonce,
        code_challenge=req.code_challenge,
        auth_time=_auth_time() or now(),
        ip=client_ip(),
    )
    return _answer_client(req.redirect_uri, req.state, req.response_mode, code=code)


def _decide() -> Response:
    """Allow or Cancel pressed on the consent page."""
    csrf.protect()
    form = OAuthConsentForm()
    require_submitted(form)
    params, repeated = _collect(request.form)
    req = validate({k: v for k, v in params.items() if k in CONSENT_PARAMS}, repeated)
    if not current_user.is_authenticated:
        raise ValidationError("session_ended",
                              "Your session ended. Start again from the application.")
    if form.allow.data:
        consents.remember(current_user, req.client, frozenset(req.scope.split()))
        return _issue_code(req)
    if not form.cancel.data:
        raise ValidationError("invalid_request", "Choose Allow or Cancel.")
    raise AccessDenied("The user cancelled.").to_client(req.redirect_uri, req.state,
                                                         req.response_mode)


def _auth_time() -> datetime | None:
    """When the user signed in, from the session; None if the session does not say."""
    stamp = session.get("auth_time")
    if isinstance(stamp, int):
        return datetime.fromtimestamp(stamp, UTC).replace(tzinfo=None)
    return None


@bp.route("/apps/<client_id>/icon")
def external_app_icon(client_id: str):
    """The external app's icon for the consent page (public: shown before anyone decides)."""
    client = find_client(client_id)
    if client is None:
        raise NotFound("unknown_client", "No such application.")
    return icon_response(*client.template.external_app.display_icon)
