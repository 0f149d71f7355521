"""Settings: defaults here, overridden by ``COL_AUTH_*`` env vars, then by ``create_app(config)``.

Every lifetime, limit and URL is a named setting (contract §1). Flask's
``from_prefixed_env`` strips the prefix, so ``COL_AUTH_CODE_TTL`` sets ``CODE_TTL``
and ``COL_AUTH_RATELIMIT_ENABLED=false`` sets Flask-Limiter's ``RATELIMIT_ENABLED``.
"""

from __future__ import annotations

import os
import secrets
import tempfile
import time
from pathlib import Path
from typing import Any

ENV_PREFIX = "COL_AUTH"

DEFAULTS: dict[str, Any] = {
    # Public base URL of the service; used as the OAuth2 ``iss`` and in printed links.
    "ISSUER": "http://127.0.0.1:5000",
    # SQLAlchemy URL; empty means SQLite at instance/col_auth.sqlite.
    "DATABASE_URL": "",
    # Lifetimes in seconds.
    "CODE_TTL": 600,
    "ACCESS_TTL": 600,
    "REFRESH_TTL": 1209600,
    # How long an id_token may be used to sign in with (OIDC Core §2 ``exp``).
    "ID_TOKEN_TTL": 600,
    # Seconds after a refresh token's rotation during which presenting it again is
    # taken for a concurrent retry, not theft (0: never).
    "REFRESH_GRACE": 0,
    # False: REFRESH_TTL runs from the grant (the code exchange after the user's
    # consent), so a refresh chain ends REFRESH_TTL after it however often it is
    # rotated (ELMA365: "valid for 14 days; after that, the user will need to
    # authorize again"). True: each rotation starts a fresh REFRESH_TTL.
    "REFRESH_SLIDING": False,
    # Key for the HMAC of client secrets; empty means generated into instance/.
    "CLIENT_SECRET_HASH_KEY": "",
    # PEM files of RSA keys for id_token signatures, comma separated: the first
    # signs, all are published at the JWKS endpoint (rotation). Empty means one
    # key generated into instance/oidc_signing_key.pem.
    "OIDC_SIGNING_KEYS": "",
    # A packet's ``iat`` older than this is refused by the client library.
    "PACKET_MAX_AGE": 600,
    # ``last_used`` is written at most once per this many seconds per token, so
    # that validating a token does not turn every API request into a write.
    "LAST_USED_RESOLUTION": 60,
    # Each worker caches the token validations it made (README, "Speed"): an entry
    # is trusted while no revocation happened since, at most this many seconds
    # (0: no cache), and a worker holds at most TOKEN_CACHE_SIZE of them.
    "TOKEN_CACHE_SECONDS": 60,
    "TOKEN_CACHE_SIZE": 10000,
    # Fernet keys for secrets at rest, newest first, comma separated; empty means
    # one generated into instance/encryption.key.
    "ENCRYPTION_KEYS": "",
    # werkzeug's password hashing method (its default, scrypt, unless told).
    "PASSWORD_HASH_METHOD": "scrypt",
    # Opportunistic purging of expired codes and tokens: 1 in PURGE_CHANCE token
    # requests purges one batch (0: only `col-auth purge`, e.g. from cron).
    "PURGE_CHANCE": 0,
    "PURGE_BATCH_SIZE": 500,
    # Uploaded app icons.
    "ICON_MAX_BYTES": 64 * 1024,
    "MAX_CONTENT_LENGTH": 1024 * 1024,
    # Flask-Limiter.
    "RATELIMIT_STORAGE_URI": "memory://",
    "RATELIMIT_ENABLED": True,
    "RATELIMIT_HEADERS_ENABLED": True,
    # Sign-in (README, "Sign-in limits"): attempts per (username, address) and per
    # address are refused past these; failures per username alone, from anywhere,
    # only slow that username's sign-ins down: after LOGIN_DELAY_AFTER failures
    # within LOGIN_DELAY_WINDOW seconds, each attempt waits 0.25 s, doubling with
    # every further failure, up to LOGIN_DELAY_MAX seconds.
    "LOGIN_RATE_LIMIT": "10 per minute",
    "LOGIN_ADDRESS_RATE_LIMIT": "30 per minute",
    "LOGIN_DELAY_AFTER": 5,
    "LOGIN_DELAY_WINDOW": 900,
    "LOGIN_DELAY_MAX": 3.0,
    "TOKEN_RATE_LIMIT": "120 per minute",
    # /metrics is served to these addresses (CIDRs, comma separated) and to whoever
    # sends METRICS_TOKEN as a Bearer token; everyone else gets 404.
    "METRICS_ALLOW": "127.0.0.0/8, ::1/128",
    "METRICS_TOKEN": "",
    # Host names served besides the issuer's (comma separated; ".example.org" takes
    # its subdomains); any other Host header is refused with 400.
    "TRUSTED_HOSTS": "",
    # Let administrators register http:// redirect (and post-logout) URIs on hosts
    # that are not loopback (on-premises intranets without TLS); loopback http is
    # always allowed. Turned off again, redirects to such URIs stop.
    "ALLOW_HTTP_REDIRECT_URIS": False,
    # Seconds a browser may cache a CORS preflight answer (Access-Control-Max-Age).
    "CORS_MAX_AGE": 600,
    # Authorization requests (/auth/, /authorize) per address, signed in or not.
    "AUTHORIZE_RATE_LIMIT": "120 per minute",
    # Cookies (contract §2).
    # Cookies are scoped by host, not port: a name of our own keeps another app on
    # the same host (the demo's sample app on 127.0.0.1:5001) from overwriting it.
    "SESSION_COOKIE_NAME": "col_auth_session",
    "REMEMBER_COOKIE_NAME": "col_auth_remember",
    "SESSION_COOKIE_HTTPONLY": True,
    "SESSION_COOKIE_SAMESITE": "Lax",
    "REMEMBER_COOKIE_HTTPONLY": True,
    "REMEMBER_COOKIE_SAMESITE": "Lax",
    "WTF_CSRF_TIME_LIMIT": 3600,
    # Seconds a sign-in lasts at most (ended sooner by logout, "Sign out everywhere",
    # a password change or deactivation); also the session cookie's signature age.
    "SESSION_LIFETIME": 8 * 3600,
    # Form fields (files aside) are refused past this size (413) before anything
    # reads them: no field of any form needs more.
    "MAX_FORM_MEMORY_SIZE": 64 * 1024,
    "JSON_SORT_KEYS": False,
}


