"""/admin/modules: for system administrators only.

A module gets one external app; its client templates name access levels, and
its clients (the "Tokens" section) get a ``client_id`` and a ``client_secret``
that is shown once, on the page that answers "Create OAuth/OIDC client", and
never again; a public client gets no secret at all and must use PKCE.
"""

from __future__ import annotations

from flask import (
    Response,
    flash,
    make_response,
    redirect,
    render_template,
    url_for,
)
from flask_login import current_user
from wtforms.fields import SelectChoice

from ..core import oauth_clients
from ..core.errors import CoreError, NotFound, PermissionDenied, ValidationError
from ..core.models import ExternalApp, Module, OAuthClient
from ..extensions import csrf, login_manager
from ..web import errors, form_status, icon_response, read_icon_upload, show_on_form
from ..web.forms import ButtonForm
from ..web.headers import no_store
from . import bp
from .forms import (
    ClientForm,
    ExternalAppForm,
    ModuleForm,
    ModuleStateForm,
    TemplateForm,
)

# The check below must come before CSRF, so that anyone who is not a system
# administrator gets 403 (or the login page) whatever they post; CSRF is then
# checked by hand for everyone who may go on.
csrf.exempt(bp)
errors.answer_with(bp, errors.page_response)


@bp.before_request
def require_system_admin():
    if not current_user.is_authenticated:
        return login_manager.unauthorized()
    if not current_user.is_system_admin:
        raise PermissionDenied("system_admin_required",
                               "Only system administrators can use the administration pages.")
    csrf.protect()
    return None


# --- helpers ------------------------------------------------------------------------


def _external_app(module: Module) -> ExternalApp:
    """The module's external app: ``create_module`` gives every module one."""
    if module.external_app is None:
        raise NotFound("unknown_external_app", "This module has no external app.")
    return module.external_app


def _template_choices(external_app: ExternalApp) -> list[SelectChoice]:
    """Each template with its scopes next to its name, e.g. "Sample (openid api)"."""
    return [SelectChoice(t.id, f"{t.name} ({t.scopes})", render_kw={"data-scopes": t.scopes})
            for t in external_app.templates]


def _client_form(external_app: ExternalApp, **kwargs) -> ClientForm:
    form = ClientForm(**kwargs)
    form.template.choices = _template_choices(external_app)
    return form


def _module_page(module: Module, *, status: int = 200, **forms) -> tuple[str, int]:
    """The module page; the form that was posted (if any) comes in ``forms`` with its
    errors, every other form is blank (``formdata=None``: not the request's fields)."""
    external_app = _external_app(module)
    if "app_form" not in forms:
        forms["app_form"] = ExternalAppForm(
            formdata=None,
            data={"enabled": external_app.enabled, "use_module_data": external_app.use_module_data,
                  "name": external_app.name, "description": external_app.description},
        )
    forms.setdefault("template_form", TemplateForm(formdata=None))
    forms.setdefault("client_form", _client_form(external_app, formdata=None))
    page = render_template(
        "admin/module.html",
        module=module,
        external_app=external_app,
        clients=oauth_clients.clients_of(external_app),
        insecure_uris=oauth_clients.insecure_uris,
        http_allowed=oauth_clients.http_redirect_uris_allowed(),
        state_form=ModuleStateForm(formdata=None),
        button_form=ButtonForm(formdata=None),
        **forms,
    )
    return page, status


def _module_url(module: Module, section: str) -> str:
    return url_for("admin.module", module_id=module.id, _anchor=section)


# --- modules ------------------------------------------------------------------------


@bp.route("/modules", methods=["GET", "POST"])
def modules():
    form = ModuleForm()
    if form.validate_on_submit():
        try:
            module = oauth_clients.create_module(form.name.data, form.description.data or "",
                                                 icon=read_icon_upload(form.icon))
        except CoreError as exc:
            show_on_form(form, exc)
        else:
            flash(f"Created module {module.name}.")
            return redirect(url_for("admin.module", module_id=module.id))
    rows = [
        {
            "module": m,
            "app_enabled": bool(m.external_app and m.external_app.enabled),
            "clients": len(oauth_clients.clients_of(m.external_app)) if m.external_app else 0,
        }
        for m in oauth_clients.all_modules()
    ]
    return render_template("admin/modules.html", rows=rows, form=form), form_status(form)


@bp.route("/modules/<module_id>")
def module(module_id: str):
    return _module_page(oauth_clients.get_module(module_id))


