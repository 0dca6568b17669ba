"""The jobs board: openings posted by artists and studios, browsed with filters."""

from urllib.parse import urlsplit

from sqlalchemy import select

from cara.core import pagination, policy
from cara.core.extensions import db
from cara.core.models import Job, User
from cara.social import feeds

KINDS = {"full-time": "Full-time", "freelance": "Freelance", "commission": "Commission"}
PAGE_SIZE = 24
LIMITS = {"title": 120, "studio": 120, "location": 120, "description": 5000, "apply_url": 500}


def clean(values: dict) -> tuple[dict, dict[str, list[str]]]:
    """Form values -> (fields for a Job, errors by field)."""
    data = {name: (values.get(name) or "").strip() for name in LIMITS}
    data["kind"] = values.get("kind") or ""
    data["remote"] = bool(values.get("remote"))
    errors: dict[str, list[str]] = {}
    for name, limit in LIMITS.items():
        if len(data[name]) > limit:
            errors[name] = [f"Use at most {limit:,} characters."]
    if not data["title"]:
        errors["title"] = ["Give the opening a title."]
    if data["kind"] not in KINDS:
        errors["kind"] = ["Choose full-time, freelance or commission."]
    if not data["location"] and not data["remote"]:
        errors["location"] = ["Say where the work is, or that it is remote."]
    url = urlsplit(data["apply_url"])
    if (
        url.scheme not in ("http", "https")
        or not url.netloc
        or any(c.isspace() for c in url.netloc)
    ):
        errors.setdefault("apply_url", []).append(
            "Give a web address starting with https:// where people can apply."
        )
    return data, errors


def create(owner: User, values: dict) -> tuple[Job | None, dict]:
    data, errors = clean(values)
    if errors:
        return None, errors
    job = Job(owner_id=owner.id, **data)
    db.session.add(job)
    db.session.commit()
    return job, {}


def update(job: Job, values: dict) -> dict:
    data, errors = clean(values)
    if errors:
        return errors
    for name, value in data.items():
        setattr(job, name, value)
    db.session.commit()
    return {}


def set_closed(job: Job, closed: bool) -> None:
    job.closed = closed
    db.session.commit()


def listing(
    viewer,
    kind: str | None = None,
    remote: bool = False,
    mine: bool = False,
    before: str | None = None,
    limit: int = PAGE_SIZE,
) -> feeds.Page:
    """Open jobs, newest first, filtered (`mine`: the viewer's own, closed ones too)."""
    viewer = policy.signed_in(viewer)
    stmt = select(Job).where(policy.present(Job.owner_id))
    if mine and viewer is not None:
        stmt = stmt.where(Job.owner_id == viewer.id)
    else:
        stmt = stmt.where(Job.closed.is_(False), *policy.visible_jobs(viewer))
    if kind in KINDS:
        stmt = stmt.where(Job.kind == kind)
    if remote:
        stmt = stmt.where(Job.remote.is_(True))
    columns = (Job.created_at, Job.id)
    return pagination.keyset(stmt, columns, pagination.time_key(before), limit)


def owners(jobs: list[Job]) -> dict[int, User]:
    """The posters of a page of jobs, in one query."""
    ids = {j.owner_id for j in jobs}
    if not ids:
        return {}
    return {u.id: u for u in db.session.scalars(select(User).where(User.id.in_(ids)))}
