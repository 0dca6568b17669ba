"""Local people liking, reposting and replying to remote posts: a RemoteInteraction row each,
and the activity (Like, Announce, Undo, Create{Note} with inReplyTo) delivered to the post's
author by the delivery jobs. Who may: policy.may_interact_remote."""

from markupsafe import escape
from sqlalchemy import select

from cara.core import policy
from cara.core.extensions import db
from cara.core.models import RemoteInteraction, RemotePost, User, utcnow
from cara.core.text import site_url
from cara.federation import delivery, documents

KINDS = {"like": "Like", "announce": "Announce"}
REPLY_MAX = 1000


def activity_url(row: RemoteInteraction) -> str:
    return site_url(f"/ap/interactions/{row.id}")


def _doc(user: User, row: RemoteInteraction, post: RemotePost) -> dict:
    actor = documents.actor_url(user)
    if row.kind == "announce":
        to, cc = [documents.PUBLIC], [post.actor.uri, documents.collection_url(user, "followers")]
        return documents.activity("Announce", actor, post.uri, activity_url(row), to, cc)
    return documents.activity(KINDS[row.kind], actor, post.uri, activity_url(row))


def _inboxes(user: User, post: RemotePost, kind: str) -> list[str]:
    """The author's inbox; a repost goes to the reposter's remote followers too."""
    author = post.actor.shared_inbox or post.actor.inbox
    extra = delivery.follower_inboxes(user) if kind == "announce" else []
    return sorted({author, *extra})


def _mine(user: User, post: RemotePost, kind: str) -> RemoteInteraction | None:
    stmt = select(RemoteInteraction).filter_by(user_id=user.id, remote_post_id=post.id, kind=kind)
    return db.session.scalar(stmt.limit(1))


def react(user: User, post: RemotePost, kind: str) -> bool:
    """Like or repost (kind: like, announce) a remote post, once. False if not allowed."""
    if not policy.may_interact_remote(user, post, kind):
        return False
    if _mine(user, post, kind) is None:
        row = RemoteInteraction(user_id=user.id, remote_post_id=post.id, kind=kind)
        db.session.add(row)
        db.session.flush()
        delivery.send(user, _inboxes(user, post, kind), _doc(user, row, post))
    return True


def undo(user: User, post: RemotePost, kind: str) -> None:
    """Unlike or unrepost: the row goes and an Undo of the activity is sent."""
    row = _mine(user, post, kind)
    if row is None:
        return
    original = _doc(user, row, post)
    undo_doc = documents.activity(
        "Undo", documents.actor_url(user), original, f"{activity_url(row)}#undo"
    )
    inboxes = _inboxes(user, post, kind)
    db.session.delete(row)
    db.session.commit()
    delivery.send(user, inboxes, undo_doc)


def reply(user: User, post: RemotePost, text: str) -> dict:
    """Reply to a remote post: Create{Note} with inReplyTo, to its author (public when the
    post is public, else to the author alone). Returns an errors dict (empty when sent)."""
    text = text.strip()
    if not policy.may_interact_remote(user, post, "reply"):
        return {"body": ["You cannot reply to this post."]}
    if not text or len(text) > REPLY_MAX:
        return {"body": [f"Write 1 to {REPLY_MAX} characters."]}
    row = RemoteInteraction(user_id=user.id, remote_post_id=post.id, kind="reply", content=text)
    db.session.add(row)
    db.session.flush()
    author = post.actor
    paragraphs = "".join(f"<p>{escape(p)}</p>" for p in text.split("\n\n") if p.strip())
    public = [documents.PUBLIC] if post.public else []
    note = {
        "id": activity_url(row),
        "type": "Note",
        "attributedTo": documents.actor_url(user),
        "inReplyTo": post.uri,
        "content": f'<p><span class="h-card"><a href="{escape(author.url or author.uri)}">'
        f"{escape(author.handle)}</a></span></p>{paragraphs}",
        "published": utcnow().isoformat(timespec="seconds").replace("+00:00", "Z"),
        "to": public or [author.uri],
        "cc": [author.uri] if public else [],
        "tag": [{"type": "Mention", "href": author.uri, "name": author.handle}],
    }
    create = documents.activity(
        "Create", note["attributedTo"], note, f"{note['id']}#create", note["to"], note["cc"]
    )
    delivery.send(user, [author.shared_inbox or author.inbox], create)
    return {}


def marks(user: User, posts: list[RemotePost]) -> dict:
    """For each remote post: the kinds `user` did (like, announce) and their replies' texts."""
    ids = [p.id for p in posts]
    out = {i: {"kinds": set(), "replies": []} for i in ids}
    if not ids:
        return out
    stmt = select(RemoteInteraction).where(
        RemoteInteraction.user_id == user.id, RemoteInteraction.remote_post_id.in_(ids)
    )
    for row in db.session.scalars(stmt.order_by(RemoteInteraction.id)):
        entry = out[row.remote_post_id]
        if row.kind == "reply":
            entry["replies"].append(row.content)
        else:
            entry["kinds"].add(row.kind)
    return out
