"""Other servers as a whole: the admin's blocks (defederation)."""

from urllib.parse import urlsplit

from sqlalchemy import delete, select

from cara.core.extensions import db
from cara.core.models import Instance, RemoteActor
from cara.federation import media, reactions, replies


def domain_of(url: str) -> str:
    return urlsplit(url).netloc.lower()


def blocked_domains() -> set[str]:
    return set(db.session.scalars(select(Instance.domain).where(Instance.blocked.is_(True))))


def is_blocked(url: str) -> bool:
    row = db.session.get(Instance, domain_of(url))
    return row is not None and row.blocked


def block(domain: str, reason: str = "") -> int:
    """Block a server: nothing is fetched from, accepted from or delivered to it again, and
    its actors (with their follows and posts) are removed here. Returns how many actors."""
    domain = domain.strip().lower()
    row = db.session.get(Instance, domain) or Instance(domain=domain, failures=0)
    row.blocked, row.block_reason = True, reason
    db.session.add(row)
    ids = db.session.scalars(select(RemoteActor.id).where(RemoteActor.domain == domain)).all()
    media.remove_actors(ids)
    replies.forget_actors(ids)
    reactions.forget_actors(ids)
    removed = db.session.execute(delete(RemoteActor).where(RemoteActor.domain == domain))
    db.session.commit()
    return removed.rowcount


def unblock(domain: str) -> bool:
    row = db.session.get(Instance, domain.strip().lower())
    if row is None or not row.blocked:
        return False
    row.blocked = False
    db.session.commit()
    return True
