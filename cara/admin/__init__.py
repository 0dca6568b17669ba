"""The admin area: site settings and pages, registration and invites, the filter's threshold
and crawler list, roles, accounts awaiting approval. Plain functions; every change is audited
(cara.moderation.audit), so the moderation log shows who changed what."""

import os
import secrets
import string
from datetime import timedelta
from pathlib import Path

import nh3
from flask import current_app
from markdown_it import MarkdownIt
from sqlalchemy import func, select

from cara import moderation, optout
from cara.accounts import auth, lifecycle
from cara.core import pagination, settings, text
from cara.core.extensions import db
from cara.core.models import Invite, Role, User, utcnow
from cara.core.settings import Registration

PAGES = {
    "about": "About",
    "rules": "Rules",
    "terms": "Terms of service",
    "privacy": "Privacy policy",
    "copyright": "Copyright and takedown",
}
DEFAULT_PAGES = Path(__file__).parent / "pages"
PAGE_MAX = 50_000  # characters of Markdown
SITE_NAME_MAX, DESCRIPTION_MAX = 60, 300
INVITE_DAYS_MAX, INVITE_USES_MAX = 365, 1000
CRAWLERS_MAX = 500  # lines of the instance's extra list
PAGE_SIZE = 50
MODES = {
    Registration.OPEN: "Open: anyone may sign up",
    Registration.APPROVAL: "Approval required: new accounts wait for an admin",
    Registration.INVITE: "Invite only: sign-up through an invite link",
    Registration.CLOSED: "Closed: no one may sign up",
}

# Raw HTML in the source is shown as text (html=False); nh3 then keeps only these tags, with
# no attributes but links' (so no on*, style or hx-* can reach the page) and safe URL schemes.
_markdown = MarkdownIt("commonmark", {"html": False}).enable("table")
_TAGS = {"a", "blockquote", "br", "code", "em", "h1", "h2", "h3", "h4", "h5", "h6", "hr", "li"}
_TAGS |= {"ol", "p", "pre", "strong", "table", "tbody", "td", "th", "thead", "tr", "ul"}


def render_markdown(source: str) -> str:
    """Markdown to HTML that is safe to show as it is."""
    return nh3.clean(
        _markdown.render(source),
        tags=_TAGS,
        attributes={"a": {"href", "title"}},
        url_schemes={"http", "https", "mailto"},
        link_rel="nofollow noopener",
    )


def contact() -> str:
    return settings.get("contact_email") or current_app.config["MAIL_FROM"]


def page_source(name: str) -> str:
    """The page's Markdown: the admin's text, else the shipped default."""
    stored = settings.get(f"page_{name}")
    return stored if stored is not None else (DEFAULT_PAGES / f"{name}.md").read_text("utf-8")


def page_html(name: str) -> str:
    """The page rendered; $site_name, $site_description and $contact are filled in."""
    filled = string.Template(page_source(name)).safe_substitute(
        site_name=settings.get("site_name"),
        site_description=settings.get("site_description"),
        contact=contact(),
    )
    return render_markdown(filled)


def _changes(old: dict, new: dict) -> str:
    return "; ".join(f"{k}: {old[k]!r} -> {v!r}" for k, v in new.items() if old[k] != v)


def _apply(admin: User, action: str, kind: str, values: dict) -> None:
    """Store changed settings with one audit entry naming every change."""
    old = {name: settings.get(name) for name in values}
    changed = _changes(old, values)
    if not changed:
        return
    settings.save(values)
    moderation.audit(admin, action, kind, 0, changed)
    db.session.commit()


def site_values() -> dict:
    names = ("site_name", "site_description", "contact_email", "registration")
    return {name: settings.get(name) for name in names}


