"""Activities in: signature checks in the request, then the activity itself in a job.

Handled: Follow, Undo{Follow}, Accept/Reject{Follow}, Like and Announce of local posts (and
their Undo), Create/Update/Delete of replies to local posts (remote comments) and of Notes from
followed actors (sanitised text, images through the pipeline), Update of an actor, Delete of an
actor, Flag (a report from another server).
"""

from datetime import UTC, datetime

import nh3
from flask import current_app
from sqlalchemy import delete, select
from sqlalchemy.orm import selectinload

from cara.core import policy, tasks
from cara.core.extensions import db
from cara.core.models import Post, RemoteActor, RemoteFollow, RemotePost, User, utcnow
from cara.core.text import site_url
from cara.federation import (
    actors,
    fetch,
    flags,
    follows,
    instances,
    media,
    reactions,
    replies,
    signatures,
)
from cara.federation.documents import PUBLIC, local_username
from cara.social import notify

# Remote HTML kept: paragraphs, line breaks, links and inline emphasis; nothing else.
ALLOWED_TAGS = {"p", "br", "a", "span", "em", "strong", "i", "b"}
ALLOWED_ATTRIBUTES = {"a": {"href"}}


class Refused(Exception):
    """The request is not acceptable: (status, message)."""

    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status = status


def claimed_server(headers: dict) -> str:
    """The server (host[:port]) whose key the request says signed it, not yet verified; ""
    when it names none."""
    try:
        return instances.domain_of(signatures.parse_request(headers)["keyId"])
    except (signatures.SignatureError, KeyError, ValueError):
        return ""


def verify(method: str, path: str, headers: dict, body: bytes) -> RemoteActor:
    """The actor whose valid signature the request carries; Refused(401) otherwise. A failed
    check with a stored key fetches the key again once (keys rotate)."""
    skew = current_app.config["FEDERATION_SIGNATURE_SKEW"]

    def check_signature(actor: RemoteActor) -> None:
        key = actor.public_pem
        signatures.verify(params, method, path, headers, body, key, skew, base_url=site_url())

    try:
        params = signatures.parse_request(headers)
        if instances.is_blocked(params["keyId"]):
            raise Refused(403, "this server is blocked here")
        actor = actors.by_key_id(params["keyId"])
        try:
            check_signature(actor)
        except signatures.SignatureError:
            actor = actors.by_key_id(params["keyId"], refresh=True)
            check_signature(actor)
    except signatures.SignatureError as error:
        raise Refused(401, str(error)) from None
    except fetch.FetchError as error:
        raise Refused(401, f"the signing key could not be fetched: {error}") from None
    return actor


def check(actor: RemoteActor, activity) -> None:
    """The activity is an object by the signing actor."""
    if not isinstance(activity, dict) or not isinstance(activity.get("type"), str):
        raise Refused(400, "the body is not an activity")
    if _id(activity.get("actor")) != actor.uri:
        raise Refused(401, "the activity is not by the actor that signed it")


def _id(value) -> str:
    if isinstance(value, dict):
        value = value.get("id")
    return value if isinstance(value, str) else ""


def process(actor_id: int, activity: dict) -> None:
    """Handle one verified activity (the job)."""
    actor = db.session.get(RemoteActor, actor_id)
    if actor is None:
        return
    kind, obj = activity["type"], activity.get("object")
    if kind == "Follow":
        user = _local_user(_id(obj))
        if user is not None and isinstance(activity.get("id"), str):
            follows.received_follow(actor, user, activity["id"])
    elif kind == "Undo" and isinstance(obj, dict) and obj.get("type") == "Follow":
        follows.undone(actor, obj)
    elif kind in ("Like", "Announce") and isinstance(activity.get("id"), str):
        reactions.react(actor, kind.lower(), _id(obj), activity["id"][:500])
    elif kind == "Undo" and isinstance(obj, dict) and obj.get("type") in ("Like", "Announce"):
        reactions.undo(actor, obj["type"].lower(), obj)
    elif kind in ("Accept", "Reject"):
        follows.answered(actor, obj, accepted=kind == "Accept")
    elif kind in ("Create", "Update") and isinstance(obj, dict) and obj.get("type") == "Note":
        _note(actor, obj, create=kind == "Create")
    elif kind == "Update" and _id(obj) == actor.uri and isinstance(obj, dict):
        try:
            actors.store(obj)
        except fetch.FetchError:  # an unusable new profile: keep the one we have
            db.session.rollback()
    elif kind == "Flag":  # a report from another server about people or posts here
        named = [_id(o) for o in _list(obj)][: flags.OBJECTS_MAX]
        people = [_local_user(uri) for uri in named]
        flags.received(
            actor, [reactions.local_post(uri) for uri in named], people, activity.get("content")
        )
    elif kind == "Delete":
        uri = _id(obj)
        if uri == actor.uri:
            media.remove_actors([actor.id])
            replies.forget_actors([actor.id])
            reactions.forget_actors([actor.id])
            db.session.delete(actor)
        elif not replies.remove(actor, uri):
            gone = db.session.scalars(
                delete(RemotePost)
                .where(RemotePost.uri == uri, RemotePost.actor_id == actor.id)
                .returning(RemotePost.id)
            ).all()
            for post_id in gone:
                media.remove(post_id)
        db.session.commit()


