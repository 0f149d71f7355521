"""``/api/o/oauth/v2/logout``: the ``end_session_endpoint`` of OpenID Connect
RP-Initiated Logout 1.0.

A client sends the user here, by GET or by a form POST (§2), to end their sign-in
at col_auth; afterwards the user goes back to the client's
``post_logout_redirect_uri`` when, and only when, that exact string is registered
for the client (§3), with the client's ``state``.

Who may sign the user out without asking: a client that proves the user signed in
to it, by an ``id_token_hint`` we signed for the signed-in user (§2: "the OP need
not ask"); an expired hint is accepted, as §2 says it SHOULD be. Anyone else, a
page on another site included, gets a confirmation page whose POST carries its
CSRF token (§6: logout requests can be forged). A hint we did not sign, or one
whose audience is not the ``client_id`` sent with it, is refused with a page and
nothing ends.

The session ends for good: the server-side session row goes (``web.sessions``),
exactly as at ``/logout``, so a kept cookie opens nothing on any worker.
"""

from __future__ import annotations

from dataclasses import dataclass

from flask import Response, make_response, redirect, render_template, request
from flask_login import current_user

from ..core import audit
from ..core.errors import ValidationError
from ..core.models import OAuthClient
from ..core.oauth_clients import check_redirect_uri, client_is_usable, find_client
from ..extensions import csrf, limit_from, limiter
from ..web import client_ip, errors, with_query
from ..web.forms import ButtonForm, require_submitted
from ..web.headers import no_store
from ..web.refusals import record_refusal
from ..web.sessions import sign_out
from . import logout_bp as bp
from . import oidc
from .parameters import MAX_ID_TOKEN_HINT_LENGTH, MAX_PARAM_LENGTH, collect, too_long

# §2's parameters. ``ui_locales`` and ``logout_hint`` are accepted and not used:
# there is one language, and the signed-in user is the one to sign out.
PARAMS = ("id_token_hint", "client_id", "post_logout_redirect_uri", "state", "ui_locales",
          "logout_hint")
# The ones the confirmation form carries back, to be checked again on its POST.
CARRIED = ("id_token_hint", "client_id", "post_logout_redirect_uri", "state")
MAX_LENGTHS = {name: MAX_PARAM_LENGTH for name in PARAMS} | {
    "id_token_hint": MAX_ID_TOKEN_HINT_LENGTH}


@dataclass(frozen=True)
class LogoutRequest:
    """A checked logout request."""

    hint: dict | None  # the verified claims of id_token_hint
    client: OAuthClient | None  # from client_id, else the hint's audience
    redirect_uri: str | None  # registered for a usable client: where to go afterwards
    state: str | None
    not_redirected: str | None  # why a post_logout_redirect_uri that came is not used
    params: dict[str, str]

    @property
    def carried(self) -> dict[str, str]:
        return {k: v for k, v in self.params.items() if k in CARRIED}


def _collect(source) -> tuple[dict[str, str], set[str]]:
    """§2's parameters and the names that were repeated; others are ignored."""
    return collect(source, PARAMS)


class LogoutRefused(ValidationError):
    """A logout request that cannot be trusted: an error page, and the user stays
    signed in. ``code`` names the rule (``invalid_request``, ``invalid_id_token_hint``)."""

    def __init__(self, code: str, message: str, client_id: str | None) -> None:
        super().__init__(code, message)
        self.client_id = client_id


def _answer_error(error: BaseException) -> Response:
    """This blueprint's error handler (after the rollback): an error page; a refused
    request is also counted and audited, within ``record_refusal``'s limits."""
    if isinstance(error, LogoutRefused):
        record_refusal("oauth", audit.OIDC_LOGOUT_REFUSED, error.client_id, error.code,
                       client_id=error.client_id)
    return errors.page_response(error)


errors.answer_with(bp, _answer_error)


def _audiences(claims: dict) -> list[str]:
    aud = claims.get("aud")
    if isinstance(aud, str):
        return [aud]
    return [a for a in aud if isinstance(a, str)] if isinstance(aud, list) else []


def _hint_client_id(claims: dict) -> str | None:
    """The client an id_token was issued to (OIDC Core §2: ``azp`` when ``aud`` names
    several)."""
    audiences = _audiences(claims)
    if len(audiences) == 1:
        return audiences[0]
    azp = claims.get("azp")
    return azp if isinstance(azp, str) and azp in audiences else None


