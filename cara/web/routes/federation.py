"""ActivityPub routes (docs/federation.md): WebFinger, host-meta, NodeInfo, actors, collections,
notes, inboxes; and the pages to follow people on other servers. All 404 while federation is
off."""

import functools
import json

import click
from flask import Blueprint, Response, abort, current_app, redirect, request, url_for
from flask_limiter.util import get_remote_address
from flask_login import current_user, login_required

from cara import federation
from cara.core import policy, storage, tasks
from cara.core.models import RemoteActor
from cara.federation import (
    actors,
    capability,
    documents,
    follows,
    hashfeed,
    inbox,
    instances,
    interactions,
    local,
    media,
    tombstones,
)
from cara.web import limits
from cara.web.helpers import get_or_404, safe_next
from cara.web.htmx import render

bp = Blueprint("federation", __name__)
AP_TYPES = ("application/activity+json", "application/ld+json")
JRD = "application/jrd+json"


@bp.before_request
def _enabled():
    if not federation.enabled():
        abort(404)


def wants_activity() -> bool:
    """The request asks for ActivityPub JSON (content negotiation on the profile URL)."""
    accept = request.accept_mimetypes
    # Media types with parameters (ld+json; profile=...) are compared by their type alone.
    ap = max((q for value, q in accept if value.split(";")[0].strip() in AP_TYPES), default=0)
    return ap > 0 and ap >= accept["text/html"] and federation.enabled()


def _json(doc: dict, mimetype: str = "application/activity+json") -> Response:
    response = Response(json.dumps(doc), mimetype=mimetype)
    response.headers["Access-Control-Allow-Origin"] = "*"
    response.vary.add("Accept")
    return response


def _served(doc: dict | None, gone: dict | None = None) -> Response:
    """The document while it stands; 410 with its Tombstone once gone; else 404."""
    if doc is None and gone is None:
        abort(404)
    response = _json(doc or gone)
    response.status_code = 200 if doc is not None else 410
    return response


def _require_signature() -> None:
    """In authorized-fetch mode (FEDERATION_AUTHORIZED_FETCH, Mastodon's secure mode) a GET of
    an actor, object or collection must be signed by a server not blocked here: 401 else."""
    if not current_app.config["FEDERATION_AUTHORIZED_FETCH"]:
        return
    headers = {name.lower(): value for name, value in request.headers.items()}
    try:
        inbox.verify("GET", request.full_path.rstrip("?"), headers, b"")
    except inbox.Refused as refused:
        response = _json({"error": f"sign the request: {refused}"}, "application/json")
        response.status_code = 401
        abort(response)


def signed_fetch(view):
    """The view's document is for signed GETs only in authorized-fetch mode."""

    @functools.wraps(view)
    def checked(*args, **kwargs):
        _require_signature()
        return view(*args, **kwargs)

    return checked


def _user_or_404(username: str):
    return local.user(username) or abort(404)


def actor(username: str) -> Response:
    """The Person document (profiles.view hands over when wants_activity())."""
    _require_signature()
    user = local.user(username)
    if user is None:  # a deleted account's actor is gone; a suspended one's is not found
        deleted = local.deleted_user(username)
        return _served(None, deleted and tombstones.of_account(deleted, f"/@{username}", "Person"))
    return _json(local.actor(user))


@bp.get("/actor")
def instance_actor():
    """The instance's own actor, whose key signs the reports forwarded to other servers."""
    return _json(documents.instance_actor(hashfeed.instance_key().public_pem))


@bp.get("/.well-known/webfinger")
def webfinger():
    resource = request.args.get("resource", "").strip()
    if not resource:
        abort(400, "Give a resource, e.g. acct:name@" + documents.domain())
    user = local.webfinger(resource) or abort(404)
    return _json(documents.webfinger(user), JRD)


@bp.get("/.well-known/host-meta")
def host_meta():
    return Response(documents.host_meta(), mimetype="application/xrd+xml")


@bp.get("/.well-known/nodeinfo")
def nodeinfo_links():
    return _json(documents.nodeinfo_links(), "application/json")


@bp.get("/nodeinfo/2.1")
def nodeinfo():
    schema = f'application/json; profile="{documents.NODEINFO_SCHEMA}#"'
    return _json(local.nodeinfo(), schema)


@bp.get("/federation/hashes")
def hash_feed():
    """This instance's signed feed of confirmed AI hashes (docs/hash-lists.md)."""
    after = hashfeed.parse_cursor(request.args.get("after"))
    if after is None:
        abort(400, "after must be a cursor from this feed")
    return _json(hashfeed.page(after), "application/json")


@bp.get("/federation/hashes/key")
def hash_feed_key():
    return _json(hashfeed.key_document(), "application/json")


@bp.get("/@<username>/outbox")
@signed_fetch
def outbox(username: str):
    return _json(local.outbox(_user_or_404(username)))


@bp.get("/@<username>/ap/followers")
@signed_fetch
def followers(username: str):
    return _json(local.followers(_user_or_404(username)))


@bp.get("/@<username>/ap/following")
@signed_fetch
def following(username: str):
    return _json(local.following(_user_or_404(username)))