def save_site(admin: User, form: dict) -> dict:
    """Site name, description, contact address and registration mode. Errors by field."""
    values = {
        "site_name": (form.get("site_name") or "").strip(),
        "site_description": (form.get("site_description") or "").strip(),
        "contact_email": auth.normalize_email(form.get("contact_email") or ""),
        "registration": form.get("registration") or "",
    }
    errors = {}
    if not 1 <= len(values["site_name"]) <= SITE_NAME_MAX:
        errors["site_name"] = [f"Use 1 to {SITE_NAME_MAX} characters."]
    if len(values["site_description"]) > DESCRIPTION_MAX:
        errors["site_description"] = [f"Use at most {DESCRIPTION_MAX} characters."]
    if values["contact_email"] and auth.email_errors(values["contact_email"]):
        errors["contact_email"] = auth.email_errors(values["contact_email"])
    if values["registration"] not in MODES:
        errors["registration"] = ["Choose one of the registration modes."]
    if not errors:
        _apply(admin, "site-settings", "setting", values)
    return errors


def save_page(admin: User, name: str, source: str) -> dict:
    """The page's new Markdown; an empty text brings the shipped default back."""
    source = source.replace("\r\n", "\n").strip()
    if len(source) > PAGE_MAX:
        return {"source": [f"Use at most {PAGE_MAX:,} characters."]}
    stored = settings.get(f"page_{name}")
    if (source or None) != stored:
        settings.save({f"page_{name}": source or None})
        moderation.audit(
            admin,
            "edit-page",
            "page",
            0,
            f"{name}: " + ("edited" if source else "reset to the default"),
        )
        db.session.commit()
    return {}


# --- the filter: hold threshold and the instance's extra AI-crawler list -------------------


def crawler_file() -> Path:
    return Path(current_app.instance_path) / optout.INSTANCE_LIST


def crawler_text() -> str:
    try:
        return crawler_file().read_text("utf-8")
    except FileNotFoundError:
        return ""


def filter_values() -> dict:
    hold = settings.hold_threshold()
    return {"hold_threshold": "" if hold is None else str(hold), "crawlers": crawler_text()}


def _threshold(raw: str) -> float | None:
    """The hold threshold from the form; ValueError when it is not a number in (0, 1]."""
    if not raw.strip():
        return None
    value = float(raw)
    if not 0.0 < value <= 1.0:  # also refuses nan
        raise ValueError(raw)
    return value


def save_filter(admin: User, form: dict) -> dict:
    """The classifier's hold threshold (empty: the model's own) and the extra crawler list
    (one user-agent token a line, # comments), written to instance/ai-crawlers.txt."""
    errors = {}
    try:
        hold = _threshold(form.get("hold_threshold") or "")
    except ValueError:
        errors["hold_threshold"] = ["Enter a number above 0 and at most 1, e.g. 0.9, or nothing."]
    lines = (form.get("crawlers") or "").replace("\r\n", "\n").strip().splitlines()
    tokens = [line.split("#", 1)[0].strip() for line in lines]
    bad = [t for t in tokens if t and not optout.TOKEN_RE.fullmatch(t)]
    if bad:
        errors["crawlers"] = [
            "Not user-agent tokens (letters, digits, _ . -): " + ", ".join(bad[:5])
        ]
    elif len(lines) > CRAWLERS_MAX:
        errors["crawlers"] = [f"Use at most {CRAWLERS_MAX} lines."]
    if errors:
        return errors
    _apply(admin, "filter-settings", "setting", {"hold_threshold": hold})
    listing = "\n".join(lines) + "\n" if lines else ""
    if listing != crawler_text():
        _write_atomically(crawler_file(), listing)
        added = sum(1 for t in tokens if t)
        moderation.audit(admin, "crawler-list", "setting", 0, f"{added} extra crawler tokens")
        db.session.commit()
    return {}


def _write_atomically(path: Path, content: str) -> None:
    """Readers (every request's crawler check) see the old file or the new, never half."""
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_suffix(".tmp")
    partial.write_text(content, "utf-8")
    os.replace(partial, path)


# --- invites ----------------------------------------------------------------------------------


def invite_link(invite: Invite) -> str:
    return text.site_url(f"/signup?invite={invite.code}")


