"""The one error model: every refusal is a ``CoreError`` with a stable ``code`` for
machines, a ``message`` for a person, and the ``status`` a protocol face answers with.

The core raises these and knows nothing of how they are shown: each blueprint
registers one handler (``col_auth.web.errors``) that turns any of them into JSON,
an error page, or a redirect back to a client, so no view maps an error by hand.

Categories take the code as their first argument (``ValidationError("invalid_name",
"…")``); the protocol errors fix their code in the class, as the RFCs name them
(``InvalidGrant("…")``), like Authlib's ``OAuth2Error`` subclasses.
"""

from __future__ import annotations


class CoreError(Exception):
    """A refused request or command: ``code``, ``message``, ``status``."""

    code = "error"
    status = 400

    def __init__(self, code: str | None, message: str) -> None:
        super().__init__(message)
        if code is not None:
            self.code = code
        self.message = message

    def __str__(self) -> str:
        return f"{self.message} ({self.code})"


# --- categories: the code says which rule was broken ----------------------------------


class ValidationError(CoreError):
    """The input breaks a rule; nothing was stored. The code names the rule
    (``invalid_name``, ``invalid_redirect_uri``, ``csrf_failed``…)."""

    code = "invalid_request"


class PermissionDenied(CoreError):
    """The caller is known but may not do this (``site_admin_required``…)."""

    code = "forbidden"
    status = 403


class NotFound(CoreError):
    """No such thing, or none the caller may see: the two are not told apart."""

    code = "not_found"
    status = 404


class Conflict(CoreError):
    code = "conflict"
    status = 409  # a name that must be unique is taken


# --- protocol errors: the class is the code --------------------------------------------


class ProtocolError(CoreError):
    """An error whose code a specification names; the class fixes it."""

    def __init__(self, message: str) -> None:
        super().__init__(None, message)


class OAuthError(ProtocolError):
    """RFC 6749 §4.1.2.1 and §5.2 errors.

    ``redirect_uri`` is set only once the client and its redirect URI are known to
    be good (§4.1.2.1): the error then goes back to the client with ``state``;
    without it the error is shown here and nothing is redirected.
    """

    redirect_uri: str | None = None
    state: str | None = None
    # How the answer travels back (OAuth 2.0 Multiple Response Types §2, Form Post
    # Response Mode §2): "query", "fragment" or "form_post".
    response_mode: str = "query"

    def to_client(self, redirect_uri: str, state: str | None,
                  response_mode: str = "query") -> OAuthError:
        self.redirect_uri, self.state, self.response_mode = redirect_uri, state, response_mode
        return self


class InvalidRequest(OAuthError):
    """A parameter is missing, repeated, malformed or not supported."""

    code = "invalid_request"


class InvalidClient(OAuthError):
    """§5.2: 401, with a ``WWW-Authenticate`` challenge for the scheme the client may use."""

    code = "invalid_client"
    status = 401


class InvalidGrant(OAuthError):
    code = "invalid_grant"  # the code or refresh token is not (or no longer) good


class UnsupportedGrantType(OAuthError):
    code = "unsupported_grant_type"


class UnauthorizedClient(OAuthError):
    """RFC 6749 §5.2: the authenticated client may not use this grant type."""

    code = "unauthorized_client"


class InvalidScope(OAuthError):
    code = "invalid_scope"


class UnsupportedResponseType(OAuthError):
    code = "unsupported_response_type"


class LoginRequired(OAuthError):
    """OIDC Core §3.1.2.6: ``prompt=none`` but the user must sign in."""

    code = "login_required"


class ConsentRequired(OAuthError):
    """OIDC Core §3.1.2.6: ``prompt=none`` but the user has not consented to this."""

    code = "consent_required"


class RequestNotSupported(OAuthError):
    """OIDC Core §6: request objects are not supported here."""

    code = "request_not_supported"


class RequestUriNotSupported(OAuthError):
    code = "request_uri_not_supported"


class RegistrationNotSupported(OAuthError):
    code = "registration_not_supported"


class AccessDenied(OAuthError):
    """The user pressed Cancel (§4.1.2.1); always sent back to the client."""

    code = "access_denied"
    status = 403


class TokenError(ProtocolError):
    """RFC 6750 §3.1 errors of a protected resource."""


class InvalidToken(TokenError):
    """401, with a challenge per scheme the resource accepts (``schemes``); the
    Bearer one names the error only if the request carried credentials (§3.1)."""

    code = "invalid_token"
    status = 401

    def __init__(self, message: str, schemes: tuple[str, ...] = ("Bearer",),
                 credentials_sent: bool = True) -> None:
        super().__init__(message)
        self.schemes, self.credentials_sent = schemes, credentials_sent


class InvalidBearerRequest(TokenError):
    """RFC 6750 §3.1 ``invalid_request`` at a protected resource: 400, with a Bearer
    challenge naming it (a token in the URL, or sent two ways at once)."""

    code = "invalid_request"
    status = 400


class InsufficientScope(TokenError):
    """403, with a Bearer challenge naming the ``scope`` needed."""

    code = "insufficient_scope"
    status = 403

    def __init__(self, scope: str) -> None:
        super().__init__(f"The access token lacks the {scope!r} scope.")
        self.scope = scope
