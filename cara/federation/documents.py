"""The JSON documents this server publishes: WebFinger, host-meta, NodeInfo, actors, notes,
collections and activities, in the shapes Mastodon expects (docs/federation.md)."""

from html import escape
from urllib.parse import urlsplit

from flask import current_app

from cara import optout
from cara.core.models import Media, Post, User
from cara.core.policy import can_view
from cara.core.text import site_url

AS = "https://www.w3.org/ns/activitystreams"
PUBLIC = f"{AS}#Public"
CONTEXT = [
    AS,
    "https://w3id.org/security/v1",
    {
        "manuallyApprovesFollowers": "as:manuallyApprovesFollowers",
        "sensitive": "as:sensitive",
        "Hashtag": "as:Hashtag",
        "toot": "http://joinmastodon.org/ns#",
        "discoverable": "toot:discoverable",
        "blurhash": "toot:blurhash",
        "focalPoint": {"@container": "@list", "@id": "toot:focalPoint"},
        "schema": "http://schema.org#",
        "license": "schema:license",
        "usageInfo": "schema:usageInfo",
        "tdm": "http://www.w3.org/ns/tdmrep#",
        "tdmReservation": "tdm:reservation",
    },
]
NODEINFO_SCHEMA = "http://nodeinfo.diaspora.software/ns/schema/2.1"
MAX_ITEMS = 20  # items on a collection page


def domain() -> str:
    """This server's name in handles (host[:port] of BASE_URL)."""
    return urlsplit(current_app.config["BASE_URL"]).netloc


def actor_url(user: User) -> str:
    return site_url(f"/@{user.username}")


def key_id(user: User) -> str:
    return actor_url(user) + "#main-key"


def note_url(post_id: int) -> str:
    return site_url(f"/ap/posts/{post_id}")


def follow_url(follow_id: int) -> str:
    return site_url(f"/ap/follows/{follow_id}")


def instance_actor_url() -> str:
    """The instance's own actor (an Application): it signs what no person here sends, such as
    a report forwarded to another server."""
    return site_url("/actor")


def instance_actor(public_pem: str) -> dict:
    url = instance_actor_url()
    return {
        "@context": CONTEXT,
        "id": url,
        "type": "Application",
        "preferredUsername": domain(),
        "name": domain(),
        "url": site_url("/"),
        "inbox": shared_inbox(),
        "manuallyApprovesFollowers": True,
        "publicKey": {"id": f"{url}#main-key", "owner": url, "publicKeyPem": public_pem},
    }


def shared_inbox() -> str:
    return site_url("/inbox")


def collection_url(user: User, name: str) -> str:
    """inbox, outbox, followers, following."""
    if name in ("inbox", "outbox"):
        return site_url(f"/@{user.username}/{name}")
    return site_url(f"/@{user.username}/ap/{name}")  # /@name/followers is the HTML list


def local_username(uri: str) -> str | None:
    """The username of a local actor URL, else None."""
    base = site_url("/@")
    if not isinstance(uri, str) or not uri.startswith(base):
        return None
    name = uri.removeprefix(base)
    return name if name and name.isascii() and name.replace("_", "").isalnum() else None


def webfinger(user: User) -> dict:
    return {
        "subject": f"acct:{user.username}@{domain()}",
        "aliases": [actor_url(user)],
        "links": [
            {"rel": "self", "type": "application/activity+json", "href": actor_url(user)},
            {
                "rel": "http://webfinger.net/rel/profile-page",
                "type": "text/html",
                "href": actor_url(user),
            },
        ],
    }


def host_meta() -> str:
    template = escape(site_url("/.well-known/webfinger?resource={uri}"))
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        '<XRD xmlns="http://docs.oasis-open.org/ns/xri/xrd-1.0">\n'
        f'  <Link rel="lrdd" type="application/jrd+json" template="{template}"/>\n'
        "</XRD>\n"
    )


def nodeinfo_links() -> dict:
    return {"links": [{"rel": NODEINFO_SCHEMA, "href": site_url("/nodeinfo/2.1")}]}


def nodeinfo(users: int, active_month: int, active_halfyear: int, posts: int, name: str, open_):
    return {
        "version": "2.1",
        "software": {"name": "cara", "version": "0.1.0"},
        "protocols": ["activitypub"],
        "services": {"inbound": [], "outbound": ["atom1.0"]},
        "openRegistrations": open_,
        "usage": {
            "users": {
                "total": users,
                "activeMonth": active_month,
                "activeHalfyear": active_halfyear,
            },
            "localPosts": posts,
        },
        "metadata": {"nodeName": name},
    }


