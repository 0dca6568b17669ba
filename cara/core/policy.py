"""The one authorization policy: who may see or change what, in Python and in SQL."""

from sqlalchemy import and_, or_, select, union

from cara.aifilter.signals import Outcome
from cara.core.extensions import db
from cara.core.models import (
    Block,
    Comment,
    Export,
    Follow,
    Instance,
    Job,
    Media,
    Mute,
    Post,
    PostState,
    RemoteActor,
    RemoteBlock,
    RemoteComment,
    RemoteFollow,
    RemotePost,
    Role,
    User,
    UserSession,
    Visibility,
    utcnow,
)


def blocked(a_id: int, b_id: int) -> bool:
    """True if either user blocks the other."""
    stmt = select(Block.blocker_id).where(
        or_(
            and_(Block.blocker_id == a_id, Block.blocked_id == b_id),
            and_(Block.blocker_id == b_id, Block.blocked_id == a_id),
        )
    )
    return db.session.scalar(stmt.limit(1)) is not None


def silenced(user_id: int, actor_id: int) -> bool:
    """True if `user_id` must not hear from `actor_id`: a block either way, or a mute."""
    muted = select(Mute.muter_id).where(Mute.muter_id == user_id, Mute.muted_id == actor_id)
    return blocked(user_id, actor_id) or db.session.scalar(muted.limit(1)) is not None


def _blocked(a: User | None, b: User) -> bool:
    return a is not None and a.id != b.id and blocked(a.id, b.id)


def _moderator(viewer: User | None) -> bool:
    return viewer is not None and viewer.is_moderator


def _taken_down(viewer: User | None, owner: User, removed: bool) -> bool:
    """Removed content, or a suspended person's, is hidden from all but them and moderators."""
    return (removed or owner.is_suspended) and not (
        _moderator(viewer) or (viewer is not None and viewer.id == owner.id)
    )


def followers_may_see(post: Post) -> bool:
    """Would an accepted follower of its author see `post` now (published, not removed, its
    author neither deleted nor suspended)? What a capability URL of its images needs."""
    author = post.author
    if author.deleted_at is not None or post.state != PostState.PUBLISHED:
        return False
    return not _taken_down(None, author, False)


def _held(media: Media) -> bool:
    """The AI filter held or rejected the image (no verdict yet: not held)."""
    return media.verdict is not None and media.verdict.decision != Outcome.PUBLISH


def can_view(viewer: User | None, obj) -> bool:
    """May `viewer` (None when logged out) see this post, media or profile?

    A suspended account's profile stays visible (it says "suspended"); its posts, comments
    and jobs, and removed ones, are seen by their author and moderators only.
    """
    viewer = viewer if viewer is not None and viewer.is_authenticated else None
    if isinstance(obj, Media):
        if obj.post is None:  # an avatar is as visible as its owner's profile
            owner = db.session.get(User, obj.owner_id)
            if obj.id == owner.banner_media_id:  # a banner too, unless held or taken down
                return (
                    not _held(obj)
                    and can_view(viewer, owner)
                    and not _taken_down(viewer, owner, False)
                )
            return obj.id == owner.avatar_media_id and can_view(viewer, owner)
        return can_view(viewer, obj.post)
    if isinstance(obj, User):
        return obj.deleted_at is None and not _blocked(viewer, obj)
    if isinstance(obj, Export):  # an archive of someone's data: theirs alone
        return viewer is not None and viewer.id == obj.user_id
    if isinstance(obj, Post):
        if obj.author.deleted_at is not None:
            return False
        if _owns(viewer, obj):
            return True
        if obj.state in (PostState.HELD, PostState.REJECTED, PostState.REMOVED):
            return _moderator(viewer)
        if _taken_down(viewer, obj.author, False):
            return False
        if obj.state != PostState.PUBLISHED or _blocked(viewer, obj.author):
            return False
        if obj.visibility == Visibility.FOLLOWERS or obj.author.is_private:
            return viewer is not None and (viewer.follows(obj.author) or viewer.is_moderator)
        return True
    if isinstance(obj, Comment):
        post = db.session.get(Post, obj.post_id)
        if _taken_down(viewer, obj.author, obj.removed_at is not None):
            return False
        return can_view(viewer, post) and can_view(viewer, obj.author)
    if isinstance(obj, Job):
        owner = db.session.get(User, obj.owner_id)
        return not _taken_down(viewer, owner, obj.removed_at is not None) and can_view(
            viewer, owner
        )
    if isinstance(obj, RemoteComment):  # a reply from elsewhere: shown to this viewer
        post = db.session.get(Post, obj.post_id)
        if not can_view(viewer, post):
            return False
        shown = select(RemoteComment.id).where(
            RemoteComment.id == obj.id, *visible_remote_comments(viewer, post)
        )
        return db.session.scalar(shown) is not None
    raise TypeError(f"no view policy for {type(obj).__name__}")