def validate(params: dict[str, str], repeated: set[str]) -> LogoutRequest:
    """The checked request, or a ``ValidationError`` (an error page) when the request
    cannot be trusted at all: a repeated or oversized parameter, a hint we did not
    sign, a ``client_id`` that is not the hint's audience."""
    client_id = params.get("client_id") or None
    if repeated:
        raise LogoutRefused("invalid_request",
                            f"Repeated parameter(s): {', '.join(sorted(repeated))}.",
                            client_id)
    problem = too_long(params, MAX_LENGTHS)
    if problem:
        raise LogoutRefused("invalid_request", problem, client_id)

    hint = None
    if params.get("id_token_hint"):
        hint = oidc.read_id_token_hint(params["id_token_hint"])
        if hint is None:
            raise LogoutRefused("invalid_id_token_hint",
                                "The application's id_token_hint was not issued by this "
                                "server. You are still signed in.", client_id)
        # §2: when both are given, the OP MUST check that client_id is the hint's client.
        if client_id is not None and client_id not in _audiences(hint):
            raise LogoutRefused("invalid_request", "The client_id is not the one the "
                                "id_token_hint was issued to. You are still signed in.",
                                client_id)
        client_id = client_id or _hint_client_id(hint)

    client = find_client(client_id) if client_id else None
    redirect_uri, not_redirected = _post_logout_redirect(
        client, params.get("post_logout_redirect_uri") or None)
    return LogoutRequest(hint=hint, client=client, redirect_uri=redirect_uri,
                         state=params.get("state"), not_redirected=not_redirected,
                         params=params)


def _post_logout_redirect(client: OAuthClient | None,
                          uri: str | None) -> tuple[str | None, str | None]:
    """Where to send the user afterwards, or why not there (§3: only to a URI
    registered for the client, compared as exact strings)."""
    if uri is None:
        return None, None
    if client is None:
        return None, ("The request did not say which application sent it, so you are "
                      "not sent back to it.")
    if not client_is_usable(client):
        return None, "The application is expired or disabled, so you are not sent back to it."
    if uri not in client.post_logout_redirect_uri_list:
        return None, ("The address the application asked to return to is not registered "
                      "for it, so you are not sent back to it.")
    try:
        # Registered before a rule it breaks (a host not in ASCII): not redirected to.
        check_redirect_uri(uri)
    except ValidationError:
        return None, ("The address registered for the application is no longer "
                      "accepted, so you are not sent back to it.")
    return uri, None


@bp.route("/logout", methods=["GET", "POST"])
@csrf.exempt  # a client's form POST carries no token of ours; the confirmation's does
@limiter.limit(limit_from("AUTHORIZE_RATE_LIMIT"))
def end_session() -> Response:
    if request.method == "POST" and _is_confirmation():
        return _confirmed()
    source = request.form if request.method == "POST" else request.args
    logout = validate(*_collect(source))
    if not current_user.is_authenticated:
        return _sign_out_and_leave(logout)  # nothing to end; the client still gets its redirect
    if logout.hint is not None and logout.hint.get("sub") == current_user.id:
        return _sign_out_and_leave(logout)
    return _confirmation_page(logout)


def _is_confirmation() -> bool:
    """The confirmation page's POST, not a logout request sent by POST (which never
    carries our CSRF token or our button)."""
    return any(name in request.form for name in ("csrf_token", "submit"))


def _confirmation_page(logout: LogoutRequest) -> Response:
    page = render_template("oauth/end_session.html", logout=logout, form=ButtonForm())
    return no_store(make_response(page))


def _confirmed() -> Response:
    require_submitted(ButtonForm())
    return _sign_out_and_leave(validate(*_collect(request.form)))


def _sign_out_and_leave(logout: LogoutRequest) -> Response:
    if current_user.is_authenticated:
        audit.record(audit.OIDC_LOGOUT, user_id=current_user.id,
                     site_id=current_user.site_id, ip=client_ip(),
                     client_id=logout.client.client_id if logout.client else None,
                     confirmed=request.method == "POST" and _is_confirmation())
    sign_out()
    if logout.redirect_uri is not None:
        target = logout.redirect_uri
        if logout.state is not None:
            target = with_query(target, {"state": logout.state})
        return no_store(redirect(target, code=302))
    return no_store(make_response(render_template("oauth/signed_out.html", logout=logout)))
