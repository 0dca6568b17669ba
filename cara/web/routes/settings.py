"""Account settings: profile, preferences, password, sessions, two-factor, email, export,
delete."""

from datetime import timedelta

from flask import (
    Blueprint,
    abort,
    current_app,
    flash,
    redirect,
    render_template,
    request,
    send_file,
    url_for,
)
from flask_login import current_user, login_required, logout_user
from flask_login.config import COOKIE_NAME as REMEMBER_COOKIE

from cara.accounts import auth, email_change, lifecycle, profiles, sessions, twofactor
from cara.core import policy, storage
from cara.core.models import UserSession
from cara.posting import drafts, processing
from cara.web.forms import (
    ChangePasswordForm,
    CodeForm,
    DeleteAccountForm,
    DisableTwoFactorForm,
    EmailChangeForm,
    EmptyForm,
    PrivacyForm,
    ProfileForm,
    add_errors,
)
from cara.web.helpers import get_or_404, read_uploads, sign_in

bp = Blueprint("settings", __name__, url_prefix="/settings")


def profile_form(user) -> ProfileForm:
    """The profile form filled with what the profile says now."""
    return ProfileForm(
        formdata=None,
        display_name=user.display_name,
        bio=user.bio,
        links="\n".join(user.links or []),
        open_to_work=user.open_to_work,
    )


def save_profile(form: ProfileForm) -> dict[str, list[str]]:
    """Save a submitted profile form (here and in the welcome): its texts, then its avatar."""
    values = {name: form[name].data or "" for name in ("display_name", "bio", "links")}
    images = {name: files[0] for name in ("avatar", "banner") if (files := read_uploads(name))}
    return profiles.save_profile(
        current_user._get_current_object(),
        {**values, "open_to_work": form.open_to_work.data},
        images,
        drafts.upload_limits(current_app.config),
    )


def _forms(**overrides):
    user = current_user
    forms = {
        "profile_form": profile_form(user),
        "privacy_form": PrivacyForm(formdata=None, obj=user),
        "password_form": ChangePasswordForm(formdata=None),
        "delete_form": DeleteAccountForm(formdata=None),
        "email_form": EmailChangeForm(formdata=None),
        "pending_email": email_change.pending(user),
    }
    forms.update(overrides)
    _choices(forms["privacy_form"])
    return forms


def _choices(form: PrivacyForm) -> None:
    form.licence.choices = [(code, label) for code, (label, _) in processing.LICENCES.items()]
    form.data_mining.choices = list(profiles.DATA_MINING_CHOICES.items())


def _page(status=200, **overrides):
    user = current_user._get_current_object()
    idle = timedelta(days=current_app.config["SESSION_IDLE_DAYS"])
    return render_template(
        "settings/index.html",
        sessions=sessions.active(user, idle),
        two_factor_on=twofactor.enabled(user),
        themes=profiles.THEMES,
        banner_state=profiles.banner_state(user),
        **_forms(**overrides),
    ), status


@bp.get("")
@login_required
def index():
    return _page()


@bp.post("/profile")
@login_required
def profile():
    form = ProfileForm()
    if form.validate_on_submit():
        errors = save_profile(form)
        if not errors:
            flash("Profile saved.", "success")
            return redirect(url_for("settings.index"), 303)
        add_errors(form, errors)
    return _page(422, profile_form=form)


@bp.post("/banner/remove")
@login_required
def remove_banner():
    if not EmptyForm().validate_on_submit():
        abort(400, "The form expired: reload the page and try again.")
    profiles.remove_banner(current_user._get_current_object())
    flash("Banner removed.", "success")
    return redirect(url_for("settings.index") + "#profile-heading", 303)


@bp.post("/preferences")
@login_required
def preferences():
    form = PrivacyForm()
    _choices(form)
    if form.validate_on_submit():
        errors = profiles.update_preferences(current_user._get_current_object(), form.data)
        if not errors:
            flash("Preferences saved.", "success")
            return redirect(url_for("settings.index"), 303)
        add_errors(form, errors)
    return _page(422, privacy_form=form)


@bp.post("/appearance")
@login_required
def appearance():
    form = EmptyForm()
    if not form.validate_on_submit():
        abort(400, "The form expired: reload the page and try again.")
    errors = profiles.set_theme(current_user._get_current_object(), request.form.get("theme", ""))
    if errors:
        flash(errors["theme"][0], "error")
        return _page(422)
    flash("Appearance saved.", "success")
    return redirect(url_for("settings.index") + "#appearance-heading", 303)


@bp.post("/password")
@login_required
def password():
    form = ChangePasswordForm()
    if form.validate_on_submit():
        user = current_user._get_current_object()
        errors = auth.change_password(user, form.current_password.data, form.new_password.data)
        if not errors:
            # Every session ended; this browser continues in a new one, remembered if it was.
            cookie = current_app.config.get("REMEMBER_COOKIE_NAME", REMEMBER_COOKIE)
            sign_in(user, remember=cookie in request.cookies)
            flash("Your password is changed. Other sessions are logged out.", "success")
            return redirect(url_for("settings.index"), 303)
        add_errors(form, errors)
    return _page(422, password_form=form)


@bp.post("/sessions/<int:session_id>/end")
@login_required
def end_session(session_id: int):
    """End one of the account's sessions; ending this browser's own is logging out."""
    row = get_or_404(UserSession, session_id, policy.can_change)
    sessions.end(row.id)
    if row.id == current_user.session_id:
        logout_user()
        flash("You are logged out.", "info")
        return redirect(url_for("auth.login"), 303)
    flash(f"That session ({row.user_agent}) is ended.", "success")
    return redirect(url_for("settings.index") + "#sessions-heading", 303)


# --- two-factor authentication --------------------------------------------------------------


