"""``/developer``: a user's registered apps. The AppSecret is shown once, at "Insert"
or "Regenerate secret", and never again."""

from __future__ import annotations

from flask import (
    Response,
    abort,
    flash,
    make_response,
    redirect,
    render_template,
    url_for,
)
from flask_login import current_user, login_required

from ..core import legacy_apps
from ..core.errors import NotFound, PermissionDenied
from ..core.models import LegacyApp
from ..extensions import db
from ..web import (
    commit_or_form_error,
    form_status,
    icon_response,
    no_store,
    read_icon_upload,
)
from . import bp
from .forms import AppForm, ButtonForm


def _owned(app_token: str) -> LegacyApp:
    try:
        return legacy_apps.owned_app(current_user, app_token)
    except (NotFound, PermissionDenied):
        abort(404, "No such app among yours.")


def _secret_page(app: LegacyApp, secret: str, title: str) -> Response:
    page = render_template("legacy/app_secret.html", app=app, secret=secret, title=title)
    return no_store(make_response(page))


@bp.route("/developer")
@login_required
def developer():
    return render_template(
        "legacy/developer.html", apps=legacy_apps.apps_of(current_user), form=ButtonForm()
    )


@bp.route("/developer/add", methods=["GET", "POST"])
@login_required
def add_app():
    form = AppForm()
    if form.validate_on_submit():
        registered = commit_or_form_error(form, lambda: legacy_apps.register_app(
            current_user,
            name=form.name.data,
            return_url=form.return_url.data,
            privacy_url=form.privacy_url.data or None,
            icon=read_icon_upload(form.icon),
        ))
        if registered is not None:
            app, secret = registered
            return _secret_page(app, secret, "Your app is registered")
    return render_template("legacy/app_form.html", form=form, app=None), form_status(form)


@bp.route("/developer/<app_token>/edit", methods=["GET", "POST"])
@login_required
def edit_app(app_token: str):
    app = _owned(app_token)
    form = AppForm(obj=app)
    form.submit.label.text = "Save"
    if form.validate_on_submit():
        saved = commit_or_form_error(form, lambda: legacy_apps.update_app(
            app,
            name=form.name.data,
            return_url=form.return_url.data,
            privacy_url=form.privacy_url.data or None,
            icon=read_icon_upload(form.icon),
            remove_icon=form.remove_icon.data,
        ))
        if saved is not None:
            flash(f"Saved {app.name}.")
            return redirect(url_for("legacy.developer"))
    return render_template("legacy/app_form.html", form=form, app=app), form_status(form)


@bp.route("/developer/<app_token>/delete", methods=["POST"])
@login_required
def delete_app(app_token: str):
    app = _owned(app_token)
    if not ButtonForm().validate_on_submit():
        abort(400, "The form expired. Go back and try again.")
    name = app.name
    legacy_apps.delete_app(app)
    db.session.commit()
    flash(f"Deleted {name}; every token it was given has stopped working.")
    return redirect(url_for("legacy.developer"))


@bp.route("/developer/<app_token>/secret", methods=["POST"])
@login_required
def regenerate_secret(app_token: str):
    app = _owned(app_token)
    if not ButtonForm().validate_on_submit():
        abort(400, "The form expired. Go back and try again.")
    secret = legacy_apps.regenerate_secret(app)
    db.session.commit()
    return _secret_page(app, secret, "A new AppSecret")


@bp.route("/developer/<app_token>/icon")
def app_icon(app_token: str):
    """The icon, public because the consent page shows it before anyone decides."""
    app = legacy_apps.find_app(app_token)
    if app is None:
        abort(404)
    return icon_response(app.icon, app.icon_mimetype)
