"""What the templates show, computed by the views: templates only read values, never query.

One function per part of a page that several views render; each takes the whole list a page
shows, so that a page of twenty posts costs the queries one post does.
"""

from dataclasses import dataclass, field

from flask_login import current_user
from flask_wtf.csrf import generate_csrf

from cara import moderation
from cara.core.models import Post, PostState
from cara.core.policy import can_change, can_moderate, can_view, repostable
from cara.federation import replies
from cara.posting import screening
from cara.social import actions, feeds
from cara.web.assets import data_saver


def cards(posts: list[Post], marks: feeds.Marks | None = None) -> dict:
    """Feed cards and their like/repost/bookmark buttons (feed/_card.html,
    social/_post_actions.html): card_keys and card_parts."""
    return {**card_keys(posts, marks), **card_parts(posts)}


def card_keys(posts: list[Post], marks: feeds.Marks | None = None) -> dict:
    """What the cached parts of cards are keyed by (cara.web.templating.cached_card): the
    viewer's marks (one query, unless the page has them), which posts may be reposted, each
    card's version and the viewer's state on it, the data-saver choice, and the page's one CSRF
    token (the forms take it as a value)."""
    marks = marks if marks is not None else feeds.marks_for(current_user, posts)
    viewer_id = current_user.id if current_user.is_authenticated else None  # the proxy once
    return {
        "marks": marks,
        "repostable": {p.id for p in posts if repostable(p)},
        "card_versions": {p.id: card_version(p) for p in posts},
        "card_states": {p.id: _state(p, marks, viewer_id) for p in posts},
        "saver": data_saver(),
        "csrf": generate_csrf() if viewer_id is not None else "",
    }


def card_parts(posts: list[Post]) -> dict:
    """What only a render of cards reads: each post's cover image (id -> Media, None while
    processing) and the authors' uploaded avatars (media id -> Media, one query)."""
    return {
        "covers": {p.id: feeds.first_image(p) for p in posts},
        "avatars": feeds.media_by_ids(p.author.avatar_media_id for p in posts),
    }


def _state(post: Post, marks: feeds.Marks, viewer_id: int | None) -> tuple:
    """What the action row shows of the viewer (`viewer_id`, None logged out): signed in, own
    post, liked, reposted, bookmarked."""
    if viewer_id is None:
        return (False,)
    pid = post.id
    own = viewer_id == post.author_id
    return (True, own, pid in marks.liked, pid in marks.reposted, pid in marks.bookmarked)


def card_version(post: Post) -> tuple:
    """Everything the cached part of a card may show, so that any change to it (an edit, a new
    like, a visibility change, the author's rename, new renditions or alt text) renders the card
    anew: the version cara.web.templating.cached_card compares. The post id comes first."""
    author = post.author
    images = tuple((m.id, m.alt_text, feeds.renditions_version(m)) for m in post.media)
    return (
        post.id,
        post.updated_at,
        post.state,
        post.visibility,
        post.caption,
        post.mature,
        post.like_count,
        post.comment_count,
        post.repost_count,
        author.username,
        author.display_name,
        author.avatar_media_id,
        images,
    )


def comments(post: Post) -> dict:
    """The comments section (social/_comments.html): threads, the replies from other servers
    the viewer sees, the comments the viewer may delete, and the commenters' uploaded avatars.
    A post that is not published has no comments section."""
    published = post.state == PostState.PUBLISHED
    threads = actions.comments(current_user, post) if published else []
    rows = [c for t in threads for c in (t.comment, *t.replies)]
    return {
        "threads": threads,
        "remote_comments": replies.shown(current_user, post) if published else [],
        "deletable": {c.id for c in rows if can_change(current_user, c)},
        "comment_avatars": feeds.media_by_ids(c.author.avatar_media_id for c in rows),
        "comment_max": actions.COMMENT_MAX,
    }


def profile(user) -> dict:
    """The profile header and its buttons (profiles/_header.html, social/_profile_actions.html)."""
    banner = feeds.media_by_id(user.banner_media_id) if user.banner_media_id else None
    shown = banner is not None and banner.renditions and can_view(current_user, banner)
    return {
        "avatar": feeds.media_by_id(user.avatar_media_id) if user.avatar_media_id else None,
        "banner": banner if shown else None,  # processed, not held, not taken down
        **profile_actions(user),
    }


def profile_actions(user) -> dict:
    """How the viewer stands towards `user` (following, requested, muted) and follow counts."""
    return {
        "relation": actions.relation(current_user, user),
        "follow_counts": actions.follow_counts(user),
    }


@dataclass(frozen=True)
class VerdictBox:
    shown: bool = False  # to the artist and to moderators only
    moderator: bool = False
    flagged: list = field(default_factory=list)  # [(Media, [signal dicts that decided])]
    open_appeal: bool = False  # the artist's appeal waits for a moderator


def verdict(post: Post) -> dict:
    """The AI filter's verdict box (moderation/_verdict.html), shown to the artist and to
    moderators: the flagged images with the signals that decided, and whether an appeal waits."""
    moderator = can_moderate(current_user)
    shown = current_user.is_authenticated and (current_user.id == post.author_id or moderator)
    held = shown and post.state in (PostState.HELD, PostState.REJECTED)
    flagged = [
        (m, [{**r, "plain": screening.plain_reason(r)} for r in screening.reasons(m)])
        for m in (screening.flagged(post) if held else [])
    ]
    author = held and current_user.id == post.author_id
    appeal = author and moderation.open_appeal(post) is not None
    return {"verdict": VerdictBox(shown, moderator, flagged, appeal)}


def post_page(post: Post) -> dict:
    """Everything posts/view.html shows besides the post itself."""
    published = post.state == PostState.PUBLISHED  # the only state with buttons and comments
    buttons = cards([post]) if published else {"marks": feeds.Marks(), "repostable": set()}
    return {**verdict(post), **buttons, **comments(post)}