def _html(text: str) -> str:
    paragraphs = [p for p in text.replace("\r\n", "\n").split("\n\n") if p.strip()]
    return "".join(f"<p>{escape(p).replace(chr(10), '<br>')}</p>" for p in paragraphs)


def person(user: User, public_pem: str, avatar: dict | None) -> dict:
    """The actor of a local account; `avatar` is {url, mediaType} or None."""
    doc = {
        "@context": CONTEXT,
        "id": actor_url(user),
        "type": "Person",
        "preferredUsername": user.username,
        "name": user.name,
        "summary": _html(user.bio),
        "url": actor_url(user),
        "inbox": collection_url(user, "inbox"),
        "outbox": collection_url(user, "outbox"),
        "followers": collection_url(user, "followers"),
        "following": collection_url(user, "following"),
        "endpoints": {"sharedInbox": shared_inbox()},
        "manuallyApprovesFollowers": user.is_private,
        "discoverable": not user.noindex,
        "published": _iso(user.created_at),
        "publicKey": {"id": key_id(user), "owner": actor_url(user), "publicKeyPem": public_pem},
    }
    if avatar:
        doc["icon"] = {"type": "Image", **avatar}
    return doc


def _iso(when) -> str:
    return when.strftime("%Y-%m-%dT%H:%M:%SZ")


def is_public(post: Post) -> bool:
    """Addressed to everyone (as:Public) only when anyone may see it here: followers-only
    posts and a private account's posts go to followers alone."""
    return can_view(None, post)


def audience(post: Post) -> tuple[list[str], list[str]]:
    followers = collection_url(post.author, "followers")
    if is_public(post):
        return [PUBLIC], [followers]
    return [followers], []


def image(media: Media, rendition: dict, mime: str, url: str | None = None) -> dict:
    """An `Image` attachment: alt text in `name`, size, focal point from the square crop.
    `url`: where to fetch it, when not its public address (a followers-only post's)."""
    return {
        "type": "Image",
        "mediaType": mime,
        "url": url or site_url(f"/media/{media.id}/{rendition['name']}"),
        "name": media.alt_text,
        "width": rendition["w"],
        "height": rendition["h"],
        # Mastodon's focal point: x and y from -1 to 1, y upwards.
        "focalPoint": [round(media.crop_x * 2 - 1, 2), round(1 - media.crop_y * 2, 2)],
        **({"blurhash": media.blurhash} if media.blurhash else {}),
    }


def note(post: Post, attachments: list[dict]) -> dict:
    to, cc = audience(post)
    author = post.author
    doc = {
        "id": note_url(post.id),
        "type": "Note",
        "attributedTo": actor_url(author),
        "url": site_url(f"/posts/{post.id}"),
        "published": _iso(post.published_at or post.created_at),
        "to": to,
        "cc": cc,
        "content": _html(post.caption),
        "sensitive": post.mature,
        "attachment": attachments,
        "tag": [
            {"type": "Hashtag", "href": site_url(f"/tags/{t.name}"), "name": f"#{t.name}"}
            for t in post.tags
        ],
        # The AI opt-out travels with the work: its licence and the TDM reservation.
        "license": author.licence,
        "tdmReservation": author.data_mining,
        "usageInfo": site_url(optout.POLICY_PATH),
    }
    if post.mature:
        doc["summary"] = "Mature content"
    if post.updated_at and post.published_at and post.updated_at > post.published_at:
        doc["updated"] = _iso(post.updated_at)
    return doc


def tombstone(path: str, former_type: str, deleted) -> dict:
    """What the id of something gone answers (with 410), in Mastodon's shape."""
    return {
        "@context": CONTEXT,
        "id": site_url(path),
        "type": "Tombstone",
        "formerType": former_type,
        "deleted": deleted.isoformat(timespec="seconds").replace("+00:00", "Z"),
    }


def activity(kind: str, actor: str, obj, id_: str, to=None, cc=None) -> dict:
    doc = {"@context": CONTEXT, "id": id_, "type": kind, "actor": actor, "object": obj}
    if to is not None:
        doc["to"] = to
        doc["cc"] = cc or []
    return doc


def collection(url: str, total: int, items: list | None = None) -> dict:
    doc = {"@context": AS, "id": url, "type": "OrderedCollection", "totalItems": total}
    if items is not None:
        doc["orderedItems"] = items
    return doc
