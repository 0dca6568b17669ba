"""Local people liking, reposting and replying to remote posts: a RemoteInteraction row each,
and the activity (Like, Announce, Undo, Create{Note} with inReplyTo, and Update or Delete of
such a reply) delivered to the post's author by the delivery jobs; the row's id
(/ap/interactions/<id>) serves its activity, or a reply's Note, while it stands. Who may:
policy.may_interact_remote."""

from markupsafe import escape
from sqlalchemy import select

from cara.core import policy
from cara.core.extensions import db
from cara.core.models import RemoteInteraction, RemotePost, User, utcnow
from cara.core.text import site_url
from cara.federation import delivery, documents, tombstones

KINDS = {"like": "Like", "announce": "Announce"}
FORMER_TYPES = {**KINDS, "reply": "Note"}
REPLY_MAX = 1000


def path(interaction_id: int) -> str:
    return f"/ap/interactions/{interaction_id}"


def activity_url(row: RemoteInteraction) -> str:
    return site_url(path(row.id))


def _take_back(row: RemoteInteraction) -> None:
    """Delete the row; its id answers 410 from then on if it was served."""
    if document(row.id) is not None:
        tombstones.record(path(row.id), FORMER_TYPES[row.kind])
    db.session.delete(row)


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
    _take_back(row)
    db.session.commit()
    delivery.send(user, inboxes, undo_doc)


def _time(when) -> str:
    return when.isoformat(timespec="seconds").replace("+00:00", "Z")


def _note(user: User, row: RemoteInteraction, post: RemotePost) -> dict:
    """A reply as a Note: a mention of the post's author, then the text escaped into
    paragraphs; public when the post is, else to the author alone."""
    author = post.actor
    paragraphs = "".join(f"<p>{escape(p)}</p>" for p in row.content.split("\n\n") if p.strip())
    public = [documents.PUBLIC] if post.public else []
    note = {
        "id": activity_url(row),
        "type": "Note",
        "attributedTo": documents.actor_url(user),
        "inReplyTo": post.uri,
        "content": f'<p><span class="h-card"><a href="{escape(author.url or author.uri)}">'
        f"{escape(author.handle)}</a></span></p>{paragraphs}",
        "published": _time(row.created_at),
        "to": public or [author.uri],
        "cc": [author.uri] if public else [],
        "tag": [{"type": "Mention", "href": author.uri, "name": author.handle}],
    }
    if row.updated_at is not None:
        note["updated"] = _time(row.updated_at)
    return note


def _reply_text(text: str) -> tuple[str, dict]:
    text = text.strip()
    if not text or len(text) > REPLY_MAX:
        return text, {"body": [f"Write 1 to {REPLY_MAX} characters."]}
    return text, {}


def _send_note(user: User, row: RemoteInteraction, post: RemotePost, kind: str) -> None:
    """Create or Update of the reply's Note, to the post's author."""
    note = _note(user, row, post)
    suffix = "#create" if kind == "Create" else f"#update-{int(row.updated_at.timestamp())}"
    doc = documents.activity(
        kind, note["attributedTo"], note, note["id"] + suffix, note["to"], note["cc"]
    )
    delivery.send(user, [post.actor.shared_inbox or post.actor.inbox], doc)


def reply(user: User, post: RemotePost, text: str) -> dict:
    """Reply to a remote post: Create{Note} with inReplyTo, to its author (public when the
    post is public, else to the author alone). Returns an errors dict (empty when sent)."""
    if not policy.may_interact_remote(user, post, "reply"):
        return {"body": ["You cannot reply to this post."]}
    text, errors = _reply_text(text)
    if errors:
        return errors
    row = RemoteInteraction(user_id=user.id, remote_post_id=post.id, kind="reply", content=text)
    db.session.add(row)
    db.session.flush()
    _send_note(user, row, post, "Create")
    return {}


def my_reply(user: User, interaction_id: int) -> RemoteInteraction | None:
    """One of `user`'s replies sent out, else None."""
    row = db.session.get(RemoteInteraction, interaction_id)
    return row if row is not None and row.user_id == user.id and row.kind == "reply" else None


def edit_reply(user: User, row: RemoteInteraction, text: str) -> dict:
    """Change the text of a reply sent out: Update{Note} to the post's author. Errors by
    field (none when sent)."""
    text, errors = _reply_text(text)
    if errors:
        return errors
    if text != row.content:
        row.content, row.updated_at = text, utcnow()
        post = db.session.get(RemotePost, row.remote_post_id)
        _send_note(user, row, post, "Update")  # commits
    return {}


def delete_reply(user: User, row: RemoteInteraction) -> None:
    """Take back a reply sent out: Delete{Tombstone} to the post's author; its id answers 410
    from then on (if it was served)."""
    post = db.session.get(RemotePost, row.remote_post_id)
    note_id = activity_url(row)
    doc = documents.activity(
        "Delete",
        documents.actor_url(user),
        {"id": note_id, "type": "Tombstone"},
        f"{note_id}#delete",
        [documents.PUBLIC] if post.public else [post.actor.uri],
    )
    inbox = post.actor.shared_inbox or post.actor.inbox
    _take_back(row)
    db.session.commit()
    delivery.send(user, [inbox], doc)


def document(interaction_id: int) -> dict | None:
    """What /ap/interactions/<id> serves: a like's or repost's activity, a reply's Note; only
    public ones (a like or reply of a followers-only post is the author's business), while
    they stand and their account may federate."""
    row = db.session.get(RemoteInteraction, interaction_id)
    if row is None:
        return None
    user, post = db.session.get(User, row.user_id), db.session.get(RemotePost, row.remote_post_id)
    if user.deleted_at is not None or user.is_suspended or not post.public:
        return None
    if row.kind == "reply":
        return {"@context": documents.CONTEXT, **_note(user, row, post)}
    return _doc(user, row, post)


def gone(interaction_id: int) -> dict | None:
    """The Tombstone /ap/interactions/<id> answers once what it served is undone or deleted,
    or its account deleted; None while it stands or if it was never served."""
    row = db.session.get(RemoteInteraction, interaction_id)
    if row is None:
        return tombstones.find(path(interaction_id))
    post = db.session.get(RemotePost, row.remote_post_id)
    user = db.session.get(User, row.user_id)
    former = FORMER_TYPES[row.kind]
    return tombstones.of_account(user, path(row.id), former) if post.public else None


def marks(user: User, posts: list[RemotePost]) -> dict:
    """For each remote post: the kinds `user` did (like, announce) and their replies."""
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
            entry["replies"].append(row)
        else:
            entry["kinds"].add(row.kind)
    return out