@bp.get("/ap/posts/<int:post_id>")
@signed_fetch
def note(post_id: int):
    doc = local.note(post_id)
    return _served(doc, None if doc else tombstones.of_post(post_id))


@bp.get("/ap/interactions/<int:interaction_id>")
@signed_fetch
def interaction(interaction_id: int):
    """A like's or repost's activity, or a reply's Note, sent from here (410 once undone or
    deleted; 404 for those about posts that are not public)."""
    doc = interactions.document(interaction_id)
    return _served(doc, None if doc else interactions.gone(interaction_id))


@bp.post("/@<username>/inbox")
def user_inbox(username: str):
    _user_or_404(username)
    return _receive()


@bp.post("/inbox")
def shared_inbox():
    return _receive()


def _too_many(seconds: int, message: str) -> Response:
    response = _json({"error": message}, "application/json")
    response.status_code, response.headers["Retry-After"] = 429, str(seconds)
    return response


def _receive():
    """Verify the signature here; handle the activity in a job (off the request path).

    Limits (shared by both inboxes): activities per sending server, the domain of the key
    (claimed, checked before the signature so a full budget costs no key fetch; counted only
    once verified, so no one spends another server's), and refused requests per address."""
    config = current_app.config
    address = get_remote_address()
    if wait := limits.wait("inbox_refused", config["FEDERATION_INBOX_REFUSED_RATE_LIMIT"], address):
        return _too_many(wait, "Too many refused activities from this address: slow down.")
    body = request.get_data(cache=False)
    if len(body) > config["FEDERATION_MAX_BYTES"]:
        abort(413, "The activity is too large.")
    headers = {name.lower(): value for name, value in request.headers.items()}
    per_server = config["FEDERATION_INBOX_RATE_LIMIT"]
    claimed = inbox.claimed_server(headers)
    if claimed and (wait := limits.wait("inbox_server", per_server, claimed)):
        return _too_many(wait, f"Too many activities from {claimed}: slow down.")
    try:
        sender = inbox.verify("POST", request.full_path.rstrip("?"), headers, body)
        try:
            activity = json.loads(body)
        except ValueError:
            raise inbox.Refused(400, "The body is not JSON.") from None
        inbox.check(sender, activity)
    except inbox.Refused as refused:
        limit = config["FEDERATION_INBOX_REFUSED_RATE_LIMIT"]
        limits.wait("inbox_refused", limit, address, count=True)
        return _json({"error": str(refused)}, "application/json"), refused.status
    server = instances.domain_of(sender.key_id)
    if wait := limits.wait("inbox_server", per_server, server, count=True):
        return _too_many(wait, f"Too many activities from {server}: slow down.")
    tasks.enqueue(inbox.process, sender.id, activity)
    return Response(status=202)


# --- pages: following people elsewhere ---------------------------------------------------------


def _page(handle: str = "", error: str = ""):
    posts = inbox.posts_for(current_user)
    return render(
        "federation/index.html",
        following=follows.following(current_user),
        requests=follows.requests(current_user),
        posts=posts,
        mine=interactions.marks(current_user, posts),
        handle=handle,
        error=error,
    )


@bp.get("/federation")
@login_required
def index():
    return _page(request.args.get("handle", ""))


@bp.get("/@<username>@<domain>")
@login_required
def profile(username: str, domain: str):
    """Someone on another server: who they are, their posts we received, a Follow button.
    Signed in only: an unknown address is looked up (fetched) on the viewer's behalf."""
    handle = f"@{username}@{domain}"
    if domain.lower() == documents.domain().lower():
        return redirect(url_for("profiles.view", username=username), 303)
    try:
        person = actors.find(handle, signer=current_user)
    except actors.FetchError as error:
        abort(404, f"Could not find {handle}: {error}")
    mine = [f for f in follows.following(current_user) if f.actor_id == person.id]
    relation = follows.relation(current_user, person)
    # A limited server's people: their posts wait behind a notice for those who do not
    # follow them (as Mastodon's "hidden by the moderators"), shown when asked.
    unfollowed = policy.remote_limited(current_user.id, person.id)
    behind_notice = unfollowed and request.args.get("show") != "posts"
    held = relation["blocked"] or behind_notice
    posts = [] if held else inbox.visible_posts_of(current_user, person)
    return render(
        "federation/profile.html",
        person=person,
        follow=mine[0] if mine else None,
        relation=relation,
        limited=instances.is_limited(person.domain),
        behind_notice=behind_notice,
        posts=posts,
        mine=interactions.marks(current_user, posts),
    )


@bp.post("/federation/actors/<int:actor_id>/<any(block, unblock, mute, unmute):action>")
@login_required
def block_or_mute(actor_id: int, action: str):
    """Block or mute someone elsewhere, or lift it; back to their profile page."""
    person = get_or_404(RemoteActor, actor_id)
    follows.set_block(current_user, person, action.removeprefix("un"), not action.startswith("un"))
    back = url_for("federation.profile", username=person.username, domain=person.domain)
    return redirect(back, 303)


