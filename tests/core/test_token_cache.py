"""Each worker's cache of token validations (``core.token_cache``) and the revocation
generation that keeps it honest (``core.revocations``).

Two app instances on one database stand for two workers, each with its own cache:
a token validated by the second, then revoked in any way through the first, is
refused by the second on its very next request. On SQLite the generation is a row
of the database; on PostgreSQL it is a Redis key (without Redis there is no cache,
which ``test_without_a_generation_every_request_reads_the_database`` pins).
"""

from __future__ import annotations

import pytest
from sqlalchemy import delete, select, text, update

from col_auth import create_app
from col_auth.core import accounts, grants, legacy_apps, oauth_clients, rfc7009
from col_auth.core.consents import forget
from col_auth.core.models import (
    GRANT_SITE_TOKEN,
    GRANT_USER_TOKEN,
    ROLE_MEMBER,
    AuthorizationCode,
    Grant,
    LegacyApp,
    OAuthClient,
    Site,
    Token,
    User,
)
from col_auth.core.revocations import RedisGeneration, revokes
from col_auth.core.token_cache import token_cache
from col_auth.extensions import db
from tests.api.test_validation_hot_path import _access_token, _legacy_token, _statements
from tests.helpers import basic, seed
from tests.robustness.conftest import REDIS_URL

ME = "/api/v1/me"


@pytest.fixture
def app_config(backend) -> dict:
    """PostgreSQL shares its generation through Redis, as a deployment of several
    hosts does; SQLite needs nothing."""
    if backend != "postgresql":
        return {}
    import redis

    try:
        redis.Redis.from_url(REDIS_URL, socket_connect_timeout=3).ping()
    except redis.RedisError as exc:
        pytest.skip(f"Redis not reachable at {REDIS_URL}: {exc}")
    return {"RATELIMIT_STORAGE_URI": REDIS_URL}


@pytest.fixture
def worker(app):
    """Another worker: an app of its own (its own cache) on the same database."""
    other = create_app({
        "INSTANCE_PATH": app.instance_path,
        "DATABASE_URL": app.config["SQLALCHEMY_DATABASE_URI"],
        "TESTING": True,
        "RATELIMIT_ENABLED": False,
        "RATELIMIT_STORAGE_URI": app.config["RATELIMIT_STORAGE_URI"],
        "PASSWORD_HASH_METHOD": "pbkdf2:sha256:1000",
    })
    yield other
    with other.app_context():
        db.engine.dispose()


def _cached_in(worker, headers: dict) -> None:
    """The token is valid, and now in ``worker``'s cache: asked again, no query."""
    client = worker.test_client()
    assert client.get(ME, headers=headers).status_code == 200
    with _statements(worker) as seen:
        assert client.get(ME, headers=headers).status_code == 200
    assert seen == []


def _generation(app):
    with app.app_context():
        return token_cache().store.read()


# --- what is cached ------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["user_token", "bearer"])
def test_a_token_seen_before_is_validated_without_a_query(app, kind):
    s = seed(app)
    if kind == "bearer":
        headers = {"Authorization": f"Bearer {_access_token(app, s.member_id)}"}
    else:
        headers = basic("Member", _legacy_token(app, s.member_id, s.app_token,
                                                GRANT_USER_TOKEN)[1])
    _cached_in(app, headers)
    assert app.test_client().get(ME, headers=headers).get_json()["username"] == "Member"


def test_the_cache_is_keyed_by_username_too(app):
    """A user token cached for its own user proves nothing for another username."""
    s = seed(app)
    _grant, token = _legacy_token(app, s.member_id, s.app_token, GRANT_USER_TOKEN)
    _cached_in(app, basic("Member", token))
    assert app.test_client().get(ME, headers=basic("admin", token)).status_code == 401


def test_with_the_cache_turned_off_every_request_reads_the_database(app):
    s = seed(app)
    app.config["TOKEN_CACHE_SECONDS"] = 0
    _grant, token = _legacy_token(app, s.member_id, s.app_token, GRANT_USER_TOKEN)
    client = app.test_client()
    assert client.get(ME, headers=basic("Member", token)).status_code == 200
    with _statements(app) as seen:
        assert client.get(ME, headers=basic("Member", token)).status_code == 200
    assert len(seen) == 1


@pytest.mark.parametrize("backend", ["postgresql"])
def test_without_a_generation_every_request_reads_the_database(backend, instance_dir):
    """PostgreSQL without Redis: no cheap generation to share, so no cache at all."""
    from tests.conftest import _make_app

    plain = _make_app(backend, instance_dir)
    with plain.app_context():
        assert token_cache().store.read() is None
        db.engine.dispose()


