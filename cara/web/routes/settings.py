"""Account settings: profile, preferences, password, sessions, export, delete."""

from flask import Blueprint, current_app, flash, jsonify, redirect, render_template, url_for
from flask_login import current_user, login_required, login_user, logout_user

from cara.accounts import auth, lifecycle, profiles
from cara.posting import drafts, processing
from cara.web.forms import (
    ChangePasswordForm,
    DeleteAccountForm,
    PrivacyForm,
    ProfileForm,
    add_errors,
)
from cara.web.helpers import read_uploads

bp = Blueprint("settings", __name__, url_prefix="/settings")


def _forms(**overrides):
    user = current_user
    forms = {
        "profile_form": ProfileForm(
            formdata=None,
            display_name=user.display_name,
            bio=user.bio,
            links="\n".join(user.links or []),
            open_to_work=user.open_to_work,
        ),
        "privacy_form": PrivacyForm(formdata=None, obj=user),
        "password_form": ChangePasswordForm(formdata=None),
        "delete_form": DeleteAccountForm(formdata=None),
    }
    forms.update(overrides)
    _choices(forms["privacy_form"])
    return forms


def _choices(form: PrivacyForm) -> None:
    form.licence.choices = [(code, label) for code, (label, _) in processing.LICENCES.items()]
    form.data_mining.choices = list(profiles.DATA_MINING_CHOICES.items())


def _page(status=200, **overrides):
    return render_template("settings/index.html", **_forms(**overrides)), status


@bp.get("")
@login_required
def index():
    return _page()


@bp.post("/profile")
@login_required
def profile():
    form = ProfileForm()
    if form.validate_on_submit():
        user = current_user._get_current_object()
        errors = profiles.update_profile(
            user,
            form.display_name.data or "",
            form.bio.data or "",
            form.links.data or "",
            form.open_to_work.data,
        )
        if not errors and (avatars := read_uploads(form.avatar.name)):
            limits = drafts.upload_limits(current_app.config)
            errors = {"avatar": e} if (e := profiles.set_avatar(user, avatars[0], limits)) else {}
        if not errors:
            flash("Profile saved.", "success")
            return redirect(url_for("settings.index"), 303)
        add_errors(form, errors)
    return _page(422, profile_form=form)


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


@bp.post("/password")
@login_required
def password():
    form = ChangePasswordForm()
    if form.validate_on_submit():
        user = current_user._get_current_object()
        errors = auth.change_password(user, form.current_password.data, form.new_password.data)
        if not errors:
            login_user(user)  # this session continues under the new generation
            flash("Your password is changed. Other sessions are logged out.", "success")
            return redirect(url_for("settings.index"), 303)
        add_errors(form, errors)
    return _page(422, password_form=form)


@bp.get("/export")
@login_required
def export():
    response = jsonify(lifecycle.export(current_user))
    response.headers["Content-Disposition"] = (
        f"attachment; filename=cara-{current_user.username}.json"
    )
    return response


@bp.post("/delete")
@login_required
def delete():
    form = DeleteAccountForm()
    if form.validate_on_submit():
        user = current_user._get_current_object()
        if user.check_password(form.password.data):
            logout_user()
            lifecycle.delete(user)
            flash("Your account and all your posts are deleted.", "info")
            return redirect(url_for("feed.home"), 303)
        add_errors(form, {"password": ["That is not your password."]})
    return _page(422, delete_form=form)
