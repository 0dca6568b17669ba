"""Sign up, log in (password, then a two-factor code when on), log out, password reset."""

import time

from flask import (
    Blueprint,
    current_app,
    flash,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from flask_login import current_user, login_required, logout_user

from cara.accounts import auth, sessions, twofactor
from cara.core.extensions import limiter
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


@bp.route("/signup", methods=["GET", "POST"])
@limiter.limit(lambda: current_app.config["SIGNUP_RATE_LIMIT"], methods=["POST"])
def signup():
    if current_user.is_authenticated:
        return redirect(url_for("feed.home"))
    form = SignupForm()
    if form.validate_on_submit():
        user, errors = auth.register(form.username.data, form.email.data, form.password.data)
        if user:
            sign_in(user)
            flash(f"Welcome to cara, {user.username}!", "success")
            return redirect(url_for("feed.home"), 303)
        add_errors(form, errors)
    status = 422 if form.is_submitted() else 200
    return render_template("auth/signup.html", form=form), status


# What the login keeps in the (signed) session between the password and the code.
PENDING = "pending_login"
DEVICE_COOKIE_AGE = 365 * 24 * 3600


def _logged_in(user, remember: bool, next_url: str | None):
    """Start the session, mark this browser as one the account uses, go where asked."""
    sign_in(user, remember=remember)
    target = safe_next(next_url) or url_for("feed.home")
    response = redirect(target, 303)
    device = auth.remember_device(request.cookies.get(auth.DEVICE_COOKIE), user)
    response.set_cookie(
        auth.DEVICE_COOKIE,
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
            device=request.cookies.get(auth.DEVICE_COOKIE),
        )
        user, next_url = attempt.user, request.args.get("next")
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
