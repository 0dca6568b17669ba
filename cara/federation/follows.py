"""Follows across servers: remote people following local artists (a private account approves
them), and local people following remote actors found by their @name@server."""

from sqlalchemy import delete, select

from cara.core.extensions import db
from cara.core.models import RemoteActor, RemoteBlock, RemoteFollow, User
from cara.core.policy import can_act, remote_blocked
from cara.federation import actors, delivery, documents, fetch, instances
from cara.social import notify


def _text(value) -> str:
    """A string field of a remote document, or "" when it is anything else."""
    return value if isinstance(value, str) else ""


def _follow_doc(follow: RemoteFollow, user: User) -> dict:
    return documents.activity(
        "Follow", documents.actor_url(user), follow.actor.uri, follow.activity_uri
    )


def _inbound_doc(actor: RemoteActor, activity_uri: str, user: User) -> dict:
    return {
        "id": activity_uri,
        "type": "Follow",
        "actor": actor.uri,
        "object": documents.actor_url(user),
    }


def _answer(follow: RemoteFollow, user: User, kind: str) -> None:
    _send_answer(follow.actor, follow.activity_uri, user, kind)


def _send_answer(actor: RemoteActor, activity_uri: str, user: User, kind: str) -> None:
    """Send Accept or Reject of an inbound Follow to its actor."""
    doc = documents.activity(
        kind,
        documents.actor_url(user),
        _inbound_doc(actor, activity_uri, user),
        f"{activity_uri}#{kind.lower()}-{documents.actor_url(user)}",
    )
    delivery.send(user, [actor.inbox], doc)


# --- inbound -----------------------------------------------------------------------------------


def received_follow(actor: RemoteActor, user: User, activity_uri: str) -> RemoteFollow | None:
    """A remote Follow of `user`: accepted at once, or pending for a private account (or from
    a limited server); refused
    (Reject sent, nothing kept) when `user` blocks the actor. A new one tells `user` (a follow,
    or a follow request)."""
    if remote_blocked(user.id, actor.id):
        _send_answer(actor, activity_uri[:500], user, "Reject")
        return None
    follow = db.session.scalar(
        select(RemoteFollow).filter_by(user_id=user.id, actor_id=actor.id, inbound=True)
    )
    new = follow is None
    if new:
        follow = RemoteFollow(user_id=user.id, actor_id=actor.id, inbound=True, pending=True)
        db.session.add(follow)
    follow.activity_uri = activity_uri[:500]
    follow.actor = actor
    if follow.pending and not user.is_private and not instances.is_limited(actor.domain):
        follow.pending = False  # a limited server's people wait for an answer, as if private
    if new:
        kind = "follow_request" if follow.pending else "follow"
        notify.notify(user.id, kind, remote_actor_id=actor.id)
    db.session.commit()
    if not follow.pending:
        _answer(follow, user, "Accept")
    return follow


def requests(user: User) -> list[RemoteFollow]:
    """Remote follow requests waiting for the (private) account's answer."""
    stmt = select(RemoteFollow).filter_by(user_id=user.id, inbound=True, pending=True)
    return list(db.session.scalars(stmt.order_by(RemoteFollow.created_at)))


def _request(user: User, follow_id: int) -> RemoteFollow | None:
    follow = db.session.get(RemoteFollow, follow_id)
    ok = follow is not None and follow.user_id == user.id and follow.inbound and follow.pending
    return follow if ok else None


def approve(user: User, follow_id: int) -> bool:
    follow = _request(user, follow_id)
    if follow is None:
        return False
    follow.pending = False
    notify.withdraw(user.id, "follow_request", None, remote_actor_id=follow.actor_id)
    notify.notify(user.id, "follow", remote_actor_id=follow.actor_id)
    db.session.commit()
    _answer(follow, user, "Accept")
    return True


def reject(user: User, follow_id: int) -> bool:
    follow = _request(user, follow_id)
    if follow is None:
        return False
    _answer(follow, user, "Reject")
    notify.withdraw(user.id, "follow_request", None, remote_actor_id=follow.actor_id)
    db.session.delete(follow)
    db.session.commit()
    return True