# --- people on other servers (federation) -------------------------------------------------


def remote_follower(user_id: int, actor_id: int) -> bool:
    """True if the remote actor follows `user_id` (accepted)."""
    stmt = select(RemoteFollow.id).filter_by(
        user_id=user_id, actor_id=actor_id, inbound=True, pending=False
    )
    return db.session.scalar(stmt.limit(1)) is not None


def remote_blocked(user_id: int, actor_id: int) -> bool:
    """True if the local account blocks the remote actor: their replies, likes, reposts,
    follows and mentions are refused."""
    stmt = select(RemoteBlock.user_id).filter_by(user_id=user_id, actor_id=actor_id, kind="block")
    return db.session.scalar(stmt.limit(1)) is not None


def remote_silenced(user_id: int, actor_id: int) -> bool:
    """True if `user_id` must not hear from the remote actor: blocked or muted."""
    stmt = select(RemoteBlock.user_id).filter_by(user_id=user_id, actor_id=actor_id)
    return db.session.scalar(stmt.limit(1)) is not None


def remote_limited(user_id: int, actor_id: int) -> bool:
    """True if the remote actor's server is limited here (Instance.limited) and `user_id`
    does not follow them: a limited server's people reach only their followers."""
    limited = select(Instance.domain).where(Instance.limited.is_(True))
    on_limited = select(RemoteActor.id).where(
        RemoteActor.id == actor_id, RemoteActor.domain.in_(limited)
    )
    if db.session.scalar(on_limited) is None:
        return False
    follows = select(RemoteFollow.id).filter_by(
        user_id=user_id, actor_id=actor_id, inbound=False, pending=False
    )
    return db.session.scalar(follows.limit(1)) is None


def remote_hidden(viewer: User):
    """Ids of the remote actors hidden from `viewer`: blocked or muted (the SQL form)."""
    return select(RemoteBlock.actor_id).where(RemoteBlock.user_id == viewer.id)


def remote_may_see(actor_id: int, post: Post) -> bool:
    """May a remote actor like or reply to this post? Not if its artist blocks them; else
    anyone a logged-out visitor would see it for; a followers-only post (or a private
    account's), its accepted remote followers only. Never a post that is not published or whose
    artist is gone."""
    if remote_blocked(post.author_id, actor_id):
        return False
    if can_view(None, post):
        return True
    live = post.state == PostState.PUBLISHED and post.author.deleted_at is None
    return live and not post.author.is_suspended and remote_follower(post.author_id, actor_id)


def may_interact_remote(viewer: User | None, post: RemotePost, kind: str) -> bool:
    """May `viewer` like, reply to (any post they see: public, or they follow its author) or
    repost (public posts only) a remote post? Able to act, and not blocking its author."""
    if not can_act(viewer) or remote_blocked(viewer.id, post.actor_id):
        return False
    if kind == "announce":
        return post.public
    follows = select(RemoteFollow.id).filter_by(
        user_id=viewer.id, actor_id=post.actor_id, inbound=False, pending=False
    )
    return post.public or db.session.scalar(follows.limit(1)) is not None


def visible_remote_comments(viewer: User | None, post: Post) -> list:
    """WHERE clauses on RemoteComment for the replies from other servers `viewer` sees on a
    post they may see: public ones; followers-addressed ones to the artist and to local people
    who follow the replying actor; those addressed to the artist alone, to the artist only;
    never those of a remote actor the viewer blocked or muted, nor hidden or removed ones."""
    viewer = signed_in(viewer)
    clauses = [RemoteComment.post_id == post.id, RemoteComment.removed_at.is_(None)]
    if viewer is None:
        return [*clauses, RemoteComment.audience == "public"]
    clauses.append(RemoteComment.actor_id.not_in(remote_hidden(viewer)))
    if viewer.id == post.author_id:
        return clauses
    follows = select(RemoteFollow.actor_id).where(
        RemoteFollow.user_id == viewer.id,
        RemoteFollow.inbound.is_(False),
        RemoteFollow.pending.is_(False),
    )
    followers = and_(RemoteComment.audience == "followers", RemoteComment.actor_id.in_(follows))
    return [*clauses, or_(RemoteComment.audience == "public", followers)]


