"""Sign up, log in (password, then a two-factor code when on), log out, password reset."""

import time

from flask import (
    Blueprint,
    abort,
    current_app,
    flash,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from flask_login import current_user, login_required, logout_user

from cara import moderation
from cara.accounts import auth, onboarding, sessions, twofactor
from cara.core.extensions import limiter
from cara.core.policy import can_act
from cara.web.forms import (
    CodeForm,
    LoginForm,
    ResetPasswordForm,
    ResetRequestForm,
    SignupForm,
    add_errors,
)
from cara.web.helpers import safe_next, sign_in

bp = Blueprint("auth", __name__)


# Thanks to this answer for every accepted sign-up, new address or taken (no one learns who has
# an account), sign-up does not log in: the confirmation link, or logging in, comes next.
SIGNUP_ANSWER = (
    "Thanks! Check your inbox: we sent a link to confirm your email address. "
    "You can log in meanwhile, and post once it is confirmed."
)


@bp.route("/signup", methods=["GET", "POST"])
@limiter.limit(lambda: current_app.config["SIGNUP_RATE_LIMIT"], methods=["POST"])
def signup():
    if current_user.is_authenticated:
        return redirect(url_for("feed.home"))
    form = SignupForm(invite=request.args.get("invite", ""))
    refusal = auth.signup_refusal(form.invite.data)
    if refusal:
        status = 403 if form.is_submitted() else 200
        return render_template("auth/signup.html", form=form, refusal=refusal), status
    if form.validate_on_submit():
        try:
            errors = auth.sign_up(
                form.username.data, form.email.data, form.password.data, form.invite.data
            )
        except auth.SignupRefused as refused:
            return render_template("auth/signup.html", form=form, refusal=str(refused)), 403
        if not errors:
            flash(SIGNUP_ANSWER, "success")
            return redirect(url_for("auth.login"), 303)
        add_errors(form, errors)
    status = 422 if form.is_submitted() else 200
    return render_template("auth/signup.html", form=form, refusal=None), status


@bp.get("/verify/<token>")
def verify_email(token: str):
    user = auth.verify_email(token)
    if user is None:
        flash("That confirmation link is invalid or has expired. Log in to get a new one.", "error")
    else:
        flash("Your email address is confirmed.", "success")
    if not current_user.is_authenticated:
        return redirect(url_for("auth.login"), 303)
    return redirect(_landing(current_user), 303)


def _landing(user) -> str:
    """Where logging in (or confirming the address) leads: the welcome, until it is over."""
    return url_for("onboarding.profile") if onboarding.pending(user) else url_for("feed.home")


@bp.post("/verify/resend")
@login_required
@limiter.limit(lambda: current_app.config["SIGNUP_RATE_LIMIT"])
def resend_verification():
    auth.send_verification(current_user)
    flash(f"We sent a new confirmation link to {current_user.email}.", "info")
    return redirect(safe_next(request.form.get("next")) or url_for("feed.home"), 303)


# What an account that is still waiting (address not confirmed, or not yet approved) may
# change: its own session and account. Everything else that writes is refused.
WAITING_MAY_POST = frozenset({"auth", "settings"})


@bp.before_app_request
def waiting_accounts_only_manage_themselves():
    if request.method in ("GET", "HEAD", "OPTIONS") or not current_user.is_authenticated:
        return
    if request.blueprint in WAITING_MAY_POST or can_act(current_user):
        return
    if not current_user.email_verified:
        abort(403, "Confirm your email address first: use the link we mailed you.")
    abort(403, "Your account is waiting for an admin's approval.")


# What the login keeps in the (signed) session between the password and the code.
PENDING = "pending_login"
DEVICE_COOKIE_AGE = 365 * 24 * 3600


def _logged_in(user, remember: bool, next_url: str | None):
    """Start the session, mark this browser as one the account uses, go where asked."""
    sign_in(user, remember=remember)
    target = safe_next(next_url) or _landing(user)
    response = redirect(target, 303)
    device = auth.remember_device(
        request.cookies.get(current_app.config["DEVICE_COOKIE_NAME"]), user
    )
    response.set_cookie(
        current_app.config["DEVICE_COOKIE_NAME"],
        device,
        max_age=DEVICE_COOKIE_AGE,
        httponly=True,
        samesite="Lax",
        secure=current_app.config["SESSION_COOKIE_SECURE"],
    )
    return response


@bp.route("/login", methods=["GET", "POST"])
def login():
    # Throttled inside auth.check_login: failed attempts per account and per IP.
    if current_user.is_authenticated:
        return redirect(url_for("feed.home"))
    form = LoginForm()
    status = 422 if form.is_submitted() else 200
    if form.validate_on_submit():
        attempt = auth.check_login(
            form.login.data,
            form.password.data,
            ip=request.remote_addr or "",
            device=request.cookies.get(current_app.config["DEVICE_COOKIE_NAME"]),
        )
        user, next_url = attempt.user, request.args.get("next")
        if user and user.is_suspended:  # said only to whoever knows the password
            form.form_errors.append(moderation.suspension_notice(user))
            return render_template("auth/login.html", form=form), 403
        if user and twofactor.enabled(user):
            session[PENDING] = {
                "user_id": user.id,
                "at": time.time(),
                "remember": form.remember.data,
                "next": safe_next(next_url),
            }
            return redirect(url_for("auth.login_code"), 303)
        if user:
            return _logged_in(user, form.remember.data, next_url)
        form.form_errors.append(attempt.error)
        status = 429 if attempt.limited else 422
    return render_template("auth/login.html", form=form), status


@bp.route("/login/code", methods=["GET", "POST"])
@limiter.limit(lambda: current_app.config["LOGIN_RATE_LIMIT"], methods=["POST"])
def login_code():
    """The second step: a code from the authenticator app, or a recovery code."""
    state = session.get(PENDING)
    user = twofactor.pending_login(state)
    if user is None:
        session.pop(PENDING, None)
        flash("Please log in again: that step expired.", "info")
        return redirect(url_for("auth.login"), 303)
    form = CodeForm()
    status = 422 if form.is_submitted() else 200
    if form.validate_on_submit():
        error = twofactor.check_code(user, form.code.data)
        if not error:
            session.pop(PENDING)
            return _logged_in(user, bool(state.get("remember")), state.get("next"))
        form.code.errors = [error]
        status = 429 if error == twofactor.LIMITED else 422
    return render_template("auth/login_code.html", form=form), status


@bp.post("/logout")
@login_required
def logout():
    sessions.end(current_user.session_id)
    logout_user()
    flash("You are logged out.", "info")
    return redirect(url_for("feed.home"), 303)


@bp.post("/logout/everywhere")
@login_required
def logout_everywhere():
    auth.revoke_sessions(current_user)
    logout_user()
    flash("You are logged out on every device.", "info")
    return redirect(url_for("auth.login"), 303)


@bp.route("/password/reset", methods=["GET", "POST"])
@limiter.limit(lambda: current_app.config["SIGNUP_RATE_LIMIT"], methods=["POST"])
def request_reset():
    form = ResetRequestForm()
    if form.validate_on_submit():
        auth.send_reset_email(form.email.data)
        # The same answer whether or not the address has an account.
        flash("If an account uses that address, a reset link is on its way.", "info")
        return redirect(url_for("auth.login"), 303)
    status = 422 if form.is_submitted() else 200
    return render_template("auth/reset_request.html", form=form), status


@bp.route("/password/reset/<token>", methods=["GET", "POST"])
def reset_password(token: str):
    user = auth.user_for_reset_token(token)
    if user is None:
        flash("That reset link is invalid or has expired. Ask for a new one.", "error")
        return redirect(url_for("auth.request_reset"), 303)
    form = ResetPasswordForm()
    if form.validate_on_submit():
        errors = auth.reset_password(user, form.password.data)
        if not errors:
            flash("Your password is changed. Log in with it now.", "success")
            return redirect(url_for("auth.login"), 303)
        add_errors(form, errors)
    status = 422 if form.is_submitted() else 200
    return render_template("auth/reset_password.html", form=form, token=token), status