def create_invite(admin: User, form: dict) -> tuple[Invite | None, dict]:
    """A new invite link valid for `days` days and `max_uses` sign-ups."""
    errors, numbers = {}, {}
    limits = {"days": INVITE_DAYS_MAX, "max_uses": INVITE_USES_MAX}
    for field, limit in limits.items():
        raw = str(form.get(field) or "").strip()
        if not (raw.isdigit() and 1 <= int(raw) <= limit):
            errors[field] = [f"Enter a whole number from 1 to {limit}."]
        else:
            numbers[field] = int(raw)
    if errors:
        return None, errors
    invite = Invite(
        code=secrets.token_urlsafe(16),
        created_by_id=admin.id,
        max_uses=numbers["max_uses"],
        expires_at=utcnow() + timedelta(days=numbers["days"]),
    )
    db.session.add(invite)
    db.session.flush()
    reason = f"{numbers['max_uses']} uses, {numbers['days']} days"
    moderation.audit(admin, "create-invite", "invite", invite.id, reason)
    db.session.commit()
    return invite, {}


def revoke_invite(admin: User, invite: Invite) -> None:
    if not invite.revoked:
        invite.revoked = True
        moderation.audit(admin, "revoke-invite", "invite", invite.id, "")
        db.session.commit()


def invites(cursor: str | None = None) -> pagination.Page:
    """Invites, newest first."""
    key = pagination.decode_key(cursor, int)
    return pagination.keyset(select(Invite), (Invite.id,), key, PAGE_SIZE)


# --- accounts: roles and approval ---------------------------------------------------------


def staff() -> list[User]:
    """Admins and moderators, by username."""
    stmt = select(User).where(User.role != Role.MEMBER).order_by(User.username)
    return list(db.session.scalars(stmt))


def find_user(username: str) -> User | None:
    return db.session.scalar(select(User).where(User.username == username.strip().lower()))


def set_role(admin: User, user: User, role: str) -> str | None:
    """Make `user` a member, moderator or admin; the error message, or None when done.
    The last admin cannot step down (the instance would have no one to run it)."""
    try:
        role = Role(role)
    except ValueError:
        return "Choose member, moderator or admin."
    if role == user.role:
        return None
    if user.role == Role.ADMIN:
        # Locks the admins' rows on Postgres, so two admins demoting each other at once
        # cannot both succeed.
        admins = db.session.scalars(
            select(User.id).where(User.role == Role.ADMIN).with_for_update()
        )
        if len(admins.all()) <= 1:
            return "This is the last admin: make someone else an admin first."
    old = user.role
    user.role = role
    moderation.audit(admin, "set-role", "user", user.id, f"{user.username}: {old} -> {role}")
    db.session.commit()
    return None


def pending(cursor: str | None = None) -> pagination.Page:
    """Accounts waiting for approval, oldest first."""
    key = pagination.decode_key(cursor, int)
    stmt = select(User).where(User.approved.is_(False), User.deleted_at.is_(None))
    return pagination.keyset(stmt, (User.id,), key, PAGE_SIZE, ascending=True)


def pending_count() -> int:
    stmt = (
        select(func.count())
        .select_from(User)
        .where(User.approved.is_(False), User.deleted_at.is_(None))
    )
    return db.session.scalar(stmt) or 0


def approve(admin: User, user: User) -> None:
    """Let a waiting account post and interact, and tell its owner."""
    if user.approved:
        return
    user.approved = True
    moderation.audit(admin, "approve-account", "user", user.id, user.username)
    db.session.commit()
    site = settings.get("site_name")
    auth.mail_quietly(
        user.email,
        f"Your {site} account is approved",
        f"Hello {user.name},\n\nAn admin approved your account: welcome to {site}!\n"
        f"{text.site_url('/login')}\n",
    )


def reject(admin: User, user: User) -> None:
    """Refuse a waiting account: it is deleted (it could not post, so nothing else is lost)."""
    if user.approved:
        return
    moderation.audit(admin, "reject-account", "user", user.id, user.username)
    lifecycle.remove(user)  # commits the audit entry too
