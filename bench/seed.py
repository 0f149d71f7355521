"""What the benchmarks need in the database, made before anything is timed.

Accounts, apps, clients, codes and the tokens used over HTTP come from the core
functions, as the service would make them. The many live tokens of B4 are
inserted in bulk with SQL (``executemany`` on SQLite, ``COPY`` on PostgreSQL):
through the ORM one by one, a million rows would take longer than the benchmark.
"""

from __future__ import annotations

import hashlib
import random
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from col_auth.core import accounts, legacy_apps, oauth_clients, oauth_tokens, rfc7636
from col_auth.core.clock import now
from col_auth.core.ids import USER_TOKEN_PREFIX
from col_auth.core.legacy_tokens import issue_legacy_token
from col_auth.core.models import (
    GRANT_OAUTH,
    GRANT_USER_TOKEN,
    TOKEN_ACCESS,
    LegacyApp,
    OAuthClient,
    User,
)
from col_auth.extensions import db

SITE = "Bench CU"
USERNAME = "bench"
PASSWORD = "bench password, never used to sign in"
REDIRECT_URI = "https://client.bench.example/callback"
SCOPE = "openid api"  # the client's; B4's bulk access tokens carry it too
# What the codes and tokens used over HTTP ask for: /api/v1/me needs ``api``, and
# without ``openid`` an exchange signs no id_token, as at the Authlib reference.
API_SCOPE = "api"
# Owners of the bulk tokens of B4.
BULK_USERS = 1000
_SQLITE_TIME = "%Y-%m-%d %H:%M:%S.%f"


@dataclass
class Fixture:
    """Ids and secrets of what ``base`` made."""

    site_id: str
    user_id: str
    legacy_app_id: str
    client_pk: str
    client_id: str
    client_secret: str
    bulk_user_ids: list[str] = field(default_factory=list)
    bulk_inserted: int = 0


def base() -> Fixture:
    """A site, the bench user, a legacy app and an OAuth2 client ("openid api")."""
    site = accounts.create_site(SITE)
    user = accounts.create_user(USERNAME, site=site, password=PASSWORD, full_name="Bench User",
                                email="bench@bench.example")
    app_row, _secret = legacy_apps.register_app(user, name="Bench App",
                                                return_url="https://app.bench.example/return")
    module = oauth_clients.create_module("Bench Module")
    oauth_clients.ensure_external_app_enabled(module)
    template = oauth_clients.create_template(module.external_app, "Bench template", SCOPE)
    client, client_secret = oauth_clients.create_client(
        template, name="Bench client", redirect_uris=[REDIRECT_URI])
    db.session.commit()
    return Fixture(site.id, user.id, app_row.id, client.id, client.client_id, client_secret)


def legacy_user_token(fx: Fixture) -> str:
    """A ``{UserToken}`` of the bench user, as "Allow" on /auth makes it."""
    user = db.session.get(User, fx.user_id)
    app_row = db.session.get(LegacyApp, fx.legacy_app_id)
    _grant, token = issue_legacy_token(user, app_row, GRANT_USER_TOKEN)
    db.session.commit()
    return token


CODE_VERIFIER = "bench-code-verifier-" + "x" * 40


def codes(fx: Fixture, count: int, scope: str = API_SCOPE) -> list[str]:
    """``count`` authorization codes (PKCE S256) the bench user consented to."""
    client = db.session.get(OAuthClient, fx.client_pk)
    user = db.session.get(User, fx.user_id)
    challenge = rfc7636.s256(CODE_VERIFIER)
    made = []
    for i in range(count):
        made.append(oauth_tokens.create_code(
            client, user, redirect_uri=REDIRECT_URI, scope=scope, nonce=None,
            code_challenge=challenge, auth_time=now()))
        if i % 500 == 499:
            db.session.commit()
    db.session.commit()
    return made


def token_pairs(fx: Fixture, count: int, scope: str = API_SCOPE) -> list[tuple[str, str]]:
    """``count`` (access token, refresh token) pairs, each from a redeemed code."""
    client = db.session.get(OAuthClient, fx.client_pk)
    pairs = []
    for code in codes(fx, count, scope):
        issued = oauth_tokens.redeem_code(client, code, REDIRECT_URI, CODE_VERIFIER)
        pairs.append((issued.access_token, issued.refresh_token))
    return pairs


# --- B4: many live tokens, in bulk -------------------------------------------------


_random = random.Random()


def _guid() -> str:
    """A random GUID in the service's form; ``uuid4`` is slow for a million of them."""
    h = f"{_random.getrandbits(128):032X}"
    return f"{h[:8]}-{h[8:12]}-4{h[13:16]}-{h[16:20]}-{h[20:]}"