def list_setting(value: str | list[str] | tuple[str, ...] | None) -> tuple[str, ...]:
    """A setting that holds several values: comma separated text, or a list (a JSON
    list given in the environment is parsed by ``from_prefixed_env``)."""
    if not value:
        return ()
    if isinstance(value, str):
        value = value.split(",")
    return tuple(item.strip() for item in value if item.strip())


_TRUE = frozenset({"true", "1", "yes", "on"})
_FALSE = frozenset({"false", "0", "no", "off", ""})


def flag_setting(value: bool | int | str | None) -> bool:
    """A yes/no setting. ``from_prefixed_env`` parses ``true``/``false`` as JSON, but
    ``True``, ``yes`` or ``0`` arrive as text, and any non-empty text is truthy: read
    them here, and refuse what is neither rather than guess."""
    if value is None or isinstance(value, bool | int):
        return bool(value)
    text = str(value).strip().lower()
    if text in _TRUE:
        return True
    if text in _FALSE:
        return False
    raise ValueError(f"{value!r} is not a yes/no setting: use true or false")


def instance_file(instance_path: str, name: str) -> Path:
    return Path(instance_path) / name


def load_or_create_secret(path: Path, factory) -> str:
    """Read a generated secret from ``path``, creating it (mode 0600) on first use.

    The value is written whole to a temporary file and flushed to disk, and only
    then linked to ``path``, which fails if ``path`` exists: a process killed at any
    moment never leaves an empty or half-written file behind (an empty key file
    would stop every later start), and of several workers starting at once the
    first link wins and the others read what it wrote.
    """
    # Keys are for the service's user alone; an existing directory keeps its mode.
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    if path.exists():
        return _read_when_written(path)
    value = factory()
    fd, temporary = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)  # 0600
    try:
        with os.fdopen(fd, "w") as handle:
            handle.write(value + "\n")
            handle.flush()
            os.fsync(handle.fileno())
        try:
            os.link(temporary, path)
        except FileExistsError:
            return _read_when_written(path)
        directory = os.open(path.parent, os.O_RDONLY)
        try:
            os.fsync(directory)  # the new name survives a power cut too
        finally:
            os.close(directory)
    finally:
        os.unlink(temporary)
    return value


def _read_when_written(path: Path) -> str:
    for _ in range(50):
        value = path.read_text().strip()
        if value:
            return value
        time.sleep(0.02)
    raise RuntimeError(f"{path} exists but is empty; delete it to have it generated again")


def generate_secret_key() -> str:
    return secrets.token_urlsafe(48)
