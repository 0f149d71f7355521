"""An OAuth2/OIDC connection for third-party apps, in the manner of an Elements Connect
datasource (contract §7): what integrators otherwise write by hand.

Configure it with a client id/secret and either the endpoints or the discovery URL;
"get new credential" is :meth:`OAuth2Connection.authorization_url` followed by
:meth:`OAuth2Connection.complete`; :meth:`OAuth2Connection.request` sends the Bearer
token, refreshes it on expiry or on a 401, and saves a rotated refresh token through
the :class:`CredentialStore` before the new access token is used.

Silent sign-in: ``authorization_url(prompt="none")`` asks the server to answer
without showing a page; when it cannot (the person must sign in or consent),
:meth:`OAuth2Connection.complete` raises :class:`InteractionRequired`, and the app
asks again without ``prompt``. :meth:`OAuth2Connection.end_session_url` sends the
person to the server's logout (OpenID Connect RP-Initiated Logout 1.0).

This module speaks only HTTP: it depends on ``requests`` and PyJWT, never on the
server's code, so it works against any provider that follows the same RFCs
(6749, 6750, 7009, 7636, 7662, 9207, OpenID Connect Core, Discovery and
RP-Initiated Logout).
"""

from __future__ import annotations

import base64
import contextlib
import copy
import hashlib
import hmac
import json
import os
import secrets
import tempfile
import threading
import time
from collections.abc import Callable
from enum import StrEnum
from typing import Any, Protocol, runtime_checkable
from urllib.parse import parse_qs, urlencode, urlsplit

import jwt
import requests

__all__ = [
    "CredentialStore",
    "FileCredentialStore",
    "InteractionRequired",
    "MemoryCredentialStore",
    "OAuth2Connection",
    "OAuth2Error",
    "Status",
]

#: Seconds of disagreement between our clock and the server's that id_token checks allow.
CLOCK_SKEW = 60
#: Seconds every HTTP call may take unless the caller of :meth:`request` says otherwise.
HTTP_TIMEOUT = 10
ID_TOKEN_ALGORITHMS = ["RS256"]
TOKEN_KEYS = ("access_token", "refresh_token", "expires_at", "scope", "id_token",
              "id_token_claims")
#: Authorization parameters the connection sets itself; ``authorization_url`` refuses
#: them as extras, since replacing one would undo a check (state, nonce, PKCE).
MANAGED_PARAMS = frozenset({"response_type", "response_mode", "client_id", "redirect_uri",
                            "scope", "state", "nonce", "code_challenge",
                            "code_challenge_method"})
#: OIDC Core §3.1.2.6: the errors of a request that asked for no page (``prompt=none``)
#: when the server needed one; the app asks again, letting the server show it.
INTERACTION_ERRORS = frozenset({"login_required", "consent_required", "interaction_required",
                                "account_selection_required"})


class Status(StrEnum):  # a str and an Enum, as agreed; str() gives the value
    """Where a connection stands, as shown to the person who configures it."""

    NOT_CONFIGURED = "NOT_CONFIGURED"
    NOT_AUTHORIZED = "NOT_AUTHORIZED"
    AUTHORIZED = "AUTHORIZED"
    ERROR = "ERROR"


class OAuth2Error(Exception):
    """An OAuth2 failure: ``error`` is the RFC 6749 code the server sent (``invalid_grant``,
    ``access_denied``…) or a stable client code (``state_mismatch``, ``iss_mismatch``,
    ``bad_id_token``, ``not_configured``, ``not_authorized``, ``server_unreachable``,
    ``server_error``, ``store_failed``); ``description`` is for a person."""

    def __init__(self, error: str, description: str | None = None) -> None:
        super().__init__(f"{error}: {description}" if description else error)
        self.error = error
        self.description = description


class InteractionRequired(OAuth2Error):
    """The server could not answer without a page (OIDC Core §3.1.2.6): ``error`` is
    ``login_required``, ``consent_required``, ``interaction_required`` or
    ``account_selection_required``; ``prompt`` is the ``prompt`` the request sent.

    Not a failure: the expected answer to a silent sign-in (``prompt="none"``) when
    the person is not signed in at the server or has not allowed this app yet. Ask
    again without ``prompt`` (see :meth:`OAuth2Connection.authorization_url`)."""

    def __init__(self, error: str, description: str | None = None,
                 prompt: str | None = None) -> None:
        super().__init__(error, description)
        self.prompt = prompt