def can_change(viewer: User | None, obj) -> bool:
    """May `viewer` edit or delete this object?"""
    if viewer is None or not viewer.is_authenticated:
        return False
    if isinstance(obj, User):
        return viewer.id == obj.id
    if isinstance(obj, Post | Media):
        return _owns(viewer, obj)
    if isinstance(obj, Comment):
        # Its author, the artist whose post it is on, or a moderator may delete a comment.
        post = db.session.get(Post, obj.post_id)
        return viewer.id in (obj.author_id, post.author_id) or viewer.is_moderator
    if isinstance(obj, RemoteComment):  # a reply from elsewhere: hidden by the artist, or
        post = db.session.get(Post, obj.post_id)  # removed by a moderator
        return viewer.id == post.author_id or viewer.is_moderator
    if isinstance(obj, Job):
        return viewer.id == obj.owner_id
    if isinstance(obj, UserSession):  # ending a session: only its own account's
        return viewer.id == obj.user_id
    raise TypeError(f"no change policy for {type(obj).__name__}")


def can_act(viewer: User | None) -> bool:
    """May `viewer` post, comment, like, follow and report at all? Logged in, not suspended,
    the email address confirmed and, when sign-ups need approval, approved by an admin (a
    waiting account may still log in)."""
    return (
        viewer is not None
        and viewer.is_authenticated
        and not viewer.is_suspended
        and viewer.email_verified
        and viewer.approved
    )


def can_interact(viewer: User | None, post: Post) -> bool:
    """May `viewer` like, bookmark or comment on the post? Able to act, seeing it, and it is
    published: a draft, a post in processing or one held for review takes no likes or
    comments, not even from its artist or a moderator; nor does a suspended artist's post,
    which moderators still see."""
    return (
        can_act(viewer)
        and post.state == PostState.PUBLISHED
        and not post.author.is_suspended
        and can_view(viewer, post)
    )


def repostable(post: Post) -> bool:
    """Only published public posts of public accounts are reposted: followers-only art stays in
    its circle, and nothing waiting for (or refused by) review spreads."""
    return (
        post.state == PostState.PUBLISHED
        and post.visibility == Visibility.PUBLIC
        and not post.author.is_private
    )


def can_repost(viewer: User | None, post: Post) -> bool:
    return can_interact(viewer, post) and viewer.id != post.author_id and repostable(post)


def can_follow(viewer: User | None, user: User) -> bool:
    """Follow anyone but yourself, unless a block stands between you."""
    return (
        can_act(viewer)
        and viewer.id != user.id
        and not user.is_suspended
        and not _blocked(viewer, user)
    )


def can_report(viewer: User | None, user: User) -> bool:
    """May `viewer` report this account? Across a block too (the person who blocked you can
    be reported), but not a deleted account: its name leads nowhere."""
    return can_act(viewer) and user.deleted_at is None


def has_public_feed(user: User) -> bool:
    """Does the account have an Atom feed? Feeds are for anyone, so only a public account's,
    and none once it is deleted (what a suspended account's feed lists, `visible` decides)."""
    return user.deleted_at is None and not user.is_private


def _owns(viewer: User | None, obj) -> bool:
    owner_id = obj.author_id if isinstance(obj, Post) else obj.owner_id
    return viewer is not None and viewer.id == owner_id


def can_moderate(viewer: User | None) -> bool:
    """Moderators and admins review held posts, appeals and reports."""
    return viewer is not None and viewer.is_authenticated and viewer.is_moderator


def can_admin(viewer: User | None) -> bool:
    """Admins only: site-wide settings such as the known-hash lists."""
    return viewer is not None and viewer.is_authenticated and viewer.role == Role.ADMIN


def can_decide(viewer: User | None, owner: User) -> bool:
    """May this moderator decide on `owner`'s content or account? Never their own; only an
    admin may warn or suspend another moderator or admin."""
    return (
        can_moderate(viewer)
        and viewer.id != owner.id
        and (not owner.is_moderator or viewer.role == Role.ADMIN)
    )


def moderating(viewer: User | None, comment: Comment | RemoteComment) -> bool:
    """True when `viewer` may delete the comment only because they moderate (it is audited;
    a reply from elsewhere has no author here)."""
    post = db.session.get(Post, comment.post_id)
    author_id = comment.author_id if isinstance(comment, Comment) else None
    return can_moderate(viewer) and viewer.id not in (author_id, post.author_id)


