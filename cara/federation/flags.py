"""Reports forwarded to another server: a Flag from the instance actor, anonymous (the
reporter is not named), about a remote actor and what of theirs was reported, delivered by the
delivery jobs to that server's shared inbox (Mastodon's "forward to the remote server")."""

import secrets

from cara.core.models import RemoteActor
from cara.core.text import site_url
from cara.federation import delivery, documents

COMMENT_MAX = 1000


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