@bp.post("/federation/follow")
@login_required
def follow():
    handle = request.form.get("handle", "").strip()
    if actors.parse_handle(handle) is None:
        abort(400, "Write the address as @name@server.")
    _, error = follows.follow(current_user, handle)
    if error:
        return _page(handle, error), 422
    if request.form.get("back") == "profile":  # the Follow button of a remote profile
        name, domain = actors.parse_handle(handle)
        return redirect(url_for("federation.profile", username=name, domain=domain), 303)
    return redirect(url_for("federation.index"), 303)


@bp.get("/federation/files/<int:media_id>/<name>")
def shared_file(media_id: int, name: str):
    """An image of a followers-only post, for its followers' servers: the capability URL of
    a delivered Note (cara.federation.capability). Private: never kept by a shared cache."""
    expires, sig = request.args.get("expires", ""), request.args.get("sig", "")
    if not capability.valid(media_id, name, expires, sig):
        abort(404)
    media = local.shared_file(media_id, name) or abort(404)
    mimetype = storage.MIME.get(name.rpartition(".")[2]) or abort(404)
    response = storage.send(media.id, name, False, mimetype) or abort(404)
    response.headers["Cache-Control"] = storage.cache_control(False)
    return response


@bp.get("/federation/media/<int:post_id>/<name>")
@login_required
def remote_image(post_id: int, name: str):
    """A remote image as we re-encoded it (never the other server's file)."""
    post = inbox.visible_post(current_user, post_id) or abort(404)
    response = media.send_shown(post, name) or abort(404)
    response.headers["Cache-Control"] = "private, max-age=86400"
    return response


def _back():
    return safe_next(request.form.get("next")) or url_for("federation.index")


@bp.post("/federation/posts/<int:post_id>/<any(like, unlike, repost, unrepost):action>")
@login_required
def react_remote(post_id: int, action: str):
    """Like or repost a remote post (sent to its author's server), or take it back."""
    post = inbox.visible_post(current_user, post_id) or abort(404)
    kind = "like" if action.endswith("like") else "announce"
    if action.startswith("un"):
        interactions.undo(current_user, post, kind)
    elif not interactions.react(current_user, post, kind):
        abort(403)
    return redirect(_back(), 303)


@bp.post("/federation/posts/<int:post_id>/reply")
@login_required
def reply_remote(post_id: int):
    """Reply to a remote post: a Create{Note} with inReplyTo, delivered to its author."""
    post = inbox.visible_post(current_user, post_id) or abort(404)
    if not policy.may_interact_remote(current_user, post, "reply"):
        abort(403)
    errors = interactions.reply(current_user, post, request.form.get("body", ""))
    if errors:
        abort(422, " ".join(errors["body"]))
    return redirect(_back(), 303)


@bp.post("/federation/replies/<int:interaction_id>/<any(edit, delete):action>")
@login_required
def change_reply(interaction_id: int, action: str):
    """Edit (Update{Note}) or delete (Delete{Tombstone}) a reply one sent to a remote post."""
    row = interactions.my_reply(current_user, interaction_id) or abort(404)
    if not policy.can_act(current_user):
        abort(403, "Your account cannot send anything now.")
    if action == "delete":
        interactions.delete_reply(current_user, row)
        return redirect(_back(), 303)
    errors = interactions.edit_reply(current_user, row, request.form.get("body", ""))
    if errors:
        abort(422, " ".join(errors["body"]))
    return redirect(_back(), 303)


@bp.get("/federation/avatars/<int:actor_id>/<name>")
def remote_avatar(actor_id: int, name: str):
    """A remote person's avatar as we re-encoded it (shown beside their replies, to anyone)."""
    person = get_or_404(RemoteActor, actor_id)
    response = media.send_avatar(person, name) or abort(404)
    response.headers["Cache-Control"] = "public, max-age=86400"
    return response


@bp.post("/federation/unfollow/<int:actor_id>")
@login_required
def unfollow(actor_id: int):
    follows.unfollow(current_user, actor_id)
    return redirect(url_for("federation.index"), 303)


@bp.post("/federation/requests/<int:follow_id>/<any(approve, reject):answer>")
@login_required
def answer(follow_id: int, answer: str):
    decide = follows.approve if answer == "approve" else follows.reject
    if not decide(current_user, follow_id):
        abort(404)
    return redirect(url_for("federation.index"), 303)


# --- admin commands: flask federation block / unblock ------------------------------------------


@bp.cli.command("block")
@click.argument("domain")
@click.option("--reason", default="", help="Kept with the block, for the other admins.")
def block_command(domain: str, reason: str):
    """Block a server (host[:port]): no fetches, no activities in or out; its people go."""
    server = instances.parse_domain(domain)
    if server is None:
        raise click.BadParameter("write the server's address, such as art.example")
    removed = instances.block(server, reason)
    click.echo(f"Blocked {server}; removed {removed} of its accounts")


@bp.cli.command("unblock")
@click.argument("domain")
def unblock_command(domain: str):
    """Lift a block (follows removed by it are not restored)."""
    click.echo(f"Unblocked {domain}" if instances.unblock(domain) else f"{domain} was not blocked")
