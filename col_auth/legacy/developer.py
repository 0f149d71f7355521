"""``/developer``: a user's registered apps. The AppSecret is shown once, at "Insert"
or "Regenerate secret", and never again."""

from __future__ import annotations

from flask import Response, flash, make_response, redirect, render_template, url_for
from flask_login import current_user, login_required

from ..core import legacy_apps
from ..core.errors import CoreError, NotFound, PermissionDenied
from ..core.models import LegacyApp
from ..web import form_status, icon_response, read_icon_upload, show_on_form
from ..web.forms import ButtonForm, require_submitted
from ..web.headers import no_store
from . import bp
from .forms import AppForm


def _owned(app_token: str) -> LegacyApp:
    """The current user's app; another's is answered as if it did not exist."""
    try:
        return legacy_apps.owned_app(current_user, app_token)
    except (NotFound, PermissionDenied):
        raise NotFound("unknown_app", "No such app among yours.") from None


def _secret_page(legacy_app: LegacyApp, secret: str, title: str) -> Response:
    page = render_template("legacy/app_secret.html", legacy_app=legacy_app, secret=secret,
                           title=title)
    return no_store(make_response(page))


@bp.route("/developer")
@login_required
def developer():
    return render_template("legacy/developer.html",
                           legacy_apps=legacy_apps.apps_of(current_user), form=ButtonForm())


@bp.route("/developer/add", methods=["GET", "POST"])
@login_required
def add_app():
    form = AppForm()
    if form.validate_on_submit():
        try:
            legacy_app, secret = legacy_apps.register_app(
                current_user,
                name=form.name.data,
                return_url=form.return_url.data,
                privacy_url=form.privacy_url.data or None,
                icon=read_icon_upload(form.icon),
            )
        except CoreError as exc:
            show_on_form(form, exc)
        else:
            return _secret_page(legacy_app, secret, "Your app is registered")
    page = render_template("legacy/app_form.html", form=form, legacy_app=None)
    return page, form_status(form)


@bp.route("/developer/<app_token>/edit", methods=["GET", "POST"])
@login_required
def edit_app(app_token: str):
    legacy_app = _owned(app_token)
    form = AppForm(obj=legacy_app)
    form.submit.label.text = "Save"
    if form.validate_on_submit():
        try:
            legacy_apps.update_app(
                legacy_app,
                name=form.name.data,
                return_url=form.return_url.data,
                privacy_url=form.privacy_url.data or None,
                icon=read_icon_upload(form.icon),
                remove_icon=form.remove_icon.data,
            )
        except CoreError as exc:
            show_on_form(form, exc)
        else:
            flash(f"Saved {legacy_app.name}.")
            return redirect(url_for("legacy.developer"))
    page = render_template("legacy/app_form.html", form=form, legacy_app=legacy_app)
    return page, form_status(form)


@bp.route("/developer/<app_token>/delete", methods=["POST"])
@login_required
def delete_app(app_token: str):
    legacy_app = _owned(app_token)
    require_submitted(ButtonForm())
    name = legacy_app.name
    legacy_apps.delete_app(legacy_app)
    flash(f"Deleted {name}; every token it was given has stopped working.")
    return redirect(url_for("legacy.developer"))


@bp.route("/developer/<app_token>/secret", methods=["POST"])
@login_required
def regenerate_secret(app_token: str):
    legacy_app = _owned(app_token)
    require_submitted(ButtonForm())
    secret = legacy_apps.regenerate_secret(legacy_app)
    return _secret_page(legacy_app, secret, "A new AppSecret")


@bp.route("/developer/<app_token>/icon")
def app_icon(app_token: str):
    """The icon, public because the consent page shows it before anyone decides."""
    legacy_app = legacy_apps.find_app(app_token)
    if legacy_app is None:
        raise NotFound("unknown_app", "No such app.")
    return icon_response(legacy_app.icon, legacy_app.icon_mimetype)