@bp.route("/modules/<module_id>/state", methods=["POST"])
def module_state(module_id: str):
    module = oauth_clients.get_module(module_id)
    form = ModuleStateForm()
    if not (form.enable.data or form.disable.data):
        raise ValidationError("invalid_request", "Choose Enable or Disable.")
    enabled = bool(form.enable.data)
    oauth_clients.set_module_enabled(module, enabled, by=current_user)
    if enabled:
        flash(f"Enabled {module.name}.")
    else:
        flash(f"Disabled {module.name}; every token of its clients has stopped working.")
    return redirect(_module_url(module, "settings"))


@bp.route("/modules/<module_id>/icon")
def module_icon(module_id: str):
    module = oauth_clients.get_module(module_id)
    return _icon(module.icon, module.icon_mimetype)


@bp.route("/modules/<module_id>/external-app/icon")
def external_app_icon(module_id: str):
    icon, mimetype = _external_app(oauth_clients.get_module(module_id)).display_icon
    return _icon(icon, mimetype)


def _icon(icon: bytes | None, mimetype: str | None) -> Response:
    response = icon_response(icon, mimetype)
    response.headers["Cache-Control"] = "private, max-age=300"  # admin pages only
    return response


# --- the external app ----------------------------------------------------------------


@bp.route("/modules/<module_id>/external-app", methods=["POST"])
def external_app(module_id: str):
    module = oauth_clients.get_module(module_id)
    external_app = _external_app(module)
    form = ExternalAppForm()
    if form.validate_on_submit():
        try:
            oauth_clients.configure_external_app(
                external_app,
                enabled=form.enabled.data,
                use_module_data=form.use_module_data.data,
                name=form.name.data or "",
                description=form.description.data or "",
                icon=read_icon_upload(form.icon),
                by=current_user,
            )
        except CoreError as exc:
            show_on_form(form, exc)
        else:
            flash(f"Saved the external app of {module.name}.")
            return redirect(_module_url(module, "external-app"))
    return _module_page(module, app_form=form, status=400)


# --- client templates ----------------------------------------------------------------


@bp.route("/modules/<module_id>/templates", methods=["POST"])
def create_template(module_id: str):
    module = oauth_clients.get_module(module_id)
    form = TemplateForm()
    if form.validate_on_submit():
        try:
            template = oauth_clients.create_template(_external_app(module), form.name.data,
                                                     form.scopes.data)
        except CoreError as exc:
            show_on_form(form, exc)
        else:
            flash(f"Created the template {template.name} ({template.scopes}).")
            return redirect(_module_url(module, "templates"))
    return _module_page(module, template_form=form, status=400)


# --- clients ("Tokens") ---------------------------------------------------------------


@bp.route("/modules/<module_id>/clients", methods=["POST"])
def create_client(module_id: str):
    module = oauth_clients.get_module(module_id)
    external_app = _external_app(module)
    form = _client_form(external_app)
    if form.validate_on_submit():
        try:
            client, secret = oauth_clients.create_client(
                oauth_clients.get_template(external_app, form.template.data),
                name=form.name.data,
                redirect_uris=form.redirect_uri.data,
                expires_days=form.expires.data,
                public=form.public.data,
                require_pkce=form.require_pkce.data,
                post_logout_redirect_uris=form.post_logout_redirect_uri.data,
                by=current_user,
            )
        except CoreError as exc:
            show_on_form(form, exc)
        else:
            # A public client has no secret: the page says so instead of showing one.
            page = render_template("admin/client_secret.html", module=module, client=client,
                                   secret=secret,
                                   insecure_uris=oauth_clients.insecure_uris(client))
            return no_store(make_response(page))
    return _module_page(module, client_form=form, status=400)


def _client_of(module: Module, client_id: str) -> OAuthClient:
    client = oauth_clients.find_client(client_id)
    if client is None or client.template.external_app.module_id != module.id:
        raise NotFound("unknown_client", "No such client in this module.")
    return client


@bp.route("/modules/<module_id>/clients/<client_id>/delete", methods=["POST"])
def delete_client(module_id: str, client_id: str):
    module = oauth_clients.get_module(module_id)
    client = _client_of(module, client_id)
    name = client.name
    oauth_clients.delete_client(client, by=current_user)
    flash(f"Deleted the client {name}; every token it had has stopped working.")
    return redirect(_module_url(module, "tokens"))
