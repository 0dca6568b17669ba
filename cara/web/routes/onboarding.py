"""The welcome after sign-up: /welcome (set up your profile), /welcome/artists (follow a few
artists), then the Following feed. Every step can be skipped; finishing or skipping ends it."""

from flask import Blueprint, abort, redirect, render_template, request, session, url_for
from flask_login import current_user, login_required

from cara.accounts import onboarding
from cara.core.policy import can_follow, can_view
from cara.social import actions
from cara.web.forms import EmptyForm, ProfileForm, add_errors
from cara.web.helpers import user_or_404
from cara.web.htmx import render, wants_fragment
from cara.web.limits import limited
from cara.web.routes.settings import profile_form, save_profile

bp = Blueprint("onboarding", __name__, url_prefix="/welcome")
# Who was followed from the list: kept on it (no JavaScript reloads the page after each one).
FOLLOWED = "welcome_followed"


def _me():
    return current_user._get_current_object()


def _profile_page(form: ProfileForm, status: int = 200):
    return render_template("onboarding/profile.html", form=form), status


@bp.get("")
@login_required
def profile():
    if not onboarding.pending(current_user):
        return redirect(url_for("feed.home"), 303)
    return _profile_page(profile_form(current_user))


@bp.post("")
@login_required
def save():
    form = ProfileForm()
    if form.validate_on_submit():
        errors = save_profile(form)
        if not errors:
            return redirect(url_for("onboarding.artists"), 303)
        add_errors(form, errors)
    return _profile_page(form, 422)


@bp.get("/artists")
@login_required
def artists():
    if not onboarding.pending(current_user):
        return redirect(url_for("feed.home"), 303)
    keep = session.get(FOLLOWED, [])
    return render_template(
        "onboarding/artists.html",
        suggestions=onboarding.suggestions(_me(), keep),
        form=EmptyForm(),
    )


def _follow_action(username: str, action, check=None):
    user = user_or_404(username, can_view)
    if user.id == current_user.id:
        abort(400, "You cannot follow yourself.")
    if check is not None and not check(current_user, user):
        abort(403, "You cannot follow this account.")
    action(_me(), user)
    session[FOLLOWED] = [*session.get(FOLLOWED, []), user.id][-onboarding.SUGGESTIONS :]
    target = f"suggest-{user.username}"
    if wants_fragment(target):
        return render(
            "onboarding/_suggestion.html",
            {target: "suggestion"},
            s=onboarding.suggestion(_me(), user),
        )
    return redirect(url_for("onboarding.artists") + f"#{target}", 303)


@bp.post("/artists/<username>/follow")
@login_required
@limited("follow")
def follow(username: str):
    return _follow_action(username, actions.follow, can_follow)


@bp.post("/artists/<username>/unfollow")
@login_required
def unfollow(username: str):
    return _follow_action(username, actions.unfollow)


@bp.post("/finish")
@login_required
def finish():
    """Done (to the Following feed) or Skip (to Latest): the welcome is over either way."""
    if not EmptyForm().validate_on_submit():
        abort(400, "The form expired: reload the page and try again.")
    onboarding.finish(_me())
    session.pop(FOLLOWED, None)
    done = request.form.get("choice") == "done"
    return redirect(url_for("feed.following" if done else "feed.latest"), 303)