@runtime_checkable
class CredentialStore(Protocol):
    """Where a connection keeps its tokens and the pending authorization."""

    def load(self) -> dict | None:
        """The saved dict, or None when nothing is saved."""
        ...

    def save(self, data: dict) -> None:
        """Replace the saved dict; atomic: afterwards either the old or the new dict is
        saved, never a mix or nothing."""
        ...

    def clear(self) -> None:
        """Forget everything saved."""
        ...


class MemoryCredentialStore:
    """Keeps the credential in this process only (tests, short-lived scripts)."""

    def __init__(self, data: dict | None = None) -> None:
        self._data = copy.deepcopy(data)
        self._lock = threading.Lock()

    def load(self) -> dict | None:
        """A copy of the saved dict, or None."""
        with self._lock:
            return copy.deepcopy(self._data)

    def save(self, data: dict) -> None:
        """Replace the saved dict (it must be JSON-serializable, like on disk)."""
        snapshot = json.loads(json.dumps(data))
        with self._lock:
            self._data = snapshot

    def clear(self) -> None:
        """Forget everything."""
        with self._lock:
            self._data = None


class FileCredentialStore:
    """A JSON file readable by its owner only (mode 0600).

    ``save`` writes a temporary file in the same directory (created 0600), flushes and
    fsyncs it, then ``os.replace``-s it over the old one and fsyncs the directory: a
    crash at any moment leaves either the last good credential or the new one.
    """

    def __init__(self, path: str | os.PathLike) -> None:
        self.path = os.fspath(path)

    def load(self) -> dict | None:
        """The saved dict, or None when the file does not exist."""
        try:
            with open(self.path, encoding="utf-8") as handle:
                data = json.load(handle)
        except FileNotFoundError:
            return None
        except ValueError as exc:
            raise ValueError(f"The credential file {self.path} is not valid JSON "
                             f"({exc}); delete it and get a new credential.") from exc
        return data if isinstance(data, dict) else None

    def save(self, data: dict) -> None:
        """Atomically replace the file with ``data``."""
        payload = json.dumps(data, indent=2, sort_keys=True).encode("utf-8")
        directory = os.path.dirname(os.path.abspath(self.path))
        os.makedirs(directory, mode=0o700, exist_ok=True)
        # mkstemp creates the file with mode 0600 whatever the umask.
        fd, temp_path = tempfile.mkstemp(
            dir=directory, prefix=f".{os.path.basename(self.path)}.", suffix=".tmp")
        try:
            with os.fdopen(fd, "wb") as handle:
                os.fchmod(handle.fileno(), 0o600)
                handle.write(payload)
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(temp_path, self.path)
        except BaseException:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(temp_path)
            raise
        _fsync_directory(directory)

    def clear(self) -> None:
        """Delete the file."""
        try:
            os.unlink(self.path)
        except FileNotFoundError:
            return
        _fsync_directory(os.path.dirname(os.path.abspath(self.path)))


def _fsync_directory(directory: str) -> None:
    """Make a rename or unlink in ``directory`` durable (where the OS allows it)."""
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def _b64url_sha256(value: str) -> str:
    digest = hashlib.sha256(value.encode("ascii")).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


def _same(a: object, b: object) -> bool:
    return isinstance(a, str) and isinstance(b, str) and hmac.compare_digest(
        a.encode(), b.encode())


def _has_tokens(data: dict | None) -> bool:
    return bool(data) and bool(data.get("access_token") or data.get("refresh_token"))


def _identity(data: dict | None) -> str | None:
    """Which credential ``data`` holds (a hash, so no token is kept twice in memory)."""
    if not _has_tokens(data):
        return None
    assert data is not None
    token = data.get("refresh_token") or data.get("access_token") or ""
    return hashlib.sha256(token.encode()).hexdigest()


