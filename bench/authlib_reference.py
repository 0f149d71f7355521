"""The Authlib reference of B2/B3: an OAuth2 server built the way Authlib's docs show.

Authorization server (token endpoint: ``authorization_code`` with PKCE, and
``refresh_token`` with rotation) and resource server (``GET /api/v1/me`` with a
Bearer token of scope ``api``), as in Authlib's "Flask OAuth 2.0 Server" guide
and its example server: Flask-SQLAlchemy models on the ``authlib.integrations.
sqla_oauth2`` mixins, ``AuthorizationServer`` with ``create_query_client_func``
and ``create_save_token_func``, ``AuthorizationCodeGrant`` + ``CodeChallenge``,
``RefreshTokenGrant`` (new refresh token each time, the old one revoked), and a
``ResourceProtector`` with the validator of ``create_bearer_token_validator``.
Nothing is tuned: Flask-SQLAlchemy's default engine, the mixins' columns and
indexes, the user loaded through the token's relationship. One deployment setting
is the service's, not a default: on SQLite, the same connection pragmas (WAL,
``synchronous=NORMAL``, a busy timeout), so that several workers can share the
file and a commit costs what it costs the service; the comparison is of the code,
not of fsync.

It runs on the service's database (its own tables, ``authlib_*``) under the same
``gunicorn.conf.py``: ``gunicorn -c gunicorn.conf.py bench.authlib_reference:app``
with ``COL_AUTH_DATABASE_URL`` set. The bench creates the tables and seeds them
(``bench.authlib_seed``); the authorization endpoint (consent) is not served, the
seeded codes stand for what it would have stored.
"""

from __future__ import annotations

import os
import time
import uuid

from authlib.integrations.flask_oauth2 import AuthorizationServer, ResourceProtector, current_token
from authlib.integrations.sqla_oauth2 import (
    OAuth2AuthorizationCodeMixin,
    OAuth2ClientMixin,
    OAuth2TokenMixin,
    create_bearer_token_validator,
    create_query_client_func,
    create_save_token_func,
)
from authlib.oauth2.rfc6749 import grants
from authlib.oauth2.rfc7636 import CodeChallenge
from flask import Flask, jsonify
from flask_sqlalchemy import SQLAlchemy
from sqlalchemy import event

db = SQLAlchemy()

TOKEN_PATH = "/oauth/token"
SCOPE = "api"
# Client authentication methods the grants accept (Authlib's default is Basic only).
AUTH_METHODS = ["client_secret_basic", "client_secret_post"]


def new_guid() -> str:
    return str(uuid.uuid4()).upper()


class User(db.Model):
    __tablename__ = "authlib_users"
    # A GUID and the site's name on the row, so /api/v1/me answers the same body
    # as col_auth's from the user alone (col_auth joins its site in the same query).
    id = db.Column(db.String(36), primary_key=True, default=new_guid)
    username = db.Column(db.String(64), unique=True, nullable=False)
    full_name = db.Column(db.String(255), nullable=False, default="")
    email = db.Column(db.String(255), nullable=False, default="")
    site_id = db.Column(db.String(36), nullable=False)
    site_name = db.Column(db.String(255), nullable=False)

    def get_user_id(self) -> str:
        return self.id


class Client(db.Model, OAuth2ClientMixin):
    __tablename__ = "authlib_clients"
    id = db.Column(db.Integer, primary_key=True)
    user_id = db.Column(db.String(36), db.ForeignKey("authlib_users.id", ondelete="CASCADE"))
    user = db.relationship("User")


class AuthorizationCode(db.Model, OAuth2AuthorizationCodeMixin):
    __tablename__ = "authlib_codes"
    id = db.Column(db.Integer, primary_key=True)
    user_id = db.Column(db.String(36), db.ForeignKey("authlib_users.id", ondelete="CASCADE"))
    user = db.relationship("User")


class Token(db.Model, OAuth2TokenMixin):
    __tablename__ = "authlib_tokens"
    id = db.Column(db.Integer, primary_key=True)
    user_id = db.Column(db.String(36), db.ForeignKey("authlib_users.id", ondelete="CASCADE"))
    user = db.relationship("User")

    def is_refresh_token_active(self) -> bool:
        # As the docs' model: a refresh token lives twice as long as its access token.
        if self.refresh_token_revoked_at:
            return False
        return self.issued_at + self.expires_in * 2 >= time.time()


