"""The admin area (admins only; everyone else gets a 404): site settings and pages,
registration and invites, the filter, roles and accounts awaiting approval."""

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_login import current_user

from cara import admin, federation
from cara.admin import evaluate
from cara.core.models import HashSubscription, Invite, Role, User, utcnow
from cara.core.policy import can_admin
from cara.federation import documents, hashfeed, instances
from cara.posting import known, screening
from cara.web.forms import (
    EmptyForm,
    EvaluateForm,
    FilterForm,
    InstanceBlockForm,
    InviteForm,
    PageForm,
    RoleForm,
    SiteForm,
    SubscriptionForm,
    add_errors,
)
from cara.web.helpers import get_or_404

bp = Blueprint("admin", __name__)


@bp.before_request
def admins_only():
    if not can_admin(current_user):
        abort(404)  # the area's existence is not advertised


def _me():
    return current_user._get_current_object()


def _site_form(**kw) -> SiteForm:
    form = SiteForm(**kw)
    form.registration.choices = list(admin.MODES.items())
    return form


def _index(status=200, site_form=None, filter_form=None):
    return render_template(
        "admin/index.html",
        site_form=site_form or _site_form(data=admin.site_values()),
        filter_form=filter_form or FilterForm(data=admin.filter_values()),
        pages=admin.PAGES,
        pending=admin.pending_count(),
    ), status


@bp.get("/")
def index():
    return _index()


def _save(form, save, done: str, failed_as: str):
    """Validate, hand the values to the domain, and go back to the settings page (422 with the
    errors beside their fields when there are some)."""
    if form.validate_on_submit():
        errors = save(_me(), form.data)
        if not errors:
            flash(done, "success")
            return redirect(url_for("admin.index"), 303)
        add_errors(form, errors)
    return _index(422, **{failed_as: form})


@bp.post("/site")
def site():
    return _save(_site_form(), admin.save_site, "Site settings saved.", "site_form")


@bp.post("/filter")
def filter_settings():
    return _save(FilterForm(), admin.save_filter, "Filter settings saved.", "filter_form")


@bp.route("/filter/evaluate", methods=["GET", "POST"])
def filter_evaluate():
    """The filter's report on a zip of labelled images (`flask filter evaluate` on the web)."""
    form, result, status = EvaluateForm(), None, 200
    if form.validate_on_submit():
        upload = form.archive.data
        if not upload or not upload.filename:
            form.archive.errors.append("Choose a zip file of labelled images.")
        else:
            try:
                result = evaluate.evaluate_zip(upload.stream, screening.classifier())
            except evaluate.EvaluateError as exc:
                form.archive.errors.append(str(exc))
        status = 200 if result is not None else 422
    elif form.is_submitted():
        status = 422
    return render_template(
        "admin/evaluate.html",
        form=form,
        result=result,
        limits=evaluate,
        classifier=screening.classifier_status(),
    ), status


@bp.route("/pages/<any(about, rules, terms, privacy, copyright):name>", methods=["GET", "POST"])
def page(name: str):
    form = PageForm(data={"source": admin.page_source(name)})
    if form.validate_on_submit():
        errors = admin.save_page(_me(), name, form.source.data or "")
        if not errors:
            flash(f"{admin.PAGES[name]} saved.", "success")
            return redirect(url_for("admin.page", name=name), 303)
        add_errors(form, errors)
    status = 422 if form.is_submitted() else 200
    return render_template("admin/page.html", form=form, name=name, title=admin.PAGES[name]), status


def _invites(status=200, form=None, created=None):
    page = admin.invites(request.args.get("after"))
    return render_template(
        "admin/invites.html",
        form=form or InviteForm(),
        page=page,
        created=created,
        link=admin.invite_link,
        action=EmptyForm(),
        now=utcnow(),
    ), status


@bp.get("/invites")
def invites():
    return _invites()


@bp.post("/invites")
def create_invite():
    form = InviteForm()
    if form.validate_on_submit():
        invite, errors = admin.create_invite(_me(), form.data)
        if invite:
            return _invites(201, created=invite)
        add_errors(form, errors)
    return _invites(422, form=form)


@bp.post("/invites/<int:invite_id>/revoke")
def revoke_invite(invite_id: int):
    if EmptyForm().validate_on_submit():
        admin.revoke_invite(_me(), get_or_404(Invite, invite_id))
        flash("Invite withdrawn.", "info")
    return redirect(url_for("admin.invites"), 303)


def _role_form() -> RoleForm:
    form = RoleForm()
    form.role.choices = [(role.value, role.value.capitalize()) for role in Role]
    return form


def _accounts(status=200, form=None):
    return render_template(
        "admin/accounts.html",
        form=form or _role_form(),
        staff=admin.staff(),
        page=admin.pending(request.args.get("after")),
        action=EmptyForm(),
    ), status


@bp.get("/accounts")
def accounts():
    return _accounts()


@bp.post("/accounts/role")
def set_role():
    form = _role_form()
    if form.validate_on_submit():
        user = admin.find_user(form.username.data)
        error = (
            admin.set_role(_me(), user, form.role.data) if user else "No account has that username."
        )
        if error is None:
            flash(f"{user.username} is now {form.role.data}.", "success")
            return redirect(url_for("admin.accounts"), 303)
        add_errors(form, {"username": [error]})
    return _accounts(422, form=form)


DECISIONS = {
    "approve": (admin.approve, "approved"),
    "reject": (admin.reject, "refused and deleted"),
}


@bp.post("/accounts/<int:user_id>/<any(approve, reject):decision>")
def decide(user_id: int, decision: str):
    user = get_or_404(User, user_id)
    if EmptyForm().validate_on_submit():
        act, done = DECISIONS[decision]
        username = user.username  # the row is gone after a rejection
        act(_me(), user)
        flash(f"{username}: {done}.", "info")
    return redirect(url_for("admin.accounts"), 303)