def _local_user(uri: str) -> User | None:
    name = local_username(uri)
    user = db.session.scalar(select(User).filter_by(username=name)) if name else None
    return user if user is not None and user.deleted_at is None else None


def _time(value) -> datetime:
    try:
        when = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError:
        return utcnow()
    return when if when.tzinfo else when.replace(tzinfo=UTC)


def sanitise(html: str) -> str:
    return nh3.clean(
        html, tags=ALLOWED_TAGS, attributes=ALLOWED_ATTRIBUTES, link_rel="nofollow noopener"
    )


def _attachments(note: dict, before: list[dict]) -> list[dict]:
    """The Note's images (at most MAX_IMAGES_PER_POST), keeping what was already imported of
    the same URLs; their alt text as sent."""
    items = note.get("attachment") if isinstance(note.get("attachment"), list) else []
    done = {item["url"]: item for item in before}
    kept = []
    for item in items[: current_app.config["MAX_IMAGES_PER_POST"]]:
        url = item.get("url") if isinstance(item, dict) else None
        if isinstance(url, str) and str(item.get("mediaType", "image/")).startswith("image/"):
            alt = str(item.get("name") or "")[:1500]
            kept.append({**done.get(url[:500], {"url": url[:500]}), "name": alt})
    return kept


def _audience(note: dict) -> str:
    """public (as:Public in to or cc), direct (addressed to people here alone: no public, no
    collection), or followers (anything else: the actor's followers collection)."""
    addresses = {_id(a) for a in [*_list(note.get("to")), *_list(note.get("cc"))]} - {""}
    if addresses & {PUBLIC, "as:Public", "Public"}:
        return replies.PUBLIC
    if all(local_username(a) for a in addresses):
        return replies.DIRECT
    return replies.FOLLOWERS


def _reply(actor: RemoteActor, post: Post, note: dict, create: bool, parent=None) -> bool:
    """A reply to a local post (or to a reply kept under one: `parent`), kept as a remote
    comment; True if it is new."""
    uri = _id(note)
    url = note.get("url") if isinstance(note.get("url"), str) else uri
    _, new = replies.store(
        actor,
        post,
        uri,
        url=url,
        content=sanitise(str(note.get("content") or "")),
        audience=_audience(note),
        published=_time(note.get("published")),
        updated=_time(note.get("updated") or note.get("published")),
        create=create,
        parent=parent,
    )
    return new


def _mentioned(note: dict, post: Post | None) -> list[User]:
    """The local people a Note tags with a Mention (at most MENTIONS_MAX) and addresses (or it
    is public); not the artist it replies to, who is told of the reply itself."""
    tags = note.get("tag") if isinstance(note.get("tag"), list) else []
    hrefs = [t.get("href") for t in tags if isinstance(t, dict) and t.get("type") == "Mention"]
    audience = {_id(a) for a in [*_list(note.get("to")), *_list(note.get("cc"))]}
    public = _audience(note) == replies.PUBLIC
    users = []
    for href in hrefs[: notify.MENTIONS_MAX]:
        user = _local_user(href) if public or href in audience else None
        if user is not None and user not in users and (post is None or user.id != post.author_id):
            users.append(user)
    return users