def _sha(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def _bulk_users(fx: Fixture, moment: datetime) -> list[tuple]:
    fx.bulk_user_ids = [_guid() for _ in range(BULK_USERS)]
    return [(uid, f"bulk{i:04d}", f"bulk{i:04d}", f"Bulk User {i}", "", fx.site_id, "member",
             False, "!", True, moment) for i, uid in enumerate(fx.bulk_user_ids)]


_USER_COLUMNS = ("id", "username", "username_key", "full_name", "email", "site_id", "role",
                 "is_system_admin", "password_hash", "active", "created_at")
_GRANT_COLUMNS = ("id", "kind", "user_id", "site_id", "legacy_app_id", "client_pk", "scope",
                  "auth_time", "created_at", "last_used_at")
_TOKEN_COLUMNS = ("grant_id", "kind", "token_hash", "created_at", "expires_at", "last_used_at",
                  "scope")


@dataclass
class Samples:
    """Clear tokens kept from a bulk insert, to validate later."""

    legacy: list[tuple[str, str]] = field(default_factory=list)  # (username, token)
    bearer: list[str] = field(default_factory=list)


def bulk_tokens(fx: Fixture, count: int, keep: int, batch: int = 50_000) -> Samples:
    """Insert ``count`` more live tokens, half ``{UserToken}``s, half access tokens, each
    with its own grant, spread over ``BULK_USERS`` users; keep about ``keep`` of each
    kind in clear.

    ``last_used_at`` is set, so validating them later is a read, as for any token in
    use (the measuring app sets a long ``LAST_USED_RESOLUTION``).
    """
    postgres = db.engine.dialect.name == "postgresql"
    users = _bulk_users(fx, now()) if not fx.bulk_user_ids else []
    # Every row has the same timestamps: convert them to what the driver takes once.
    moment = now() if postgres else _sqlite_value(now())
    expires = (now() + timedelta(days=1)) if postgres else _sqlite_value(now() + timedelta(days=1))
    stride = max(1, (count // 2) // max(1, keep))
    samples = Samples()
    connection = db.engine.raw_connection()
    if not postgres:
        # This connection only: a page cache that holds the indexes being filled.
        # A throwaway database: no fsync while seeding it.
        connection.cursor().execute("PRAGMA cache_size = -1000000")
        connection.cursor().execute("PRAGMA synchronous = OFF")
    try:
        if users:
            _insert(connection, postgres, "users", _USER_COLUMNS, users)
        done = 0
        while done < count:
            size = min(batch, count - done)
            grants, tokens = [], []
            for i in range(done, done + size):
                grant_id = _guid()
                owner = fx.bulk_user_ids[i % BULK_USERS]
                if i % 2 == 0:
                    clear = USER_TOKEN_PREFIX + _guid()
                    grants.append((grant_id, GRANT_USER_TOKEN, owner, fx.site_id,
                                   fx.legacy_app_id, None, None, None, moment, moment))
                    tokens.append((grant_id, GRANT_USER_TOKEN, _sha(clear), moment, None,
                                   moment, None))
                    if (i // 2) % stride == 0:
                        samples.legacy.append((f"bulk{i % BULK_USERS:04d}", clear))
                else:
                    clear = oauth_tokens.ACCESS_PREFIX + _random.randbytes(32).hex()
                    grants.append((grant_id, GRANT_OAUTH, owner, fx.site_id, None, fx.client_pk,
                                   SCOPE, moment, moment, moment))
                    tokens.append((grant_id, TOKEN_ACCESS, _sha(clear), moment, expires, moment,
                                   SCOPE))
                    if (i // 2) % stride == 0:
                        samples.bearer.append(clear)
            _insert(connection, postgres, "grants", _GRANT_COLUMNS, grants)
            _insert(connection, postgres, "tokens", _TOKEN_COLUMNS, tokens)
            connection.commit()
            done += size
        # Leave the database as it is at rest, not mid-load: on PostgreSQL with the
        # planner's statistics (what autovacuum does after a large insert), on
        # SQLite with the write-ahead log checkpointed into the database file.
        cursor = connection.cursor()
        if postgres:
            cursor.execute("ANALYZE users, grants, tokens")
            connection.commit()
        else:
            cursor.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    finally:
        connection.close()
    fx.bulk_inserted += count
    return samples


def _insert(connection, postgres: bool, table: str, columns: tuple[str, ...], rows: list[tuple]
            ) -> None:
    cursor = connection.cursor()
    if postgres:
        with cursor.copy(f"COPY {table} ({', '.join(columns)}) FROM STDIN") as copy:
            for row in rows:
                copy.write_row(row)
        return
    # SQLite: the text forms SQLAlchemy stores (timestamps, 0/1 booleans).
    if table == "users":
        rows = [tuple(_sqlite_value(v) for v in row) for row in rows]
    marks = ", ".join("?" for _ in columns)
    statement = f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({marks})"  # noqa: S608
    cursor.executemany(statement, rows)


def _sqlite_value(value):
    if isinstance(value, datetime):
        return value.strftime(_SQLITE_TIME)
    if isinstance(value, bool):
        return int(value)
    return value


def sample(items: list, count: int, rng: random.Random) -> list:
    """``count`` items drawn at random (with replacement if there are fewer)."""
    if len(items) >= count:
        return rng.sample(items, count)
    return [rng.choice(items) for _ in range(count)]