# --- the same rules as SQL, for queries over many rows ---------------------------------------


def signed_in(viewer) -> User | None:
    """The viewer when logged in, else None (flask-login gives an anonymous user object)."""
    return viewer if viewer is not None and viewer.is_authenticated else None


def _block_ids(viewer: User) -> list:
    return [
        select(Block.blocked_id).where(Block.blocker_id == viewer.id),
        select(Block.blocker_id).where(Block.blocked_id == viewer.id),
    ]


def not_suspended(now=None):
    """WHERE clause on User: the account is not suspended at `now` (default: now; a bound
    parameter in a statement built once). The SQL form of is_suspended."""
    return or_(
        User.suspended_at.is_(None),
        and_(
            User.suspended_until.is_not(None),
            User.suspended_until <= (utcnow() if now is None else now),
        ),
    )


def suspended_ids(now=None):
    """Ids of the accounts suspended at `now` (as in not_suspended)."""
    return select(User.id).where(~not_suspended(now))


def present(user_id):
    """SQL: the account in column `user_id` is not deleted. A deleted account's profile, posts,
    comments and jobs disappear for everyone the moment it is deleted, before the purge job."""
    return user_id.not_in(select(User.id).where(User.deleted_at.is_not(None)))


def blocked_either_way(viewer: User):
    """Ids of users `viewer` blocks or is blocked by (the SQL form of `blocked`)."""
    return union(*_block_ids(viewer))


def hidden_authors(viewer: User):
    """Ids hidden from `viewer`: blocked either way, or muted."""
    return union(*_block_ids(viewer), select(Mute.muted_id).where(Mute.muter_id == viewer.id))


def followed_ids(viewer: User):
    return select(Follow.followee_id).where(
        Follow.follower_id == viewer.id, Follow.pending.is_(False)
    )


def visible(viewer: User | None, moderator: bool = False, now=None) -> list:
    """WHERE clauses (posts joined to their author) for what `viewer` may see in a feed.

    The SQL form of can_view for posts, for everyone but moderators: their feeds, search and
    tag pages are a member's (followers-only posts of people they do not follow stay out),
    although can_view lets them open any post they are sent to, e.g. from a report.
    `moderator=True` (an artist's own timeline) applies can_view's moderator rule: every audience,
    published or waiting for review, and suspended accounts' posts. `now` as in not_suspended.
    """
    viewer = signed_in(viewer)
    public = and_(Post.visibility == Visibility.PUBLIC, User.is_private.is_(False))
    present = User.deleted_at.is_(None)  # the author's row is joined: no subquery needed
    if viewer is None:
        return [Post.state == PostState.PUBLISHED, public, not_suspended(now), present]
    hidden = Post.author_id.not_in(hidden_authors(viewer))
    if moderator and viewer.is_moderator:
        states = [PostState.PUBLISHED, PostState.HELD, PostState.REJECTED]
        return [Post.state.in_(states), hidden, present]
    audience = or_(public, Post.author_id == viewer.id, Post.author_id.in_(followed_ids(viewer)))
    return [Post.state == PostState.PUBLISHED, audience, hidden, not_suspended(now), present]


def visible_comments(viewer: User | None) -> list:
    """WHERE clauses (comments joined to their author) for the comments `viewer` may see:
    not by a deleted account; not removed and not by a suspended account, unless theirs or the
    viewer moderates."""
    viewer = signed_in(viewer)
    gone = present(Comment.author_id)
    if _moderator(viewer):
        return [gone, Comment.author_id.not_in(hidden_authors(viewer))]
    shown = and_(Comment.removed_at.is_(None), not_suspended())
    if viewer is None:
        return [gone, shown]
    return [
        gone,
        or_(shown, Comment.author_id == viewer.id),
        Comment.author_id.not_in(hidden_authors(viewer)),
    ]


def visible_jobs(viewer: User | None) -> list:
    """WHERE clauses on Job for the board: not removed, not by a deleted, suspended or blocked
    account."""
    viewer = signed_in(viewer)
    clauses = [
        Job.removed_at.is_(None),
        Job.owner_id.not_in(suspended_ids()),
        present(Job.owner_id),
    ]
    if viewer is not None:
        clauses.append(Job.owner_id.not_in(blocked_either_way(viewer)))
    return clauses
