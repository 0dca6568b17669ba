"""Form definitions (Flask-WTF: CSRF token and field parsing). Rules live in the domain modules."""

from flask_wtf import FlaskForm
from flask_wtf.file import FileField
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

REQUIRED = DataRequired(message="This field is required.")


class SignupForm(FlaskForm):
    username = StringField("Username", [REQUIRED, Length(max=30)])
    email = EmailField("Email", [REQUIRED, Length(max=254)])
    password = PasswordField("Password", [REQUIRED, Length(max=128)])
    invite = HiddenField()


class LoginForm(FlaskForm):
    login = StringField("Username or email", [REQUIRED, Length(max=254)])
    password = PasswordField("Password", [REQUIRED, Length(max=128)])
    remember = BooleanField("Keep me logged in")


class ResetRequestForm(FlaskForm):
    email = EmailField("Email", [REQUIRED, Length(max=254)])


class ResetPasswordForm(FlaskForm):
    password = PasswordField("New password", [REQUIRED, Length(max=128)])


class ChangePasswordForm(FlaskForm):
    current_password = PasswordField("Current password", [REQUIRED, Length(max=128)])
    new_password = PasswordField("New password", [REQUIRED, Length(max=128)])


class CodeForm(FlaskForm):
    code = StringField("Authentication code", [REQUIRED, Length(max=20)])


class DisableTwoFactorForm(FlaskForm):
    password = PasswordField("Password", [REQUIRED, Length(max=128)])
    code = StringField("Authentication code or recovery code", [REQUIRED, Length(max=20)])


class EmptyForm(FlaskForm):
    """Just the CSRF token: for POST buttons such as log out."""


def add_errors(form: FlaskForm, errors: dict[str, list[str]]) -> None:
    """Attach domain errors to the form's fields so the template shows them beside each field."""
    for name, messages in errors.items():
        getattr(form, name).errors = [*getattr(form, name).errors, *messages]


class ProfileForm(FlaskForm):
    display_name = StringField("Display name", [Length(max=60)])
    bio = TextAreaField("Bio", [Length(max=500)])
    links = TextAreaField("Links", [Length(max=1200)])
    open_to_work = BooleanField("Open to work and commissions")
    avatar = FileField("Avatar")


class PrivacyForm(FlaskForm):
    is_private = BooleanField("Private account (approve followers)")
    show_mature = BooleanField("Show mature content without a warning")
    data_saver = BooleanField("Data saver (small images unless I ask)")
    noindex = BooleanField("Ask search engines not to index my profile and posts")
    licence = SelectField("Licence for my work")
    data_mining = SelectField("AI training reservation written into my images")


class DeleteAccountForm(FlaskForm):
    password = PasswordField("Password", [REQUIRED, Length(max=128)])


class EmailChangeForm(FlaskForm):
    """Prefixed ("change-email", "change-password"): the page has other password fields."""

    email = EmailField("New email address", [REQUIRED, Length(max=254)])
    password = PasswordField("Current password", [REQUIRED, Length(max=128)])

    def __init__(self, *args, **kwargs):
        super().__init__(*args, prefix="change", **kwargs)


# --- the admin area (rules in cara.admin) ---------------------------------------------------


class SiteForm(FlaskForm):
    site_name = StringField("Site name", [Length(max=200)])
    site_description = TextAreaField("Description", [Length(max=2000)])
    contact_email = EmailField("Contact address", [Length(max=254)])
    registration = SelectField("Registration")


class PageForm(FlaskForm):
    source = TextAreaField("Text (Markdown)", [Length(max=60_000)])


class FilterForm(FlaskForm):
    hold_threshold = StringField("Classifier hold threshold", [Length(max=20)])
    crawlers = TextAreaField("Extra AI crawlers", [Length(max=60_000)])


class EvaluateForm(FlaskForm):
    archive = FileField("Labelled images (zip)")


class InviteForm(FlaskForm):
    days = StringField("Valid for (days)", [Length(max=6)], default="7")
    max_uses = StringField("Number of sign-ups", [Length(max=6)], default="1")


class RoleForm(FlaskForm):
    username = StringField("Username", [REQUIRED, Length(max=30)])
    role = SelectField("Role")