class OAuth2Connection:
    """One OAuth2 connection: its configuration, its credential and its status.

    Endpoints come from the discovery document (fetched lazily, once) when
    ``discovery_url`` is given; explicitly given ones win. The credential lives in
    ``store`` (memory by default), re-read on every use so that several connections
    or processes sharing one file store see each other's rotations.
    """

    def __init__(self, *, client_id: str | None = None, client_secret: str | None = None,
                 redirect_uri: str | None = None, discovery_url: str | None = None,
                 authorize_url: str | None = None, token_url: str | None = None,
                 userinfo_url: str | None = None, introspection_url: str | None = None,
                 revocation_url: str | None = None, jwks_url: str | None = None,
                 logout_url: str | None = None,
                 issuer: str | None = None, scope: str = "openid api",
                 store: CredentialStore | None = None, http: requests.Session | None = None,
                 clock: Callable[[], float] = time.time, refresh_margin: int = 30) -> None:
        self.client_id = client_id
        self.client_secret = client_secret
        self.redirect_uri = redirect_uri
        self.discovery_url = discovery_url
        self.scope = scope
        self.refresh_margin = refresh_margin
        self._explicit = {
            "authorization_endpoint": authorize_url,
            "token_endpoint": token_url,
            "userinfo_endpoint": userinfo_url,
            "introspection_endpoint": introspection_url,
            "revocation_endpoint": revocation_url,
            "jwks_uri": jwks_url,
            "end_session_endpoint": logout_url,
            "issuer": issuer,
        }
        self._store: CredentialStore = store if store is not None else MemoryCredentialStore()
        self._http = http if http is not None else requests.Session()
        self._clock = clock
        self._metadata: dict | None = None
        self._jwks: dict[str, jwt.PyJWK] = {}
        self._lock = threading.RLock()
        self._status: Status | None = None  # the result of the last check or request
        self._message = ""
        self._about: str | None = None  # the credential that result was about
        self._results = 0  # counts _set calls, to tell whether a call set a result

    # -- configuration ---------------------------------------------------------------

    def _discover(self) -> dict:
        """The discovery document, fetched once (a failure is retried next time)."""
        if self._metadata is None:
            document = self._get_json(self.discovery_url or "", "the discovery document")
            expected = self._explicit["issuer"]
            if expected and document.get("issuer") != expected:
                raise OAuth2Error("iss_mismatch",
                                  f"The discovery document names issuer "
                                  f"{document.get('issuer')!r}, not {expected!r}.")
            self._metadata = document
        return self._metadata

    def _endpoint(self, name: str) -> str | None:
        explicit = self._explicit.get(name)
        if explicit:
            return explicit
        if self.discovery_url:
            value = self._discover().get(name)
            return value if isinstance(value, str) and value else None
        return None

    @property
    def issuer(self) -> str | None:
        """The issuer id_tokens and authorization responses must name, when known."""
        return self._endpoint("issuer")

    def _missing(self) -> list[str]:
        """What configuration is missing (may fetch the discovery document)."""
        missing = [name for name, value in (("client_id", self.client_id),
                                            ("client_secret", self.client_secret),
                                            ("redirect_uri", self.redirect_uri)) if not value]
        if missing and self.discovery_url and not all(
                self._explicit[n] for n in ("authorization_endpoint", "token_endpoint")):
            return missing  # no network for a connection that cannot work anyway
        for name, setting in (("authorization_endpoint", "authorize_url"),
                              ("token_endpoint", "token_url")):
            if not self._endpoint(name):
                missing.append(setting)
        return missing

    def _require_configured(self) -> None:
        missing = self._missing()
        if missing:
            raise OAuth2Error("not_configured", "Missing: " + ", ".join(missing) + ".")

    # -- status ----------------------------------------------------------------------

    def _set(self, status: Status, message: str) -> None:
        self._status, self._message = status, message
        self._about = _identity(self._store.load())
        self._results += 1

    def _current(self) -> tuple[Status, str]:
        try:
            missing = self._missing()
        except OAuth2Error as exc:
            return Status.ERROR, f"Cannot read the server's configuration: {exc.description}"
        if missing:
            return Status.NOT_CONFIGURED, "Not configured; missing " + ", ".join(missing) + "."
        data = self._store.load()
        if not _has_tokens(data):
            if self._status is Status.NOT_AUTHORIZED and self._message:
                return Status.NOT_AUTHORIZED, self._message
            return Status.NOT_AUTHORIZED, "No credential stored; get a new credential."
        if self._status is None or self._about != _identity(data):
            # A credential this connection has no result about (new, or saved by another
            # connection): reported only once the server has been asked.
            self.check()
        assert self._status is not None
        return self._status, self._message

    @property
    def status(self) -> Status:
        """NOT_CONFIGURED, NOT_AUTHORIZED (nothing stored, or the credential is known
        dead), else the result of the last check or request (AUTHORIZED or ERROR). With a
        stored credential and no result yet, reading it runs :meth:`check` once."""
        return self._current()[0]

    @property
    def message(self) -> str:
        """What :attr:`status` means right now, for a person."""
        return self._current()[1]

    @property
    def id_token_claims(self) -> dict | None:
        """The verified claims of the last id_token, or None."""
        data = self._store.load() or {}
        return data.get("id_token_claims") if _has_tokens(data) else None

    @property
    def id_token(self) -> str | None:
        """The last verified id_token itself (the ``id_token_hint`` of a logout), or None."""
        data = self._store.load() or {}
        return data.get("id_token") if _has_tokens(data) else None

    def check(self) -> Status:
        """Ask the server whether the credential works now (UserInfo when ``openid`` is in
        scope, else introspection), refreshing first when the access token is (nearly)
        expired. Never raises: the outcome is the returned status and :attr:`message`."""
        try:
            self._require_configured()
        except OAuth2Error as exc:
            if exc.error == "not_configured":
                self._set(Status.NOT_CONFIGURED, f"Not configured. {exc.description}")
                return Status.NOT_CONFIGURED
            self._set(Status.ERROR, f"Cannot read the server's configuration: "
                                    f"{exc.description}")
            return Status.ERROR
        data = self._store.load()
        if not _has_tokens(data):
            if self._status is not Status.NOT_AUTHORIZED:
                self._set(Status.NOT_AUTHORIZED, "No credential stored; get a new credential.")
            return Status.NOT_AUTHORIZED
        results = self._results
        try:
            scopes = (data.get("scope") or self.scope or "").split()
            userinfo = self._endpoint("userinfo_endpoint")
            if "openid" in scopes and userinfo:
                response = self._authorized_call("GET", userinfo, {"timeout": HTTP_TIMEOUT})
                if response.status_code not in (200, 401):
                    self._set(Status.ERROR, f"UserInfo answered {response.status_code}.")
            elif self._endpoint("introspection_endpoint"):
                self._check_by_introspection()
            else:
                # Nothing to ask but the token endpoint: a refresh proves the grant works.
                self.refresh()
                self._set(Status.AUTHORIZED, "The server accepted the credential.")
        except OAuth2Error as exc:
            if self._results == results:  # not yet explained by the step that failed
                self._set(Status.ERROR, str(exc))
        except requests.RequestException as exc:
            self._set(Status.ERROR, f"Cannot reach the server: {exc}")
        return self._status or Status.ERROR

    def _check_by_introspection(self) -> None:
        for attempt in (1, 2):
            data = self._fresh_credential()
            answer = self._post_token_endpoint("introspection_endpoint", {
                "token": data.get("access_token") or "", "token_type_hint": "access_token"})
            if answer.get("active") is True:
                self._set(Status.AUTHORIZED, "The server confirms the access token is active.")
                return
            if attempt == 1:
                self._refresh_if_unchanged(data.get("refresh_token"))
        self._set(Status.NOT_AUTHORIZED, "The server reports the access token inactive even "
                                         "after a refresh; get a new credential.")

    # -- getting a credential --------------------------------------------------------

    def authorization_url(self, **extra: str | int) -> str:
        """A URL to send the person to; a new state, nonce and PKCE S256 verifier are kept
        in the store under ``"pending"`` for :meth:`complete`.

        ``extra`` adds OpenID Connect request parameters (Core §3.1.2.1), such as
        ``prompt="none"`` for a sign-in without any page (then :meth:`complete` may
        raise :class:`InteractionRequired`), ``prompt="login"``, ``max_age``,
        ``login_hint`` or ``ui_locales``. The parameters the connection sets itself
        (``MANAGED_PARAMS``) cannot be given: a ``ValueError``."""
        managed = sorted(MANAGED_PARAMS & set(extra))
        if managed:
            raise ValueError(f"authorization_url sets {', '.join(managed)} itself.")
        self._require_configured()
        state = secrets.token_urlsafe(32)
        nonce = secrets.token_urlsafe(32)
        verifier = secrets.token_urlsafe(64)  # 86 characters, RFC 7636 §4.1 allows 43–128
        with self._lock:
            data = self._store.load() or {}
            data["pending"] = {"state": state, "nonce": nonce, "code_verifier": verifier,
                               "created_at": self._clock(), "prompt": extra.get("prompt")}
            self._store.save(data)
        params = {
            "response_type": "code",
            "response_mode": "query",
            "client_id": self.client_id,
            "redirect_uri": self.redirect_uri,
            "scope": self.scope,
            "state": state,
            "nonce": nonce,
            "code_challenge": _b64url_sha256(verifier),
            "code_challenge_method": "S256",
            **{name: str(value) for name, value in extra.items() if value is not None},
        }
        endpoint = self._endpoint("authorization_endpoint") or ""
        return endpoint + ("&" if "?" in endpoint else "?") + urlencode(params)

    def complete(self, callback_url: str) -> dict:
        """Finish "get new credential" with the URL the person came back to: check
        ``state`` and ``iss``, exchange the code (client_secret_post + PKCE), verify the
        id_token, store the tokens. Returns the id_token claims (empty without openid).

        Raises :class:`InteractionRequired` when a request with ``prompt="none"`` needed
        a page (the status stays NOT_AUTHORIZED, not ERROR: nothing is wrong), and
        :class:`OAuth2Error` for any other refusal or failure."""
        try:
            return self._complete(callback_url)
        except InteractionRequired as exc:
            if not _has_tokens(self._store.load()):
                self._set(Status.NOT_AUTHORIZED, f"The server needs the person on a page "
                                                 f"({exc.error}); ask again without "
                                                 f"prompt=none.")
            raise
        except OAuth2Error as exc:
            if not _has_tokens(self._store.load()):
                self._set(Status.NOT_AUTHORIZED, f"Authorization failed: {exc}")
            raise

    def _complete(self, callback_url: str) -> dict:
        self._require_configured()
        query = {k: v[0] for k, v in parse_qs(urlsplit(callback_url).query,
                                              keep_blank_values=True).items()}
        with self._lock:
            data = self._store.load() or {}
            pending = data.get("pending")
            if not isinstance(pending, dict) or not _same(query.get("state"),
                                                          pending.get("state")):
                # Left pending: a forged callback must not cancel the real one.
                raise OAuth2Error("state_mismatch", "The callback's state is not the one this "
                                  "connection sent; start again from the application.")
            data.pop("pending")  # one callback per authorization, whatever its outcome
            if data:
                self._store.save(data)
            else:
                self._store.clear()
        self._check_iss(query)
        if "error" in query:
            if query["error"] in INTERACTION_ERRORS:
                raise InteractionRequired(query["error"], query.get("error_description"),
                                          prompt=pending.get("prompt"))
            raise OAuth2Error(query["error"], query.get("error_description"))
        if not query.get("code"):
            raise OAuth2Error("invalid_request", "The callback carries neither code nor error.")

        answer = self._post_token_endpoint("token_endpoint", {
            "grant_type": "authorization_code",
            "code": query["code"],
            "redirect_uri": self.redirect_uri or "",
            "code_verifier": str(pending.get("code_verifier", "")),
        })
        tokens = self._tokens_from(answer, previous=None)
        claims: dict = {}
        if "openid" in tokens["scope"].split() or answer.get("id_token"):
            try:
                claims = self._verify_id_token(answer.get("id_token"),
                                               nonce=pending.get("nonce"))
            except OAuth2Error:
                self._revoke_quietly(tokens.get("refresh_token"), "refresh_token")
                self._revoke_quietly(tokens.get("access_token"), "access_token")
                raise
        tokens["id_token_claims"] = claims or None
        tokens["id_token"] = answer.get("id_token") if claims else None
        with self._lock:
            data = {k: v for k, v in (self._store.load() or {}).items() if k not in TOKEN_KEYS}
            data.update(tokens)
            self._save(data)
        who = claims.get("preferred_username") or claims.get("sub")
        self._set(Status.AUTHORIZED, f"Authorized as {who}." if who else "Authorized.")
        return claims

    def _check_iss(self, query: dict[str, str]) -> None:
        """RFC 9207 §2.4: the response names the issuer we sent the person to."""
        issuer = self.issuer
        if not issuer:
            return
        if "iss" in query:
            if not _same(query["iss"], issuer):
                raise OAuth2Error("iss_mismatch", f"The callback comes from issuer "
                                  f"{query['iss']!r}, not {issuer!r}.")
            return
        if self.discovery_url and self._discover().get(
                "authorization_response_iss_parameter_supported"):
            raise OAuth2Error("iss_mismatch", "The callback lacks the iss parameter the "
                                              "server promises to send.")

    # -- using the credential --------------------------------------------------------

    def request(self, method: str, url: str, **kwargs: Any) -> requests.Response:
        """``requests``-style call with the Bearer token. Refreshes first when the access
        token expires within ``refresh_margin`` seconds; on a 401, refreshes once and
        retries once (so a body given as a stream cannot be sent twice: pass bytes).
        Raises OAuth2Error (``not_configured``, ``not_authorized``…) when there is no
        usable credential, and ``requests`` exceptions when ``url`` cannot be reached."""
        self._require_configured()
        kwargs.setdefault("timeout", HTTP_TIMEOUT)
        try:
            return self._authorized_call(method, url, kwargs)
        except requests.RequestException as exc:
            self._set(Status.ERROR, f"Cannot reach {url}: {exc}")
            raise

    def _authorized_call(self, method: str, url: str, kwargs: dict) -> requests.Response:
        data = self._fresh_credential()
        response = self._send(method, url, data, kwargs)
        if response.status_code == 401:
            self._refresh_if_unchanged(data.get("refresh_token"))
            data = self._store.load() or {}
            response = self._send(method, url, data, kwargs)
            if response.status_code == 401:
                self._set(Status.NOT_AUTHORIZED, "The server refuses the access token even "
                          "after a refresh; get a new credential.")
                return response
        if response.status_code >= 500:
            self._set(Status.ERROR, f"The server answered {response.status_code} at {url}.")
        else:
            self._set(Status.AUTHORIZED, "The server accepted the credential.")
        return response

    def _send(self, method: str, url: str, data: dict, kwargs: dict) -> requests.Response:
        headers = dict(kwargs.get("headers") or {})
        headers["Authorization"] = f"Bearer {data.get('access_token', '')}"
        return self._http.request(method, url, **{**kwargs, "headers": headers})

    def _fresh_credential(self) -> dict:
        """The stored credential, refreshed first if its access token is (nearly) expired."""
        data = self._store.load()
        if not _has_tokens(data):
            message = self._message if self._status is Status.NOT_AUTHORIZED else (
                "No credential stored; get a new credential.")
            self._set(Status.NOT_AUTHORIZED, message)
            raise OAuth2Error("not_authorized", message)
        assert data is not None
        expires_at = data.get("expires_at")
        if not data.get("access_token") or (
                expires_at is not None and expires_at - self._clock() <= self.refresh_margin):
            self._refresh_if_unchanged(data.get("refresh_token"))
            data = self._store.load() or {}
        return data

    def refresh(self) -> None:
        """Exchange the refresh token for new tokens now; the rotated refresh token is
        saved through the store before anything uses the new access token."""
        with self._lock:
            self._require_configured()
            data = self._store.load()
            if not data or not data.get("refresh_token"):
                self._set(Status.NOT_AUTHORIZED, "No refresh token stored; get a new "
                                                 "credential.")
                raise OAuth2Error("not_authorized", self._message)
            try:
                answer = self._post_token_endpoint("token_endpoint", {
                    "grant_type": "refresh_token", "refresh_token": data["refresh_token"]})
            except OAuth2Error as exc:
                if exc.error == "invalid_grant":
                    self._drop_tokens()
                    self._set(Status.NOT_AUTHORIZED,
                              "The server no longer accepts the stored credential (revoked "
                              f"or expired: {exc.description or exc.error}); "
                              "get a new credential.")
                    raise OAuth2Error("not_authorized", self._message) from exc
                if exc.error == "server_unreachable":
                    self._set(Status.ERROR, f"Cannot reach the server: {exc.description}")
                elif exc.error == "invalid_client":
                    self._set(Status.ERROR, "The server refuses this client's id or secret "
                              f"({exc.description}); check the configuration.")
                else:
                    self._set(Status.ERROR, f"The refresh failed: {exc}")
                raise
            tokens = self._tokens_from(answer, previous=data)
            new = {**data, **tokens}
            if answer.get("id_token"):
                # OIDC Core §12.2: same issuer and subject; no nonce on a refresh.
                try:
                    claims = self._verify_id_token(answer["id_token"], nonce=None)
                    old_sub = (data.get("id_token_claims") or {}).get("sub")
                    if old_sub is None or claims.get("sub") == old_sub:
                        new["id_token_claims"] = claims
                        new["id_token"] = answer["id_token"]
                except (OAuth2Error, requests.RequestException):
                    pass  # keep the claims verified at sign-in; the tokens are still good
            self._save(new)  # before the new access token is used by anyone
            self._set(Status.AUTHORIZED, "The credential was refreshed.")

    def _refresh_if_unchanged(self, seen_refresh_token: str | None) -> None:
        """Refresh unless another thread or connection already rotated the token we saw."""
        with self._lock:
            current = self._store.load() or {}
            if seen_refresh_token and current.get("refresh_token") not in (
                    None, seen_refresh_token):
                return
            self.refresh()

    def _save(self, data: dict) -> None:
        try:
            self._store.save(data)
        except Exception as exc:
            self._set(Status.ERROR, f"Could not save the credential: {exc}")
            raise OAuth2Error("store_failed", f"Could not save the credential: {exc}") from exc

    def _drop_tokens(self) -> None:
        data = self._store.load() or {}
        rest = {k: v for k, v in data.items() if k not in TOKEN_KEYS}
        if rest:
            self._store.save(rest)
        else:
            self._store.clear()

    def clear_credential(self) -> None:
        """Revoke the refresh token (and the access token) at the server when a revocation
        endpoint is known, ignoring failures; then forget everything stored."""
        with self._lock:
            data = self._store.load() or {}
            self._revoke_quietly(data.get("refresh_token"), "refresh_token")
            self._revoke_quietly(data.get("access_token"), "access_token")
            self._store.clear()
            self._set(Status.NOT_AUTHORIZED, "The credential was cleared; get a new "
                                             "credential.")

    def end_session_url(self, *, id_token_hint: str | None = None,
                        post_logout_redirect_uri: str | None = None,
                        state: str | None = None, **extra: str) -> str:
        """Where to send the person to sign out at the server (OpenID Connect
        RP-Initiated Logout 1.0 §2), from discovery's ``end_session_endpoint`` or
        ``logout_url``.

        ``id_token_hint`` defaults to the stored id_token: with it the server knows
        who asks and need not ask the person to confirm. ``post_logout_redirect_uri``
        must be registered for this client, exactly; the server sends the person
        back there with ``state``. ``client_id`` is always sent (§2: it lets the
        server check the URI when it has no hint). ``extra`` adds ``ui_locales`` or
        ``logout_hint``. Nothing stored is changed: clear the credential separately
        if the app no longer needs it."""
        endpoint = self._endpoint("end_session_endpoint")
        if not endpoint:
            raise OAuth2Error("not_configured", "The server has no end_session_endpoint "
                                                "(give logout_url or a discovery URL).")
        hint = id_token_hint if id_token_hint is not None else self.id_token
        params = {"id_token_hint": hint, "client_id": self.client_id,
                  "post_logout_redirect_uri": post_logout_redirect_uri, "state": state,
                  **extra}
        query = urlencode({k: str(v) for k, v in params.items() if v})
        return endpoint + ("&" if "?" in endpoint else "?") + query

    def _revoke_quietly(self, token: str | None, hint: str) -> None:
        if not token:
            return
        try:
            if self._endpoint("revocation_endpoint"):
                self._post_token_endpoint("revocation_endpoint",
                                          {"token": token, "token_type_hint": hint})
        except (OAuth2Error, requests.RequestException):
            pass  # RFC 7009: the client cannot do more; the token expires anyway

    # -- HTTP and tokens ---------------------------------------------------------------

    def _get_json(self, url: str, what: str) -> dict:
        try:
            response = self._http.get(url, timeout=HTTP_TIMEOUT)
        except requests.RequestException as exc:
            raise OAuth2Error("server_unreachable", f"Cannot fetch {what}: {exc}") from exc
        try:
            document = response.json() if response.status_code == 200 else None
        except ValueError:
            document = None
        if not isinstance(document, dict):
            raise OAuth2Error("server_error", f"{what} at {url} answered "
                              f"{response.status_code} without a JSON object.")
        return document

    def _post_token_endpoint(self, endpoint: str, form: dict[str, str]) -> dict:
        """POST with client_secret_post; the JSON answer, or OAuth2Error (RFC 6749 §5.2)."""
        url = self._endpoint(endpoint)
        if not url:
            raise OAuth2Error("not_configured", f"No {endpoint} is configured.")
        form = {**form, "client_id": self.client_id or "",
                "client_secret": self.client_secret or ""}
        try:
            response = self._http.post(url, data=form, timeout=HTTP_TIMEOUT,
                                       headers={"Accept": "application/json"})
        except requests.RequestException as exc:
            raise OAuth2Error("server_unreachable", f"Cannot reach {url}: {exc}") from exc
        try:
            body = response.json() if response.content else {}
        except ValueError:
            body = None
        if response.status_code == 200 and isinstance(body, dict):
            return body
        if isinstance(body, dict) and isinstance(body.get("error"), str):
            raise OAuth2Error(body["error"], body.get("error_description"))
        raise OAuth2Error("server_error", f"{url} answered {response.status_code}.")

    def _tokens_from(self, answer: dict, previous: dict | None) -> dict:
        access = answer.get("access_token")
        if not isinstance(access, str) or not access:
            raise OAuth2Error("server_error", "The token response has no access_token.")
        if str(answer.get("token_type", "")).lower() != "bearer":
            raise OAuth2Error("server_error", "The token response is not a Bearer token.")
        previous = previous or {}
        expires_in = answer.get("expires_in")
        return {
            "access_token": access,
            # RFC 6749 §6: without a new refresh token, the old one stays valid.
            "refresh_token": answer.get("refresh_token") or previous.get("refresh_token"),
            "expires_at": (self._clock() + float(expires_in)
                           if isinstance(expires_in, int | float) else None),
            "scope": answer.get("scope") or previous.get("scope") or self.scope,
        }

    def _signing_key(self, kid: str | None) -> jwt.PyJWK:
        """The JWKS key for ``kid``; the set is fetched again once for an unknown kid."""
        for attempt in (1, 2):
            if attempt == 2 or not self._jwks:
                url = self._endpoint("jwks_uri")
                if not url:
                    raise OAuth2Error("bad_id_token", "No JWKS URL is configured to verify "
                                                      "the id_token with.")
                keys = jwt.PyJWKSet.from_dict(self._get_json(url, "the JWKS")).keys
                self._jwks = {key.key_id or "": key for key in keys}
            if kid is not None and kid in self._jwks:
                return self._jwks[kid]
            if kid is None and len(self._jwks) == 1:
                return next(iter(self._jwks.values()))
        raise OAuth2Error("bad_id_token", f"No published key has kid {kid!r}.")

    def _verify_id_token(self, id_token: object, nonce: str | None) -> dict:
        """OIDC Core §3.1.3.7: RS256 signature by a JWKS key, iss, aud, exp, iat, nonce."""
        if not isinstance(id_token, str) or not id_token:
            raise OAuth2Error("bad_id_token", "openid was granted but no id_token came.")
        try:
            header = jwt.get_unverified_header(id_token)
            key = self._signing_key(header.get("kid"))
            claims = jwt.decode(
                id_token, key, algorithms=ID_TOKEN_ALGORITHMS, audience=self.client_id,
                issuer=self.issuer,
                options={"require": ["iss", "sub", "aud", "exp", "iat"],
                         # times are checked below against our clock, not time.time()
                         "verify_exp": False, "verify_iat": False, "verify_nbf": False})
        except jwt.PyJWTError as exc:
            raise OAuth2Error("bad_id_token", f"The id_token is not valid: {exc}") from exc
        except OAuth2Error as exc:
            if exc.error in ("server_unreachable", "server_error"):
                raise OAuth2Error("bad_id_token", f"Cannot verify the id_token: "
                                                  f"{exc.description}") from exc
            raise
        moment = self._clock()
        if not isinstance(claims["exp"], int | float) or claims["exp"] <= moment - CLOCK_SKEW:
            raise OAuth2Error("bad_id_token", "The id_token has expired.")
        if not isinstance(claims["iat"], int | float) or claims["iat"] > moment + CLOCK_SKEW:
            raise OAuth2Error("bad_id_token", "The id_token was issued in the future.")
        audiences = claims["aud"] if isinstance(claims["aud"], list) else [claims["aud"]]
        if len(audiences) > 1 and claims.get("azp") != self.client_id:
            raise OAuth2Error("bad_id_token", "The id_token names other audiences.")
        if nonce is not None and not _same(claims.get("nonce"), nonce):
            raise OAuth2Error("bad_id_token", "The id_token's nonce is not the one this "
                                              "connection sent (a replayed token?).")
        return claims
