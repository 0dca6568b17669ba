"""Reports across servers. Out: a Flag from the instance actor, anonymous (the reporter is not
named), about a remote actor and what of theirs was reported, delivered by the delivery jobs to
that server's shared inbox (Mastodon's "forward to the remote server"). In: another server's
Flag about people or posts here becomes a report in the moderation queue, from that server."""

import secrets

from cara.core.models import Post, RemoteActor, User
from cara.core.text import site_url
from cara.federation import delivery, documents, instances
from cara.social import actions

COMMENT_MAX = 1000
OBJECTS_MAX = 20  # the ids of one Flag looked at


def flag(actor: RemoteActor, object_ids: list[str], comment: str) -> dict:
    return {
        "@context": documents.CONTEXT,
        "id": site_url(f"/ap/flags/{secrets.token_hex(16)}"),
        "type": "Flag",
        "actor": documents.instance_actor_url(),
        "object": [actor.uri, *object_ids],
        "content": comment[:COMMENT_MAX],
    }


def forward(actor: RemoteActor, object_ids: list[str], comment: str) -> None:
    """Send the Flag to the actor's server (its shared inbox, else the actor's inbox)."""
    delivery.send(None, [actor.shared_inbox or actor.inbox], flag(actor, object_ids, comment))


def received(actor: RemoteActor, posts: list[Post | None], people: list[User | None], comment):
    """File the reports a Flag from `actor`'s server makes: one per post here it names, else
    one per account here it names; from "the server <domain>" (not a person), with its comment.
    A blocked server's are dropped. Returns how many reports it names."""
    if instances.is_blocked(actor.uri):
        return 0
    details = str(comment or "").strip()[: actions.REPORT_DETAILS_MAX] or "No comment was sent."
    posts = [p for p in posts if p is not None]
    subjects = [("post", p.id) for p in posts] or [("user", u.id) for u in people if u]
    for kind, subject_id in dict.fromkeys(subjects):
        actions.report(None, kind, subject_id, "other", details, server=actor.domain)
    return len(subjects)