def _note(actor: RemoteActor, note: dict, create: bool) -> None:
    """Store (or update) a reply to a local post, or a followed actor's Note (its images
    through the pipeline)."""
    uri = _id(note)
    if not uri or _id(note.get("attributedTo")) != actor.uri:
        return
    answers = _id(note.get("inReplyTo"))
    post, parent = reactions.local_post(answers), None
    if post is None and (parent := replies.parent(answers)) is not None:
        post = db.session.get(Post, parent.post_id)  # a reply in a thread under a post here
    if post is not None:  # a reply to a post here
        if _reply(actor, post, note, create, parent):
            replies.tell_mentioned(
                actor, _mentioned(note, post), post, str(note.get("content") or "")
            )
        db.session.commit()
        return
    if create:
        replies.tell_mentioned(actor, _mentioned(note, None), None, str(note.get("content") or ""))
        db.session.commit()
    row = db.session.scalar(select(RemotePost).filter_by(uri=uri))
    if row is None:
        if not create or not follows.is_followed_locally(actor):
            return
        row = RemotePost(uri=uri[:500], actor_id=actor.id)
        db.session.add(row)
    elif row.actor_id != actor.id:
        return
    audience = [*_list(note.get("to")), *_list(note.get("cc"))]
    row.url = (note.get("url") if isinstance(note.get("url"), str) else uri)[:500]
    row.content = sanitise(str(note.get("content") or ""))
    row.summary = sanitise(str(note.get("summary") or ""))
    row.sensitive = bool(note.get("sensitive"))
    row.public = PUBLIC in audience or "as:Public" in audience
    row.attachments = _attachments(note, row.attachments or [])
    row.published_at = _time(note.get("published"))
    row.updated_at = _time(note.get("updated") or note.get("published"))
    db.session.commit()
    if any(not item.get("state") for item in row.attachments):
        tasks.enqueue(media.import_images, row.id)


def _list(value) -> list:
    return value if isinstance(value, list) else [value]


def _followed_by(user: User) -> list:
    """WHERE clauses: remote posts of the actors `user` follows (accepted), not muted or blocked."""
    followed = select(RemoteFollow.actor_id).where(
        RemoteFollow.user_id == user.id,
        RemoteFollow.inbound.is_(False),
        RemoteFollow.pending.is_(False),
    )
    return [
        RemotePost.actor_id.in_(followed),
        RemotePost.actor_id.not_in(policy.remote_hidden(user)),
    ]


def posts_for(user: User, limit: int = 40) -> list[RemotePost]:
    """Remote posts of the actors `user` follows (not those they muted), newest first."""
    stmt = select(RemotePost).where(*_followed_by(user)).order_by(RemotePost.published_at.desc())
    return list(db.session.scalars(stmt.limit(limit)))


def following_source(user: User):
    """The remote posts of `user`'s Following feed as a select of (post_id, at)."""
    return select(RemotePost.id.label("post_id"), RemotePost.published_at.label("at")).where(
        *_followed_by(user)
    )


def posts_by_ids(ids: list[int]) -> dict[int, RemotePost]:
    """Remote posts by id (with their actors), for a page that lists some."""
    if not ids:
        return {}
    stmt = select(RemotePost).where(RemotePost.id.in_(ids)).options(selectinload(RemotePost.actor))
    return {p.id: p for p in db.session.scalars(stmt)}


def posts_of(actor: RemoteActor, limit: int = 40) -> list[RemotePost]:
    stmt = select(RemotePost).filter_by(actor_id=actor.id)
    return list(db.session.scalars(stmt.order_by(RemotePost.published_at.desc()).limit(limit)))


def visible_posts_of(viewer: User, actor: RemoteActor) -> list[RemotePost]:
    """The actor's posts `viewer` may see: public ones, and all of them once they follow."""
    followed = any(f.actor_id == actor.id and not f.pending for f in follows.following(viewer))
    return [p for p in posts_of(actor) if p.public or followed]


def visible_post(viewer: User, post_id: int) -> RemotePost | None:
    """A remote post `viewer` may see: public, or they follow its author."""
    post = db.session.get(RemotePost, post_id)
    if post is None:
        return None
    followed = {f.actor_id for f in follows.following(viewer) if not f.pending}
    return post if post.public or post.actor_id in followed else None
