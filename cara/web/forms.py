"""Form definitions (Flask-WTF: CSRF token and field parsing). Rules live in the domain modules."""

from flask_wtf import FlaskForm
from flask_wtf.file import FileField
from markupsafe import Markup
from wtforms import (
    BooleanField,
    EmailField,
    HiddenField,
    PasswordField,
    SelectField,
    StringField,
    TextAreaField,
)
from wtforms.validators import DataRequired, Length
from wtforms.widgets import HiddenInput

REQUIRED = DataRequired(message="This field is required.")


class Form(FlaskForm):
    """Every form's base: hidden fields render without an id, so a page with several forms
    has no duplicate id="csrf_token" (valid HTML); nothing refers to them by id."""

    def hidden_tag(self, *fields) -> Markup:
        chosen = [getattr(self, f, None) if isinstance(f, str) else f for f in fields or self]
        hidden = [f for f in chosen if f is not None and isinstance(f.widget, HiddenInput)]
        return Markup("\n".join(str(f(id=False)) for f in hidden))


class SignupForm(Form):
    username = StringField("Username", [REQUIRED, Length(max=30)])
    email = EmailField("Email", [REQUIRED, Length(max=254)])
    password = PasswordField("Password", [REQUIRED, Length(max=128)])
    invite = HiddenField()


class LoginForm(Form):
    login = StringField("Username or email", [REQUIRED, Length(max=254)])
    password = PasswordField("Password", [REQUIRED, Length(max=128)])
    remember = BooleanField("Keep me logged in")


class ResetRequestForm(Form):
    email = EmailField("Email", [REQUIRED, Length(max=254)])


class ResetPasswordForm(Form):
    password = PasswordField("New password", [REQUIRED, Length(max=128)])


class ChangePasswordForm(Form):
    current_password = PasswordField("Current password", [REQUIRED, Length(max=128)])
    new_password = PasswordField("New password", [REQUIRED, Length(max=128)])


class CodeForm(Form):
    code = StringField("Authentication code", [REQUIRED, Length(max=20)])


class DisableTwoFactorForm(Form):
    password = PasswordField("Password", [REQUIRED, Length(max=128)])
    code = StringField("Authentication code or recovery code", [REQUIRED, Length(max=20)])


class EmptyForm(Form):
    """Just the CSRF token: for POST buttons such as log out."""


def add_errors(form: FlaskForm, errors: dict[str, list[str]]) -> None:
    """Attach domain errors to the form's fields so the template shows them beside each field."""
    for name, messages in errors.items():
        getattr(form, name).errors = [*getattr(form, name).errors, *messages]


class ProfileForm(Form):
    display_name = StringField("Display name", [Length(max=60)])
    bio = TextAreaField("Bio", [Length(max=500)])
    links = TextAreaField("Links", [Length(max=1200)])
    open_to_work = BooleanField("Open to work and commissions")
    avatar = FileField("Avatar")
    banner = FileField("Banner")


class PrivacyForm(Form):
    is_private = BooleanField("Private account (approve followers)")
    show_mature = BooleanField("Show mature content without a warning")
    data_saver = BooleanField("Data saver (small images unless I ask)")
    noindex = BooleanField("Ask search engines not to index my profile and posts")
    licence = SelectField("Licence for my work")
    data_mining = SelectField("AI training reservation written into my images")


class DeleteAccountForm(Form):
    password = PasswordField("Password", [REQUIRED, Length(max=128)])


class EmailChangeForm(Form):
    """Prefixed ("change-email", "change-password"): the page has other password fields."""

    email = EmailField("New email address", [REQUIRED, Length(max=254)])
    password = PasswordField("Current password", [REQUIRED, Length(max=128)])

    def __init__(self, *args, **kwargs):
        super().__init__(*args, prefix="change", **kwargs)


# --- the admin area (rules in cara.admin) ---------------------------------------------------


class SiteForm(Form):
    site_name = StringField("Site name", [Length(max=200)])
    site_description = TextAreaField("Description", [Length(max=2000)])
    contact_email = EmailField("Contact address", [Length(max=254)])
    registration = SelectField("Registration")


class PageForm(Form):
    source = TextAreaField("Text (Markdown)", [Length(max=60_000)])


class FilterForm(Form):
    hold_threshold = StringField("Classifier hold threshold", [Length(max=20)])
    crawlers = TextAreaField("Extra AI crawlers", [Length(max=60_000)])


class EvaluateForm(Form):
    archive = FileField("Labelled images (zip)")


class InviteForm(Form):
    days = StringField("Valid for (days)", [Length(max=6)], default="7")
    max_uses = StringField("Number of sign-ups", [Length(max=6)], default="1")


class SubscriptionForm(Form):
    address = StringField("Instance address", [REQUIRED, Length(max=400)])
    trusted = BooleanField("Trusted: matches are rejected (otherwise they are held for review)")


class InstanceBlockForm(Form):
    domain = StringField("Server", [REQUIRED, Length(max=255)])
    reason = TextAreaField("Reason (kept for the other admins)", [Length(max=500)])


class RoleForm(Form):
    username = StringField("Username", [REQUIRED, Length(max=30)])
    role = SelectField("Role")