def test_an_unreachable_redis_means_no_cache_not_an_error():
    store = RedisGeneration("redis://127.0.0.1:1/0")
    assert store.read() is None
    store.ended()  # logged, never raised: the revocation itself has committed


def test_an_expired_token_is_refused_although_cached(app, clock):
    s = seed(app)
    headers = {"Authorization": f"Bearer {_access_token(app, s.member_id)}"}
    _cached_in(app, headers)
    clock.advance(app.config["ACCESS_TTL"])
    assert app.test_client().get(ME, headers=headers).status_code == 401


def test_an_entry_is_trusted_for_token_cache_seconds_at_most(app, clock):
    s = seed(app)
    _grant, token = _legacy_token(app, s.member_id, s.app_token, GRANT_USER_TOKEN)
    _cached_in(app, basic("Member", token))
    clock.advance(app.config["TOKEN_CACHE_SECONDS"])
    with _statements(app) as seen:
        assert app.test_client().get(ME, headers=basic("Member", token)).status_code == 200
    assert any(q.lstrip().upper().startswith("SELECT") for q in seen)


def test_a_cached_token_still_records_its_use_once_per_resolution(app, clock):
    s = seed(app)
    grant_id, token = _legacy_token(app, s.member_id, s.app_token, GRANT_USER_TOKEN)
    _cached_in(app, basic("Member", token))
    clock.advance(app.config["LAST_USED_RESOLUTION"])
    with _statements(app) as seen:
        assert app.test_client().get(ME, headers=basic("Member", token)).status_code == 200
    assert [q for q in seen if q.lstrip().upper().startswith("UPDATE")]
    with app.app_context():
        recorded = db.session.scalar(select(Token.last_used_at).where(Token.grant_id == grant_id))
        assert recorded == clock.moment
        assert db.session.get(Grant, grant_id).last_used_at == clock.moment


def test_recording_a_use_does_not_flush_the_caches(app, clock):
    s = seed(app)
    _grant, token = _legacy_token(app, s.member_id, s.app_token, GRANT_USER_TOKEN)
    _cached_in(app, basic("Member", token))
    before = _generation(app)
    clock.advance(app.config["LAST_USED_RESOLUTION"])
    assert app.test_client().get(ME, headers=basic("Member", token)).status_code == 200
    assert _generation(app) == before


def test_a_wiped_generation_comes_back_as_a_value_no_cache_holds(app):
    s = seed(app)
    _grant, token = _legacy_token(app, s.member_id, s.app_token, GRANT_USER_TOKEN)
    _cached_in(app, basic("Member", token))
    before = _generation(app)
    if app.config["SQLALCHEMY_DATABASE_URI"].startswith("sqlite"):
        with app.app_context(), db.engine.begin() as conn:
            conn.execute(text("DELETE FROM revocation_generation"))
    else:
        import redis

        redis.Redis.from_url(REDIS_URL).delete(RedisGeneration.KEY)
    assert _generation(app) not in (None, before)


# --- every way of revoking reaches every worker ---------------------------------------


def _revoke_legacy(how: str, grant_id: str, user_id: str, app_token: str) -> None:
    if how == "grant revoked":
        grants.revoke_grant(db.session.get(Grant, grant_id), reason="user")
    elif how == "user deactivated":
        accounts.set_active(db.session.get(User, user_id), False)
    elif how == "app deleted":
        legacy_apps.delete_app(db.session.scalar(
            select(LegacyApp).where(LegacyApp.app_token == app_token)))
    elif how == "bulk update":
        db.session.execute(update(Grant).where(Grant.id == grant_id)
                           .values(revoked_at=db.func.now()))
    elif how == "core delete":
        db.session.connection().execute(delete(Token.__table__)
                                         .where(Token.__table__.c.grant_id == grant_id))
    elif how == "raw SQL":
        db.session.execute(text("UPDATE tokens SET revoked_at = CURRENT_TIMESTAMP "
                                "WHERE grant_id = :g"), {"g": grant_id})
    db.session.commit()


@pytest.mark.parametrize("how", ["grant revoked", "user deactivated", "app deleted",
                                 "bulk update", "core delete", "raw SQL"])
