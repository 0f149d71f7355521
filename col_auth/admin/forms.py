"""Forms of the system administration pages (CSRF on each, Flask-WTF).

Several of these forms share one page, so fields that would share a name get
an explicit ``id``: names stay plain for whoever posts them, ids stay unique.
"""

from __future__ import annotations

from flask_wtf import FlaskForm
from flask_wtf.file import FileField
from wtforms import (
    BooleanField,
    Field,
    IntegerField,
    SelectField,
    SelectMultipleField,
    StringField,
    SubmitField,
    TextAreaField,
)
from wtforms.validators import DataRequired, Length, Optional
from wtforms.widgets import CheckboxInput, ListWidget

from ..core.scopes import ACCESS_LEVELS
from ..web.forms import storable


class ModuleForm(FlaskForm):
    """The "Create module" form."""

    name = StringField("Name", id="module-name",
                       validators=[DataRequired(), Length(max=200), storable()])
    description = TextAreaField("Description", id="module-description",
                                validators=[storable(multiline=True)])
    icon = FileField("Icon", id="module-icon")
    submit = SubmitField("Create module", id="module-submit")


class ModuleStateForm(FlaskForm):
    """Enable or disable a module; the page shows the one button that changes it."""

    enable = SubmitField("Enable", id="module-enable")
    disable = SubmitField("Disable", id="module-disable")


class ExternalAppForm(FlaskForm):
    """The "External App" tab. Name, description and icon count only when
    "Use main module data" is unchecked."""

    enabled = BooleanField("Enable", id="app-enabled")
    use_module_data = BooleanField("Use main module data", id="app-use-module-data",
                                   default=True)
    name = StringField("Name", id="app-name", validators=[Length(max=200), storable()])
    description = TextAreaField("Description", id="app-description",
                                validators=[storable(multiline=True)])
    icon = FileField("Icon", id="app-icon")
    submit = SubmitField("Save", id="app-submit")


class TemplateForm(FlaskForm):
    """An OAuth2/OIDC client template: a name and its access levels."""

    name = StringField("Name", id="template-name",
                       validators=[DataRequired(), Length(max=200), storable()])
    scopes = SelectMultipleField(
        "Access levels",
        id="template-scopes",
        choices=list(ACCESS_LEVELS),
        option_widget=CheckboxInput(),
        widget=ListWidget(prefix_label=False),
        validators=[DataRequired(message="Choose at least one access level.")],
    )
    submit = SubmitField("Create template", id="template-submit")


class MultiValueField(Field):
    """Every value posted under the field's name (one input each), blanks dropped.

    The template renders the inputs itself, so that admin.js can add more.
    """

    def process_data(self, value) -> None:
        self.data = list(value or [])

    def process_formdata(self, valuelist) -> None:
        self.data = [v.strip() for v in valuelist if v and v.strip()]


class ClientForm(FlaskForm):
    """The "Create OAuth/OIDC client" form; the view fills in the template choices."""

    name = StringField("Name", id="client-name",
                       validators=[DataRequired(), Length(max=200), storable()])
    template = SelectField("Template", id="client-template", validators=[DataRequired()])
    redirect_uri = MultiValueField("Redirect URI", id="client-redirect-uri")
    # A public client (a single-page or mobile app) cannot keep a secret: it gets
    # none and must use PKCE (RFC 6749 §2.1, RFC 9700 §2.1.1).
    public = BooleanField("Public client (no secret; PKCE required)", id="client-public")
    require_pkce = BooleanField("Require PKCE", id="client-require-pkce")
    post_logout_redirect_uri = MultiValueField("Post-logout redirect URIs",
                                               id="client-post-logout-redirect-uri")
    expires = IntegerField("Expires (days)", id="client-expires", validators=[Optional()])
    submit = SubmitField("Create OAuth/OIDC client", id="client-submit")
