"""/, /login, /logout, /profile and the site administrators' "Authorized Apps & Websites"."""

from __future__ import annotations

from flask import (
    flash,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from flask_login import current_user, login_required, login_user

from ..core import accounts, audit, consents, grants
from ..core.clock import now, to_epoch
from ..core.errors import NotFound, PermissionDenied
from ..core.models import GRANT_OAUTH
from ..extensions import limit_from, limiter
from ..web import SESSION_ID_KEY, client_ip, form_status, safe_next_url
from ..web.forms import ButtonForm, require_submitted
from ..web.sessions import sign_out
from . import bp, throttle
from .forms import LoginForm, PasswordForm


@bp.route("/")
def index():
    return render_template("accounts/index.html")


@bp.route("/login", methods=["GET", "POST"])
@limiter.limit(limit_from("LOGIN_ADDRESS_RATE_LIMIT"), methods=["POST"],
               key_func=throttle.address_key)
@limiter.limit(limit_from("LOGIN_RATE_LIMIT"), methods=["POST"],
               key_func=throttle.username_address_key)
def login():
    form = LoginForm()
    next_url = safe_next_url(request.args.get("next"), url_for("accounts.index"))
    if request.method == "GET" and request.args.get("login_hint"):
        # OIDC Core §3.1.2.1 login_hint: the username the client expects, prefilled.
        form.username.data = request.args["login_hint"][:accounts.MAX_USERNAME_LENGTH]
    if form.validate_on_submit():
        throttle.wait_for_username()
        user = accounts.authenticate(form.username.data, form.password.data)
        if user is None:
            throttle.count_failure()
            audit.record(audit.LOGIN_FAILED, ip=client_ip(),
                         username=form.username.data[:accounts.MAX_USERNAME_LENGTH])
            form.password.errors.append("Unknown username or wrong password.")
        else:
            _sign_in(user)
            audit.record(audit.LOGIN, user_id=user.id, site_id=user.site_id, ip=client_ip())
            return redirect(next_url)
    status = 200 if not form.errors else 400
    return render_template("accounts/login.html", form=form), status


def _sign_in(user) -> None:
    # A new cookie content, so nothing of the session before sign-in carries over
    # (session fixation); the id names the server-side session that logout ends.
    session.clear()
    session[SESSION_ID_KEY] = accounts.start_session(user)
    login_user(user)
    # When the user authenticated: the id_token's auth_time (OIDC Core §2).
    session["auth_time"] = to_epoch(now())


@bp.route("/logout", methods=["GET", "POST"])
def logout():
    """GET asks, POST (with its CSRF token) logs out: a link on another site cannot
    sign a user out. The server-side session ends, so a kept cookie opens nothing."""
    form = ButtonForm()
    if request.method == "POST":
        require_submitted(form)
        if current_user.is_authenticated:
            audit.record(audit.LOGOUT, user_id=current_user.id, site_id=current_user.site_id,
                         ip=client_ip())
        sign_out()
        return redirect(url_for("accounts.login"))
    if not current_user.is_authenticated:
        return redirect(url_for("accounts.login"))
    return render_template("accounts/logout.html", form=form)


@bp.route("/profile")
@login_required
def profile():
    return render_template(
        "accounts/profile.html",
        connections=sorted(
            [*consents.connections_of(current_user), *grants.legacy_connections_of(current_user)],
            key=lambda c: c.created_at, reverse=True),
        form=ButtonForm(),
    )


@bp.route("/profile/sign-out-everywhere", methods=["POST"])
@login_required
def sign_out_everywhere():
    require_submitted(ButtonForm())
    ended = accounts.end_sessions_of(current_user)
    audit.record(audit.SIGNED_OUT_EVERYWHERE, user_id=current_user.id,
                 site_id=current_user.site_id, ip=client_ip(), sessions_ended=ended)
    sign_out()
    flash("Signed out everywhere: every browser signed in as you must sign in again.")
    return redirect(url_for("accounts.login"))


@bp.route("/profile/password", methods=["GET", "POST"])
@login_required
@limiter.limit(limit_from("LOGIN_RATE_LIMIT"), methods=["POST"], key_func=throttle.user_key)
def change_password():
    """A new password ends every session of the user, this one too: whoever knew the
    old password, in whichever browser, must sign in again."""
    form = PasswordForm()
    if form.validate_on_submit():
        throttle.wait_for_username(current_user.username)
        if accounts.authenticate(current_user.username, form.current_password.data) is None:
            throttle.count_failure(current_user.username)
            form.current_password.errors.append("The current password is wrong.")
        else:
            accounts.set_password(current_user, form.new_password.data, by=current_user,
                                  ip=client_ip())
            sign_out()
            flash("Password changed. Sign in with the new one.")
            return redirect(url_for("accounts.login"))
    return render_template("accounts/password.html", form=form), form_status(form)


@bp.route("/profile/connections/<grant_id>/revoke", methods=["POST"])
@login_required
def revoke_connection(grant_id: str):
    return _revoke(grant_id, url_for("accounts.profile"))


@bp.route("/site/authorized-apps")
@login_required
def site_authorized_apps():
    if not current_user.is_site_admin:
        raise PermissionDenied("site_admin_required",
                               "Only site administrators can see the site's authorized apps.")
    return render_template(
        "accounts/site_authorized_apps.html",
        site_tokens=grants.site_tokens_of(current_user.site),
        form=ButtonForm(),
    )


@bp.route("/site/authorized-apps/<grant_id>/revoke", methods=["POST"])
@login_required
def revoke_site_token(grant_id: str):
    return _revoke(grant_id, url_for("accounts.site_authorized_apps"))


def _revoke(connection_id: str, back: str):
    """Revoke a legacy grant by its id, or an OAuth2 connection by its client's id (or
    the id of any grant of it): that forgets the consent and stops every token the
    user's grants of that client hold."""
    require_submitted(ButtonForm())
    grant = grants.get_grant(connection_id)
    if grant is not None and grant.kind == GRANT_OAUTH and grant.user_id == current_user.id:
        client = grant.client
    elif grant is None and back == url_for("accounts.profile"):
        client = consents.connected_client(current_user, connection_id)
    else:
        client = None
    if client is not None:
        consents.forget(current_user, client, by=current_user, ip=client_ip())
        flash("Revoked. Every token of that connection has stopped working.")
        return redirect(back)
    if grant is None or not grants.may_revoke(current_user, grant):
        raise NotFound("unknown_connection", "No such connection.")
    grants.revoke_grant(grant, by=current_user, ip=client_ip())
    flash("Revoked. Every token of that connection has stopped working.")
    return redirect(back)