def test_a_revoked_user_token_is_refused_by_a_worker_that_cached_it(app, worker, how):
    s = seed(app)
    grant_id, token = _legacy_token(app, s.member_id, s.app_token, GRANT_USER_TOKEN)
    headers = basic("Member", token)
    _cached_in(worker, headers)
    with app.app_context():
        _revoke_legacy(how, grant_id, s.member_id, s.app_token)
    assert worker.test_client().get(ME, headers=headers).status_code == 401


def test_a_site_token_stops_when_its_granter_is_demoted(app, worker):
    """An ORM flush of one column (``role``) is a revocation too."""
    s = seed(app)
    _grant_id, token = _legacy_token(app, s.admin_id, s.app_token, GRANT_SITE_TOKEN)
    headers = basic("Member", token)
    _cached_in(worker, headers)
    with app.app_context():
        db.session.get(User, s.admin_id).role = ROLE_MEMBER
        db.session.commit()
    assert worker.test_client().get(ME, headers=headers).status_code == 401


def test_a_renamed_site_is_shown_at_once(app, worker):
    """Not only refusals: what /me shows is never older than the last change."""
    s = seed(app)
    headers = {"Authorization": f"Bearer {_access_token(app, s.member_id)}"}
    _cached_in(worker, headers)
    with app.app_context():
        db.session.get(Site, s.site_id).name = "Renamed CU"
        db.session.commit()
    assert worker.test_client().get(ME, headers=headers).get_json()["site"] == "Renamed CU"


def _revoke_oauth(how: str, access_token: str, user_id: str) -> None:
    client = db.session.scalar(select(OAuthClient))
    if how == "token revoked (RFC 7009)":
        rfc7009.revoke_token(client, access_token)
    elif how == "connection revoked in the profile":
        forget(db.session.get(User, user_id), client)
    elif how == "client deleted":
        oauth_clients.delete_client(client)
    elif how == "module disabled":
        oauth_clients.set_module_enabled(client.template.external_app.module, False)
    elif how == "user deactivated":
        accounts.set_active(db.session.get(User, user_id), False)
    db.session.commit()


@pytest.mark.parametrize("how", ["token revoked (RFC 7009)", "connection revoked in the profile",
                                 "client deleted", "module disabled", "user deactivated"])
def test_a_revoked_access_token_is_refused_by_a_worker_that_cached_it(app, worker, how):
    s = seed(app)
    access_token = _access_token(app, s.member_id)
    headers = {"Authorization": f"Bearer {access_token}"}
    _cached_in(worker, headers)
    with app.app_context():
        _revoke_oauth(how, access_token, s.member_id)
    assert worker.test_client().get(ME, headers=headers).status_code == 401


# --- which statements count as revoking ------------------------------------------------


@pytest.mark.parametrize(("statement", "expected"), [
    (update(Token).values(last_used_at=None), False),
    (update(Token).values(rotated_at=None), False),
    (update(Grant).values(last_used_at=None), False),
    (update(Token).values(revoked_at=None), True),
    (update(Grant).values(revoked_at=None), True),
    (update(User).values(full_name="x"), True),
    (update(Site).values(name="x"), True),
    (delete(Token), True),
    (delete(Grant), True),
    (update(AuthorizationCode).values(used_at=None), False),
    (delete(AuthorizationCode), False),
    (select(Token), False),
    (text("UPDATE grants SET revoked_at = now()"), True),
    (text("delete from tokens"), True),
    (text("UPDATE authorization_codes SET used_at = now()"), False),
    (text("SELECT * FROM tokens"), False),
    # PostgreSQL's data-modifying CTEs (the token endpoint's writes are such).
    (select(update(Grant).values(revoked_at=None).returning(Grant.id).cte("g").c.id), True),
    (select(update(Token).values(rotated_at=None).returning(Token.id).cte("t").c.id), False),
], ids=lambda value: str(value).split("\n")[0][:40] if not isinstance(value, bool) else "")
def test_which_statements_revoke(statement, expected):
    assert revokes(statement) is expected


def test_an_orm_flush_of_a_watched_column_changes_the_generation(app):
    s = seed(app)
    before = _generation(app)
    with app.app_context():
        db.session.get(User, s.member_id).email = "new@sample.example"
        db.session.commit()
    assert _generation(app) != before


def test_writes_that_revoke_nothing_leave_the_generation_alone(app):
    s = seed(app)
    _legacy_token(app, s.member_id, s.app_token, GRANT_USER_TOKEN)  # inserts only
    before = _generation(app)
    _access_token(app, s.member_id)  # a module, client, code and its redemption
    assert _generation(app) == before
