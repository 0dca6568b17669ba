"""Other servers as a whole: the admin's blocks (defederation) and limits (silencing), and
what we know of each."""

import re
from dataclasses import dataclass
from datetime import datetime
from urllib.parse import urlsplit

from sqlalchemy import delete, func, select

from cara import moderation
from cara.core.extensions import db
from cara.core.models import Instance, RemoteActor, User, utcnow
from cara.federation import media, reactions, replies

HOST = re.compile(r"[a-z0-9]([a-z0-9-]*[a-z0-9])?(\.[a-z0-9]([a-z0-9-]*[a-z0-9])?)*")
REASON_MAX = 500


def domain_of(url: str) -> str:
    return urlsplit(url).netloc.lower()


def blocked_domains() -> set[str]:
    return set(db.session.scalars(select(Instance.domain).where(Instance.blocked.is_(True))))


def is_blocked(url: str) -> bool:
    row = db.session.get(Instance, domain_of(url))
    return row is not None and row.blocked


def is_limited(domain: str) -> bool:
    """The admin limited the server: its people reach only those who follow them here."""
    row = db.session.get(Instance, domain.lower())
    return row is not None and row.limited


def parse_domain(text: str) -> str | None:
    """The server (`host[:port]`, lower case) an admin's input names: a bare host, host:port,
    or an address such as https://host/@someone; None when it names no server."""
    text = text.strip().lower()
    if not text or any(c.isspace() for c in text):
        return None
    try:
        parts = urlsplit(text if "://" in text else "//" + text)
        port = parts.port
    except ValueError:
        return None
    if parts.scheme not in ("", "http", "https") or parts.username or parts.password:
        return None
    if not HOST.fullmatch(parts.hostname or ""):
        return None
    return parts.hostname + (f":{port}" if port else "")


def block(domain: str, reason: str = "", who: User | None = None) -> int:
    """Block a server: nothing is fetched from, accepted from or delivered to it again, and
    its actors (with their follows and posts) are removed here. Audited (who None: the command
    line). Returns how many actors were removed."""
    domain = domain.strip().lower()
    row = db.session.get(Instance, domain) or Instance(domain=domain, failures=0)
    row.blocked, row.block_reason = True, reason
    db.session.add(row)
    ids = db.session.scalars(select(RemoteActor.id).where(RemoteActor.domain == domain)).all()
    media.remove_actors(ids)
    replies.forget_actors(ids)
    reactions.forget_actors(ids)
    removed = db.session.execute(delete(RemoteActor).where(RemoteActor.domain == domain))
    detail = f"{domain}: {reason}" if reason else domain
    moderation.audit(who, "block-instance", "instance", 0, detail)
    db.session.commit()
    return removed.rowcount


def unblock(domain: str, who: User | None = None) -> bool:
    """Lift a block (the accounts and follows it removed are not restored). Audited."""
    return _lift(domain, "blocked", "unblock-instance", who)


def limit(domain: str, reason: str = "", who: User | None = None) -> bool:
    """Limit (silence) a server, as Mastodon does: its people's posts and replies reach only
    those who follow them here (notifications, feeds), their Follows wait for an answer, and
    their profiles say so (policy.remote_limited). Nothing is removed. Audited; False if it
    was limited already."""
    domain = domain.strip().lower()
    row = db.session.get(Instance, domain) or Instance(domain=domain, failures=0)
    if row.limited:
        return False
    row.limited, row.limit_reason = True, reason
    db.session.add(row)
    moderation.audit(
        who, "limit-instance", "instance", 0, f"{domain}: {reason}" if reason else domain
    )
    db.session.commit()
    return True


def unlimit(domain: str, who: User | None = None) -> bool:
    """Lift a limit. Audited."""
    return _lift(domain, "limited", "unlimit-instance", who)


def _lift(domain: str, flag: str, action: str, who: User | None) -> bool:
    row = db.session.get(Instance, domain.strip().lower())
    if row is None or not getattr(row, flag):
        return False
    setattr(row, flag, False)
    moderation.audit(who, action, "instance", 0, row.domain)
    db.session.commit()
    return True


@dataclass(frozen=True)
class Known:
    """A server as the admin page lists it."""

    domain: str
    actors: int
    failures: int
    unreachable_until: datetime | None
    blocked: bool
    reason: str
    limited: bool = False
    limit_reason: str = ""

    @property
    def unreachable(self) -> bool:
        """Deliveries to it wait (it kept failing) until `unreachable_until`."""
        return self.unreachable_until is not None and self.unreachable_until > utcnow()


def known() -> list[Known]:
    """Every server we know: those with actors stored here and those with a delivery record
    or a block; blocked first, then by how many of their people we know."""
    counts = dict(
        db.session.execute(
            select(RemoteActor.domain, func.count()).group_by(RemoteActor.domain)
        ).all()
    )
    rows = {r.domain: r for r in db.session.scalars(select(Instance))}
    servers = [
        Known(
            domain=domain,
            actors=counts.get(domain, 0),
            failures=rows[domain].failures if domain in rows else 0,
            unreachable_until=rows[domain].unreachable_until if domain in rows else None,
            blocked=domain in rows and rows[domain].blocked,
            reason=rows[domain].block_reason if domain in rows else "",
            limited=domain in rows and rows[domain].limited,
            limit_reason=rows[domain].limit_reason if domain in rows else "",
        )
        for domain in set(counts) | set(rows)
    ]
    return sorted(servers, key=lambda k: (not k.blocked, -k.actors, k.domain))