def _two_factor_page(status=200, **forms):
    user = current_user._get_current_object()
    record = twofactor.pending(user)
    uri = twofactor.provisioning_uri(user, record) if record else None
    page = render_template(
        "settings/two_factor.html",
        enabled=twofactor.enabled(user),
        secret=record.secret if record else None,
        qr=twofactor.qr_data_uri(uri) if uri else None,
        confirm_form=forms.get("confirm_form") or CodeForm(formdata=None),
        disable_form=forms.get("disable_form") or DisableTwoFactorForm(formdata=None),
        recovery_codes=forms.get("recovery_codes"),
    )
    response = current_app.make_response((page, status))
    response.headers["Cache-Control"] = "no-store"  # secrets and recovery codes
    return response


@bp.get("/two-factor")
@login_required
def two_factor():
    return _two_factor_page()


@bp.post("/two-factor/setup")
@login_required
def two_factor_setup():
    if not twofactor.enabled(current_user):
        twofactor.begin(current_user._get_current_object())
    return redirect(url_for("settings.two_factor"), 303)


@bp.post("/two-factor/confirm")
@login_required
def two_factor_confirm():
    form = CodeForm()
    if form.validate_on_submit():
        codes, errors = twofactor.confirm(current_user._get_current_object(), form.code.data)
        if not errors:
            # Shown once, on this answer only: the database keeps just their hashes.
            return _two_factor_page(recovery_codes=codes)
        add_errors(form, errors)
    return _two_factor_page(422, confirm_form=form)


@bp.post("/two-factor/disable")
@login_required
def two_factor_disable():
    form = DisableTwoFactorForm()
    if form.validate_on_submit():
        user = current_user._get_current_object()
        errors = twofactor.disable(user, form.password.data, form.code.data)
        if not errors:
            flash("Two-factor authentication is off.", "info")
            return redirect(url_for("settings.index"), 303)
        add_errors(form, errors)
    return _two_factor_page(422, disable_form=form)


def _private(response):
    """Pages and files with the account's own data: never kept by a browser or shared cache."""
    response.headers["Cache-Control"] = "private, no-store"
    return response


@bp.post("/email")
@login_required
def email():
    form = EmailChangeForm()
    if not form.validate_on_submit():
        return _page(422, email_form=form)
    message, errors = email_change.request_change(
        current_user._get_current_object(), form.email.data, form.password.data
    )
    return _outcome(form, "email_form", errors, message, "success")


def _outcome(form, name: str, errors: dict, message: str, category: str, to="settings.index"):
    """Flash `message` and redirect when there are no errors; else the settings page again,
    each error beside its field of the form called `name`."""
    if not errors:
        flash(message, category)
        return redirect(url_for(to), 303)
    add_errors(form, errors)
    return _page(422, **{name: form})


@bp.post("/email/cancel")
@login_required
def email_cancel():
    if EmptyForm().validate_on_submit():
        email_change.cancel(current_user._get_current_object())
        flash("The change of address is cancelled.", "info")
    return redirect(url_for("settings.index"), 303)


# The mailed link opens a page with a button (a GET changes nothing: mail scanners follow
# links); it works without being logged in, as the token is the proof.
@bp.get("/email/confirm/<token>")
def email_confirm(token):
    change = email_change.change_for_token(token)
    status = 200 if change else 404
    page = render_template("settings/email_confirm.html", change=change, form=EmptyForm())
    return _private(current_app.make_response((page, status)))


@bp.post("/email/confirm/<token>")
def email_confirm_post(token):
    if not EmptyForm().validate_on_submit():
        abort(400)
    user, error = email_change.confirm(token)
    if user is None:
        flash(error, "error")
        return redirect(url_for("feed.home"), 303)
    flash(f"Your email address is now {user.email}.", "success")
    target = "settings.index" if current_user.is_authenticated else "auth.login"
    return redirect(url_for(target), 303)


@bp.get("/export")
@login_required
def export():
    return _export_page()


def _export_page(status=200):
    row = lifecycle.latest_export(current_user)
    link = lifecycle.download_token(row) if row is not None else None
    hours = current_app.config["EXPORT_EXPIRY_SECONDS"] // 3600
    lifetime = f"{hours // 24} days" if hours >= 48 else f"{hours} hours"
    page = render_template(
        "settings/export.html", export=row, token=link, form=EmptyForm(), expires_in=lifetime
    )
    return _private(current_app.make_response((page, status)))


@bp.post("/export")
@login_required
def export_request():
    if not EmptyForm().validate_on_submit():
        abort(400)
    row, error = lifecycle.request_export(current_user._get_current_object())
    if row is None:
        flash(error, "error")
        return _export_page(429)
    flash("Your export is being prepared. We will tell you when it is ready.", "info")
    return redirect(url_for("settings.export"), 303)


@bp.get("/export/<token>")
@login_required
def export_download(token):
    row, why = lifecycle.export_for_download(current_user, token)
    if row is None:
        if why == "expired":
            abort(410, description="This download link has expired. Ask for a new export.")
        abort(404)
    response = send_file(
        storage.export_path(row.filename),
        mimetype="application/zip",
        as_attachment=True,
        download_name=f"cara-{current_user.username}-{row.created_at:%Y-%m-%d}.zip",
        conditional=False,
    )
    return _private(response)


@bp.post("/delete")
@login_required
def delete():
    form = DeleteAccountForm()
    if not form.validate_on_submit():
        return _page(422, delete_form=form)
    errors = lifecycle.delete_account(current_user._get_current_object(), form.password.data)
    if not errors:
        logout_user()
    message = "Your account is deleted. Your posts and images are being removed."
    return _outcome(form, "delete_form", errors, message, "info", to="feed.home")