def undone(actor: RemoteActor, follow: dict | str) -> None:
    """Undo{Follow}: the remote actor stops following (by the Follow's id or its object)."""
    uri = _text(follow.get("id") if isinstance(follow, dict) else follow)
    obj = _text(follow.get("object")) if isinstance(follow, dict) else ""
    stmt = select(RemoteFollow).filter_by(actor_id=actor.id, inbound=True)
    for row in db.session.scalars(stmt):
        user = db.session.get(User, row.user_id)
        if row.activity_uri == uri or (obj and obj == documents.actor_url(user)):
            kind = "follow_request" if row.pending else "follow"
            notify.withdraw(user.id, kind, None, remote_actor_id=actor.id)
            db.session.delete(row)
    db.session.commit()


def answered(actor: RemoteActor, follow: dict | str, accepted: bool) -> None:
    """Accept or Reject of a Follow we sent."""
    uri = _text(follow.get("id") if isinstance(follow, dict) else follow)
    if not uri:
        return
    row = db.session.scalar(
        select(RemoteFollow).filter_by(actor_id=actor.id, inbound=False, activity_uri=uri)
    )
    if row is None:
        return
    if accepted:
        row.pending = False
    else:
        db.session.delete(row)
    db.session.commit()


# --- outbound ----------------------------------------------------------------------------------


def follow(user: User, handle: str) -> tuple[RemoteFollow | None, str]:
    """Follow `@name@server`: (the follow, "") or (None, why not)."""
    if not can_act(user):
        return None, "Your account cannot follow anyone yet."
    try:
        actor = actors.lookup(handle, signer=user)
    except fetch.FetchError as error:
        return None, f"Could not find {handle}: {error}"
    row = db.session.scalar(
        select(RemoteFollow).filter_by(user_id=user.id, actor_id=actor.id, inbound=False)
    )
    if row is None:
        row = RemoteFollow(user_id=user.id, actor_id=actor.id, inbound=False, activity_uri="")
        db.session.add(row)
        db.session.flush()
        row.activity_uri = documents.follow_url(row.id)
        db.session.commit()
    delivery.send(user, [actor.inbox], _follow_doc(row, user))
    return row, ""


def unfollow(user: User, actor_id: int) -> None:
    row = db.session.scalar(
        select(RemoteFollow).filter_by(user_id=user.id, actor_id=actor_id, inbound=False)
    )
    if row is None:
        return
    undo = documents.activity(
        "Undo", documents.actor_url(user), _follow_doc(row, user), f"{row.activity_uri}#undo"
    )
    inbox = row.actor.inbox
    db.session.delete(row)
    db.session.commit()
    delivery.send(user, [inbox], undo)


def following(user: User) -> list[RemoteFollow]:
    stmt = select(RemoteFollow).filter_by(user_id=user.id, inbound=False)
    return list(db.session.scalars(stmt.order_by(RemoteFollow.created_at.desc())))


def is_followed_locally(actor: RemoteActor) -> bool:
    """Someone here follows the actor (accepted): only then are its posts stored."""
    stmt = select(RemoteFollow.id).filter_by(actor_id=actor.id, inbound=False, pending=False)
    return db.session.scalar(stmt.limit(1)) is not None


# --- local blocks and mutes of remote people -------------------------------------------------


def relation(user: User, actor: RemoteActor) -> dict:
    """Whether `user` blocks or mutes the actor (for their profile page's buttons)."""
    kinds = set(
        db.session.scalars(select(RemoteBlock.kind).filter_by(user_id=user.id, actor_id=actor.id))
    )
    return {"blocked": "block" in kinds, "muted": "mute" in kinds}


def set_block(user: User, actor: RemoteActor, kind: str, on: bool) -> None:
    """Block or mute (kind) a remote actor, or lift it (on=False). A block also ends the
    follows between them both ways: theirs of `user` is removed (no more deliveries to them),
    `user`'s of them is undone (Undo sent)."""
    row = db.session.get(RemoteBlock, (user.id, actor.id, kind))
    if on and row is None:
        db.session.add(RemoteBlock(user_id=user.id, actor_id=actor.id, kind=kind))
    elif not on and row is not None:
        db.session.delete(row)
    if on and kind == "block":
        db.session.execute(
            delete(RemoteFollow).filter_by(user_id=user.id, actor_id=actor.id, inbound=True)
        )
    db.session.commit()
    if on and kind == "block":
        unfollow(user, actor.id)