def _federation(status=200, form=None, limit_form=None):
    return render_template(
        "admin/federation.html",
        on=federation.enabled(),
        here=documents.domain(),
        servers=instances.known(),
        form=form or InstanceBlockForm(),
        limit_form=limit_form or InstanceBlockForm(prefix="limit"),
        action=EmptyForm(),
    ), status


@bp.get("/federation")
def federation_page():
    """Federation on or off, the servers we know and the admin's blocks (docs/admin.md)."""
    return _federation()


@bp.post("/federation")
def federation_switch():
    choice = request.form.get("on")
    if choice not in ("0", "1"):
        abort(400, "Say whether to turn federation on (1) or off (0).")
    if EmptyForm().validate_on_submit():
        on = choice == "1"
        if federation.set_enabled(on, who=_me()):
            flash("Federation is on." if on else "Federation is off.", "success")
    return redirect(url_for("admin.federation_page"), 303)


def _server(form: InstanceBlockForm) -> str | None:
    """The server a valid block or limit form names (errors added to it otherwise)."""
    if not form.validate_on_submit():
        return None
    domain = instances.parse_domain(form.domain.data)
    if domain is None:
        add_errors(form, {"domain": ["Write the server's address, such as art.example."]})
    return domain


@bp.post("/federation/blocks")
def block_instance():
    form = InstanceBlockForm()
    if (domain := _server(form)) is None:
        return _federation(422, form=form)
    removed = instances.block(domain, (form.reason.data or "").strip(), who=_me())
    flash(f"Blocked {domain}; removed {removed} of its accounts here.", "success")
    return redirect(url_for("admin.federation_page"), 303)


@bp.post("/federation/limits")
def limit_instance():
    """Limit (silence) a server: its people reach only those who follow them here."""
    form = InstanceBlockForm(prefix="limit")
    if (domain := _server(form)) is None:
        return _federation(422, limit_form=form)
    if instances.limit(domain, (form.reason.data or "").strip(), who=_me()):
        flash(f"Limited {domain}: its people reach only those who follow them here.", "success")
    return redirect(url_for("admin.federation_page"), 303)


@bp.post("/federation/<any(unblock, unlimit):action>")
def lift_instance(action: str):
    """Lift a block or a limit (the servers table's buttons)."""
    domain = instances.parse_domain(request.form.get("domain", ""))
    lift = instances.unblock if action == "unblock" else instances.unlimit
    if EmptyForm().validate_on_submit() and domain and lift(domain, who=_me()):
        flash(f"{'Unblocked' if action == 'unblock' else 'Lifted the limit on'} {domain}.", "info")
    return redirect(url_for("admin.federation_page"), 303)


def _hash_lists(status=200, form=None):
    return render_template(
        "admin/hash_lists.html",
        form=form or SubscriptionForm(),
        subscriptions=hashfeed.subscriptions(),
        counts=known.shared_counts(),
        federation_on=federation.enabled(),
        action=EmptyForm(),
    ), status


@bp.get("/hash-lists")
def hash_lists():
    """Other instances' shared AI-hash lists this one subscribes to (docs/admin.md)."""
    return _hash_lists()


@bp.post("/hash-lists")
def subscribe():
    form = SubscriptionForm()
    if form.validate_on_submit():
        if not federation.enabled():
            error = "Turn federation on first: lists are pulled over federation."
        else:
            sub, error = hashfeed.subscribe(
                form.address.data, trusted=bool(form.trusted.data), who=_me()
            )
        if error is None:
            flash(f"Subscribed to {sub.url}.", "success")
            return redirect(url_for("admin.hash_lists"), 303)
        add_errors(form, {"address": [error]})
    return _hash_lists(422, form=form)


@bp.post("/hash-lists/<int:subscription_id>/delete")
def unsubscribe(subscription_id: int):
    sub = get_or_404(HashSubscription, subscription_id)
    if EmptyForm().validate_on_submit():
        url = sub.url
        removed = hashfeed.unsubscribe(sub, who=_me())
        flash(f"Unsubscribed from {url}; {removed} hashes removed.", "info")
    return redirect(url_for("admin.hash_lists"), 303)


@bp.post("/hash-lists/<int:subscription_id>/pull")
def pull_list(subscription_id: int):
    """Pull a subscribed list now, in the request (a few pages; the worker does the rest)."""
    sub = get_or_404(HashSubscription, subscription_id)
    if EmptyForm().validate_on_submit():
        if not federation.enabled():
            flash("Turn federation on first: lists are pulled over federation.", "error")
        else:
            url = sub.url
            outcome = hashfeed.pull_now(sub)
            flash(*_pulled_message(url, outcome))
    return redirect(url_for("admin.hash_lists"), 303)


def _pulled_message(url: str, outcome: hashfeed.Pulled) -> tuple[str, str]:
    if outcome.error:
        return f"Pulling {url} failed: {outcome.error}.", "error"
    more = " More entries are waiting: the worker pulls them next." if outcome.more else ""
    return f"Pulled {url}: {outcome.added} hashes added.{more}", "success"


@bp.post("/hash-lists/<int:subscription_id>/trust")
def trust_list(subscription_id: int):
    sub = get_or_404(HashSubscription, subscription_id)
    if EmptyForm().validate_on_submit():
        trusted = request.form.get("trusted") == "1"
        hashfeed.set_trust(sub, trusted, who=_me())
        done = "trusted: matches are rejected" if trusted else "untrusted: matches are held"
        flash(f"{sub.url} is now {done}.", "info")
    return redirect(url_for("admin.hash_lists"), 303)
