"""/, /login, /logout, /profile and the site administrators' "Authorized Apps & Websites"."""

from __future__ import annotations

from flask import (
    current_app,
    flash,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from flask_login import current_user, login_required, login_user, logout_user

from ..core import audit, grants
from ..core.accounts import authenticate, username_key
from ..core.clock import now, to_epoch
from ..core.errors import NotFound, PermissionDenied
from ..extensions import limiter
from ..web import client_ip, safe_next_url
from ..web.forms import ButtonForm, require_submitted
from . import bp
from .forms import LoginForm


def _login_limit() -> str:
    return current_app.config["LOGIN_RATE_LIMIT"]


@bp.route("/")
def index():
    return render_template("accounts/index.html")


@bp.route("/login", methods=["GET", "POST"])
@limiter.limit(_login_limit, methods=["POST"])
@limiter.limit(_login_limit, methods=["POST"],
               key_func=lambda: "user:" + username_key(request.form.get("username", "")))
def login():
    form = LoginForm()
    next_url = safe_next_url(request.args.get("next"), url_for("accounts.index"))
    if form.validate_on_submit():
        user = authenticate(form.username.data, form.password.data)
        if user is None:
            audit.record(audit.LOGIN_FAILED, ip=client_ip(), username=form.username.data[:150])
            form.password.errors.append("Unknown username or wrong password.")
        else:
            login_user(user)
            # When the user authenticated: the id_token's auth_time (OIDC Core §2).
            session["auth_time"] = to_epoch(now())
            audit.record(audit.LOGIN, user_id=user.id, site_id=user.site_id, ip=client_ip())
            return redirect(next_url)
    status = 200 if not form.errors else 400
    return render_template("accounts/login.html", form=form), status


@bp.route("/logout", methods=["GET", "POST"])
def logout():
    """GET asks, POST (with its CSRF token) logs out: a link on another site cannot
    sign a user out."""
    form = ButtonForm()
    if request.method == "POST":
        require_submitted(form)
        logout_user()
        session.pop("auth_time", None)
        return redirect(url_for("accounts.login"))
    if not current_user.is_authenticated:
        return redirect(url_for("accounts.login"))
    return render_template("accounts/logout.html", form=form)


@bp.route("/profile")
@login_required
def profile():
    return render_template(
        "accounts/profile.html",
        connections=grants.connections_of(current_user),
        form=ButtonForm(),
    )


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


def _revoke(grant_id: str, back: str):
    require_submitted(ButtonForm())
    grant = grants.get_grant(grant_id)
    if grant is None or not grants.may_revoke(current_user, grant):
        raise NotFound("unknown_connection", "No such connection.")
    grants.revoke_grant(grant, by=current_user, ip=client_ip())
    flash("Revoked. Every token of that connection has stopped working.")
    return redirect(back)