class AuthorizationCodeGrant(grants.AuthorizationCodeGrant):
    TOKEN_ENDPOINT_AUTH_METHODS = AUTH_METHODS

    def save_authorization_code(self, code, request):
        item = AuthorizationCode(
            code=code,
            client_id=request.client.client_id,
            redirect_uri=request.payload.redirect_uri,
            scope=request.payload.scope,
            user_id=request.user.id,
            code_challenge=request.payload.data.get("code_challenge"),
            code_challenge_method=request.payload.data.get("code_challenge_method"),
        )
        db.session.add(item)
        db.session.commit()
        return item

    def query_authorization_code(self, code, client):
        item = AuthorizationCode.query.filter_by(code=code, client_id=client.client_id).first()
        if item and not item.is_expired():
            return item
        return None

    def delete_authorization_code(self, authorization_code):
        db.session.delete(authorization_code)
        db.session.commit()

    def authenticate_user(self, authorization_code):
        return db.session.get(User, authorization_code.user_id)


class RefreshTokenGrant(grants.RefreshTokenGrant):
    TOKEN_ENDPOINT_AUTH_METHODS = AUTH_METHODS
    INCLUDE_NEW_REFRESH_TOKEN = True  # rotation: each answer carries a new refresh token

    def authenticate_refresh_token(self, refresh_token):
        token = Token.query.filter_by(refresh_token=refresh_token).first()
        if token and token.is_refresh_token_active():
            return token
        return None

    def authenticate_user(self, credential):
        return db.session.get(User, credential.user_id)

    def revoke_old_credential(self, credential):
        # The docs' ``credential.revoked = True``, in the mixin's columns.
        moment = int(time.time())
        credential.access_token_revoked_at = moment
        credential.refresh_token_revoked_at = moment
        db.session.add(credential)
        db.session.commit()


def _sqlite_pragmas(dbapi_connection, _record) -> None:
    # As col_auth.database does for the service (see the module docstring).
    cursor = dbapi_connection.cursor()
    for pragma in ("journal_mode=WAL", "busy_timeout=30000", "synchronous=NORMAL"):
        cursor.execute(f"PRAGMA {pragma}")
    cursor.close()


def create_app(database_url: str | None = None) -> Flask:
    """The reference app on ``database_url`` (default: ``COL_AUTH_DATABASE_URL``)."""
    app = Flask(__name__)
    app.config["SQLALCHEMY_DATABASE_URI"] = database_url or os.environ["COL_AUTH_DATABASE_URL"]
    app.config["OAUTH2_REFRESH_TOKEN_GENERATOR"] = True
    db.init_app(app)
    with app.app_context():
        if db.engine.dialect.name == "sqlite":
            event.listen(db.engine, "connect", _sqlite_pragmas)

    # One server and one protector per app (the docs make them at module level and
    # call init_app once): the bench builds an app per database in one process.
    authorization = AuthorizationServer()
    authorization.init_app(app, query_client=create_query_client_func(db.session, Client),
                           save_token=create_save_token_func(db.session, Token))
    authorization.register_grant(AuthorizationCodeGrant, [CodeChallenge(required=True)])
    authorization.register_grant(RefreshTokenGrant)
    require_oauth = ResourceProtector()
    require_oauth.register_token_validator(create_bearer_token_validator(db.session, Token)())

    @app.post(TOKEN_PATH)
    def issue_token():
        return authorization.create_token_response()

    @app.get("/api/v1/me")
    @require_oauth(SCOPE)
    def me():
        user = current_token.user
        return jsonify({
            "userid": user.id,
            "username": user.username,
            "full_name": user.full_name,
            "email": user.email,
            "siteid": user.site_id,
            "site": user.site_name,
            "auth": "oauth",
        })

    @app.get("/healthz")
    def healthz():
        # What bench.servers polls to know the server is up.
        return jsonify(status="ok")

    return app


_app: Flask | None = None


def __getattr__(name: str) -> Flask:
    # ``app`` for gunicorn (``bench.authlib_reference:app``), built on first use, so
    # that the bench can import the models and create_app without a database URL.
    global _app
    if name != "app":
        raise AttributeError(name)
    if _app is None:
        _app = create_app()
    return _app
