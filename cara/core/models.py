"""Database models (SQLAlchemy 2.0 typed). The row is the truth; Redis only carries work."""

from __future__ import annotations

import enum
from datetime import UTC, datetime

from flask_login import UserMixin
from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    CheckConstraint,
    Column,
    DateTime,
    Enum,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Table,
    Text,
    UniqueConstraint,
    event,
    func,
    inspect,
    select,
)
from sqlalchemy import false as sa_false
from sqlalchemy import true as sa_true
from sqlalchemy.dialects.postgresql import TSVECTOR
from sqlalchemy.orm import Mapped, Session, mapped_column, relationship
from werkzeug.security import check_password_hash, generate_password_hash

from cara.core.extensions import db


def utcnow() -> datetime:
    return datetime.now(UTC)


class TZDateTime(db.TypeDecorator):
    """Timezone-aware UTC datetimes on every backend (SQLite stores them naive)."""

    impl = DateTime
    cache_ok = True

    def process_bind_param(self, value, dialect):
        if value is not None and value.tzinfo is not None:
            value = value.astimezone(UTC).replace(tzinfo=None)
        return value

    def process_result_value(self, value, dialect):
        return value.replace(tzinfo=UTC) if value is not None else None


def _enum(cls: type[enum.Enum], name: str) -> Enum:
    # Stored as plain strings with a CHECK constraint: portable, readable in SQL.
    return Enum(cls, name=name, native_enum=False, length=20, values_callable=_values)


def _values(cls):
    return [m.value for m in cls]


class Role(enum.StrEnum):
    MEMBER = "member"
    MODERATOR = "moderator"
    ADMIN = "admin"


class PostState(enum.StrEnum):
    DRAFT = "draft"  # uploaded, not yet described and published
    PENDING = "pending"  # published by the artist, images still processing
    PUBLISHED = "published"
    HELD = "held"  # suspected AI: visible to the artist and moderators only
    REJECTED = "rejected"  # matches a known AI image, or confirmed by a moderator
    FAILED = "failed"  # processing gave up after its retries
    REMOVED = "removed"  # taken down by a moderator for a rule violation (not the AI list)


class MediaState(enum.StrEnum):
    PENDING = "pending"
    PROCESSING = "processing"
    DONE = "done"
    FAILED = "failed"


class Visibility(enum.StrEnum):
    PUBLIC = "public"
    FOLLOWERS = "followers"


# Stored in plain String columns (as they always were); the enums name the values in code.
class ReportStatus(enum.StrEnum):
    OPEN = "open"
    CLOSED = "closed"


class AppealStatus(enum.StrEnum):
    OPEN = "open"
    GRANTED = "granted"  # the post was cleared
    DENIED = "denied"  # the post was confirmed as AI


post_tags = Table(
    "post_tags",
    db.metadata,
    Column("post_id", ForeignKey("posts.id", ondelete="CASCADE"), primary_key=True),
    Column("tag_id", ForeignKey("tags.id", ondelete="CASCADE"), primary_key=True),
    # The post's publication time, copied here so that a tag page walks (tag, time) in an
    # index and stops after a page, however many posts the tag has; kept by `_tag_times`.
    Column("published_at", TZDateTime),
)


class User(UserMixin, db.Model):
    __tablename__ = "users"

    id: Mapped[int] = mapped_column(primary_key=True)
    # Usernames are lower-case only (a-z, 0-9, _), so uniqueness is case-insensitive.
    username: Mapped[str] = mapped_column(String(30), unique=True)
    email: Mapped[str] = mapped_column(String(254), unique=True)  # stored lower-cased
    password_hash: Mapped[str] = mapped_column(String(255))
    display_name: Mapped[str] = mapped_column(String(60), default="")
    bio: Mapped[str] = mapped_column(Text, default="")
    links: Mapped[list] = mapped_column(JSON, default=list)
    avatar_media_id: Mapped[int | None] = mapped_column(
        ForeignKey("media.id", ondelete="SET NULL", use_alter=True)
    )
    # The profile header's banner (processed and screened like post images: a held one is
    # not shown).
    banner_media_id: Mapped[int | None] = mapped_column(
        ForeignKey("media.id", ondelete="SET NULL", use_alter=True)
    )
    role: Mapped[Role] = mapped_column(_enum(Role, "role"), default=Role.MEMBER)
    open_to_work: Mapped[bool] = mapped_column(Boolean, default=False)
    is_private: Mapped[bool] = mapped_column(Boolean, default=False)
    show_mature: Mapped[bool] = mapped_column(Boolean, default=False)
    data_saver: Mapped[bool] = mapped_column(Boolean, default=False)
    # The colour scheme: "system" follows the browser's preference; "light" or "dark" overrides it.
    theme: Mapped[str] = mapped_column(String(10), default="system", server_default="system")
    noindex: Mapped[bool] = mapped_column(Boolean, default=False)
    licence: Mapped[str] = mapped_column(String(20), default="all-rights-reserved")
    data_mining: Mapped[str] = mapped_column(String(40), default="DMI-PROHIBITED-AIMLTRAINING")
    created_at: Mapped[datetime] = mapped_column(TZDateTime, default=utcnow)
    # Moderation: suspended from suspended_at until suspended_until (None: until lifted).
    # Indexed: every Following page and visibility check lists the suspended accounts (few).
    suspended_at: Mapped[datetime | None] = mapped_column(TZDateTime, index=True)
    suspended_until: Mapped[datetime | None] = mapped_column(TZDateTime)
    # Set when the owner deletes the account: hidden from everyone at once, purged by a job;
    # the row stays as a tombstone so the username is never given to someone else.
    deleted_at: Mapped[datetime | None] = mapped_column(TZDateTime, index=True)
    purged_at: Mapped[datetime | None] = mapped_column(TZDateTime)
    # Held by the purge job while it runs (renewed by tasks.keep_leased): a sweep re-enqueues
    # a purge only once this has lapsed, so a long purge never runs twice at once.
    purge_lease_until: Mapped[datetime | None] = mapped_column(TZDateTime)
    # Sign-up (cara.accounts.auth.sign_up) clears these; until both are true the account may
    # log in but not post or interact (policy.can_act).
    email_verified: Mapped[bool] = mapped_column(Boolean, default=True, server_default=sa_true())
    approved: Mapped[bool] = mapped_column(Boolean, default=True, server_default=sa_true())
    # Set by sign-up: the welcome (cara.accounts.onboarding) is still to come; cleared once the
    # artist finishes or skips it, so it is shown once per account.
    welcome_pending: Mapped[bool] = mapped_column(Boolean, default=False, server_default=sa_false())

    posts: Mapped[list[Post]] = relationship(back_populates="author", passive_deletes=True)

    def set_password(self, password: str) -> None:
        self.password_hash = generate_password_hash(password)

    def check_password(self, password: str) -> bool:
        return check_password_hash(self.password_hash, password)

    # The server-side session (UserSession) this object was logged in or loaded with; its
    # token is what the session and remember cookies carry (cara.accounts.sessions).
    session_token = None
    session_id = None

    def get_id(self) -> str | None:
        return self.session_token

    def __eq__(self, other) -> bool:
        """The same account (UserMixin compares get_id, which is now the session's token)."""
        if not isinstance(other, User):
            return NotImplemented
        return self is other or (self.id is not None and self.id == other.id)

    __hash__ = UserMixin.__hash__  # object identity; defining __eq__ would unset it

    @property
    def name(self) -> str:
        return self.display_name or self.username

    @property
    def is_moderator(self) -> bool:
        return self.role in (Role.MODERATOR, Role.ADMIN)

    @property
    def is_suspended(self) -> bool:
        """Suspended now (a suspension with an end date lapses by itself)."""
        until = self.suspended_until
        return self.suspended_at is not None and (until is None or until > utcnow())

    def follows(self, other: User) -> bool:
        return (
            db.session.scalar(
                select(Follow).filter_by(follower_id=self.id, followee_id=other.id, pending=False)
            )
            is not None
        )


class Post(db.Model):
    __tablename__ = "posts"
    __table_args__ = (
        Index("ix_posts_state_published", "state", "published_at", "id"),
        Index("ix_posts_author_published", "author_id", "published_at", "id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    author_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    caption: Mapped[str] = mapped_column(Text, default="")
    state: Mapped[PostState] = mapped_column(
        _enum(PostState, "post_state"), default=PostState.DRAFT
    )
    visibility: Mapped[Visibility] = mapped_column(
        _enum(Visibility, "visibility"), default=Visibility.PUBLIC
    )
    in_portfolio: Mapped[bool] = mapped_column(Boolean, default=False)
    portfolio_position: Mapped[int] = mapped_column(Integer, default=0)
    pinned: Mapped[bool] = mapped_column(Boolean, default=False)
    mature: Mapped[bool] = mapped_column(Boolean, default=False)
    protected: Mapped[bool] = mapped_column(Boolean, default=False)  # Glaze/Nightshade: lossless
    like_count: Mapped[int] = mapped_column(Integer, default=0)
    comment_count: Mapped[int] = mapped_column(Integer, default=0)
    repost_count: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(TZDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(TZDateTime, default=utcnow, onupdate=utcnow)
    published_at: Mapped[datetime | None] = mapped_column(TZDateTime)
    removed_reason: Mapped[str] = mapped_column(Text, default="")  # state REMOVED: why
    # Folded words of caption and tags, written by cara.social.search (a tsvector on Postgres);
    # the full-text indexes (FTS5, GIN) are in migrations only. Deferred: cards never read it.
    search_text: Mapped[str] = mapped_column(
        Text().with_variant(TSVECTOR(), "postgresql"), default="", server_default="", deferred=True
    )

    author: Mapped[User] = relationship(back_populates="posts")
    media: Mapped[list[Media]] = relationship(
        back_populates="post",
        order_by="Media.position",
        cascade="all, delete-orphan",
        passive_deletes=True,
        foreign_keys="Media.post_id",
    )
    tags: Mapped[list[Tag]] = relationship(secondary=post_tags, order_by="Tag.name")


class Media(db.Model):
    """One image of a post (not `Image`, which is Pillow's)."""

    __tablename__ = "media"
    __table_args__ = (Index("ix_media_state_lease", "state", "lease_until"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    post_id: Mapped[int | None] = mapped_column(
        ForeignKey("posts.id", ondelete="CASCADE"), index=True
    )
    owner_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    position: Mapped[int] = mapped_column(Integer, default=0)
    alt_text: Mapped[str] = mapped_column(Text, default="")
    original_name: Mapped[str] = mapped_column(String(255), default="")  # as uploaded, for messages
    original_path: Mapped[str] = mapped_column(String(255))  # relative to MEDIA_DIR
    sha256: Mapped[str] = mapped_column(String(64), index=True)
    format: Mapped[str] = mapped_column(String(10))
    width: Mapped[int] = mapped_column(Integer, default=0)
    height: Mapped[int] = mapped_column(Integer, default=0)
    state: Mapped[MediaState] = mapped_column(
        _enum(MediaState, "media_state"), default=MediaState.PENDING
    )
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    lease_until: Mapped[datetime | None] = mapped_column(TZDateTime)
    error: Mapped[str] = mapped_column(Text, default="")
    # Content version in derivative names: bumped when derivatives are rewritten.
    version: Mapped[str] = mapped_column(String(32), default="")
    renditions: Mapped[list] = mapped_column(JSON, default=list)  # [{w, h, fmt, name}]
    placeholder_color: Mapped[str] = mapped_column(String(7), default="#888888")
    blurhash: Mapped[str | None] = mapped_column(String(64))  # for federated attachments
    phash: Mapped[str | None] = mapped_column(String(16))
    pdq: Mapped[str | None] = mapped_column(String(64))
    crop_x: Mapped[float] = mapped_column(default=0.5)  # square-crop focus, 0..1
    crop_y: Mapped[float] = mapped_column(default=0.5)
    created_at: Mapped[datetime] = mapped_column(TZDateTime, default=utcnow)
    byte_size: Mapped[int] = mapped_column(BigInteger, default=0, server_default="0")  # original
    # When processing last finished (ops: the upload-to-done latency in /metrics).
    processed_at: Mapped[datetime | None] = mapped_column(TZDateTime, index=True)

    post: Mapped[Post | None] = relationship(back_populates="media", foreign_keys=[post_id])
    verdict: Mapped[Verdict | None] = relationship(
        back_populates="media", cascade="all, delete-orphan", passive_deletes=True
    )


class Tag(db.Model):
    __tablename__ = "tags"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(50), unique=True)  # lower-case, without '#'


class Follow(db.Model):
    __tablename__ = "follows"
    __table_args__ = (CheckConstraint("follower_id <> followee_id", name="not_self"),)

    follower_id: Mapped[int] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), primary_key=True
    )
    followee_id: Mapped[int] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), primary_key=True, index=True
    )
    pending: Mapped[bool] = mapped_column(Boolean, default=False)  # request to a private account
    created_at: Mapped[datetime] = mapped_column(TZDateTime, default=utcnow)


class Like(db.Model):
    __tablename__ = "likes"

    user_id: Mapped[int] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), primary_key=True
    )
    post_id: Mapped[int] = mapped_column(
        ForeignKey("posts.id", ondelete="CASCADE"), primary_key=True, index=True
    )
    created_at: Mapped[datetime] = mapped_column(TZDateTime, default=utcnow)


class Repost(db.Model):
    __tablename__ = "reposts"
    __table_args__ = (UniqueConstraint("user_id", "post_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    post_id: Mapped[int] = mapped_column(ForeignKey("posts.id", ondelete="CASCADE"), index=True)
    created_at: Mapped[datetime] = mapped_column(TZDateTime, default=utcnow, index=True)


class Bookmark(db.Model):
    __tablename__ = "bookmarks"

    user_id: Mapped[int] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), primary_key=True
    )
    post_id: Mapped[int] = mapped_column(
        ForeignKey("posts.id", ondelete="CASCADE"), primary_key=True
    )
    created_at: Mapped[datetime] = mapped_column(TZDateTime, default=utcnow)


class Comment(db.Model):
    __tablename__ = "comments"

    id: Mapped[int] = mapped_column(primary_key=True)
    post_id: Mapped[int] = mapped_column(ForeignKey("posts.id", ondelete="CASCADE"), index=True)
    author_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    parent_id: Mapped[int | None] = mapped_column(ForeignKey("comments.id", ondelete="CASCADE"))
    body: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(TZDateTime, default=utcnow)
    removed_at: Mapped[datetime | None] = mapped_column(TZDateTime)  # by a moderator
    removed_reason: Mapped[str] = mapped_column(Text, default="")

    author: Mapped[User] = relationship()


class Block(db.Model):
    __tablename__ = "blocks"

    blocker_id: Mapped[int] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), primary_key=True
    )
    blocked_id: Mapped[int] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), primary_key=True, index=True
    )
    created_at: Mapped[datetime] = mapped_column(TZDateTime, default=utcnow)


class Mute(db.Model):
    __tablename__ = "mutes"

    muter_id: Mapped[int] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), primary_key=True
    )
    muted_id: Mapped[int] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), primary_key=True
    )
    created_at: Mapped[datetime] = mapped_column(TZDateTime, default=utcnow)


class Notification(db.Model):
    __tablename__ = "notifications"
    __table_args__ = (Index("ix_notifications_user_read", "user_id", "read_at", "id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    actor_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(20))  # follow, like, comment, reply, mention, ...
    post_id: Mapped[int | None] = mapped_column(ForeignKey("posts.id", ondelete="CASCADE"))
    comment_id: Mapped[int | None] = mapped_column(ForeignKey("comments.id", ondelete="CASCADE"))
    # Who did it when they are on another server (actor_id is then None).
    remote_actor_id: Mapped[int | None] = mapped_column(
        ForeignKey("remote_actors.id", ondelete="CASCADE")
    )
    text: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(TZDateTime, default=utcnow)
    read_at: Mapped[datetime | None] = mapped_column(TZDateTime)


class Report(db.Model):
    __tablename__ = "reports"

    id: Mapped[int] = mapped_column(primary_key=True)
    reporter_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    # Sent by another server (an ActivityPub Flag): its domain; no reporter here then.
    reporter_domain: Mapped[str] = mapped_column(String(255), default="", server_default="")
    # post, comment, user, job, remote_comment, remote_actor
    subject_kind: Mapped[str] = mapped_column(String(20))
    subject_id: Mapped[int] = mapped_column(Integer)
    reason: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(10), default=ReportStatus.OPEN, index=True)
    created_at: Mapped[datetime] = mapped_column(TZDateTime, default=utcnow)


class Verdict(db.Model):
    """The AI filter's decision for one image, with the signals that explain it."""

    __tablename__ = "verdicts"

    id: Mapped[int] = mapped_column(primary_key=True)
    media_id: Mapped[int] = mapped_column(ForeignKey("media.id", ondelete="CASCADE"), unique=True)
    decision: Mapped[str] = mapped_column(String(10))  # an Outcome (cara.aifilter.signals)
    signals: Mapped[list] = mapped_column(JSON, default=list)  # [{name, verdict, score, evidence}]
    created_at: Mapped[datetime] = mapped_column(TZDateTime, default=utcnow)

    media: Mapped[Media] = relationship(back_populates="verdict")


class KnownHash(db.Model):
    """A perceptual hash of a known AI image (listed) or of a cleared human one (allowed)."""

    __tablename__ = "known_hashes"
    __table_args__ = (Index("ix_known_hashes_phash", "phash"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    # One stored variant (original, mirrored, cropped...) of one image: both hashes, in hex.
    phash: Mapped[str] = mapped_column(String(16))
    pdq: Mapped[str] = mapped_column(String(64))
    variant: Mapped[str] = mapped_column(String(20), default="orig")  # orig, mirror, crop-...
    allow: Mapped[bool] = mapped_column(Boolean, default=False)  # True: cleared, never flags
    source: Mapped[str] = mapped_column(String(20))  # moderator, import, provenance
    trusted: Mapped[bool] = mapped_column(Boolean, default=True)  # imported lists may be untrusted
    note: Mapped[str] = mapped_column(Text, default="")
    media_id: Mapped[int | None] = mapped_column(ForeignKey("media.id", ondelete="SET NULL"))
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(TZDateTime, default=utcnow)
    # Rows pulled from another instance's shared list (source "subscription"): which
    # subscription, and the feed entry they came with (a removal names it).
    subscription_id: Mapped[int | None] = mapped_column(
        ForeignKey("hash_subscriptions.id", ondelete="CASCADE"), index=True
    )
    feed_ref: Mapped[str | None] = mapped_column(String(64))


class KnownFeature(db.Model):
    """Local features (ORB keypoints, cara.aifilter.features) of one known AI image: the
    second matching stage, which survives crops, rotations, frames and collages."""

    __tablename__ = "known_features"

    id: Mapped[int] = mapped_column(primary_key=True)
    data: Mapped[bytes] = mapped_column(LargeBinary)  # features.serialize(), ~14 KB
    trusted: Mapped[bool] = mapped_column(Boolean, default=True)
    source: Mapped[str] = mapped_column(String(20))  # as KnownHash.source
    note: Mapped[str] = mapped_column(Text, default="")
    media_id: Mapped[int | None] = mapped_column(
        ForeignKey("media.id", ondelete="SET NULL"), index=True
    )
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(TZDateTime, default=utcnow)
    subscription_id: Mapped[int | None] = mapped_column(
        ForeignKey("hash_subscriptions.id", ondelete="CASCADE"), index=True
    )
    feed_ref: Mapped[str | None] = mapped_column(String(64))


class HashFeedEntry(db.Model):
    """One entry of this instance's published AI-hash feed (docs/hash-lists.md): an image a
    moderator confirmed as AI (`add`, with its hash variants and local features) or the
    retraction of one (`remove`). The id is the feed's cursor; an `add` that was retracted
    is deleted, so new subscribers never receive the hashes of a cleared picture."""

    __tablename__ = "hash_feed"
    # Cursors never go back: SQLite would reuse the id of a deleted last row without this.
    __table_args__ = {"sqlite_autoincrement": True}

    id: Mapped[int] = mapped_column(primary_key=True)
    op: Mapped[str] = mapped_column(String(6))  # add, remove
    ref: Mapped[str] = mapped_column(String(64), index=True)  # stable per image: "m<media id>"
    hashes: Mapped[list] = mapped_column(JSON, default=list)  # [[phash, pdq, variant], ...]
    features: Mapped[bytes | None] = mapped_column(LargeBinary)
    note: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(TZDateTime, default=utcnow)


class HashSubscription(db.Model):
    """Another instance's AI-hash feed this one pulls (an admin subscribed to it)."""

    __tablename__ = "hash_subscriptions"

    id: Mapped[int] = mapped_column(primary_key=True)
    url: Mapped[str] = mapped_column(String(500), unique=True)  # the feed, without ?after=
    trusted: Mapped[bool] = mapped_column(Boolean, default=False)
    key_id: Mapped[str] = mapped_column(String(500))
    public_pem: Mapped[str] = mapped_column(Text)  # pinned when subscribing
    cursor: Mapped[str] = mapped_column(String(64), default="")
    pulled_at: Mapped[datetime | None] = mapped_column(TZDateTime)  # last attempt (the sweeper)
    # The last pull that ran to its end or to an error: when, the hash rows it added, and
    # the error ("" when it went through).
    last_pull_at: Mapped[datetime | None] = mapped_column(TZDateTime)
    last_pull_count: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    error: Mapped[str] = mapped_column(Text, default="")
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(TZDateTime, default=utcnow)


class InstanceKey(db.Model):
    """The instance's own keypair (RSA 2048, made on first use): it signs the hash feed. The
    newest row is the current key; `flask hashes rotate-key` adds one, whose `rotation` is
    the statement "new key X" signed by the key before it (whose private half is erased)."""

    __tablename__ = "instance_keys"

    id: Mapped[int] = mapped_column(primary_key=True)
    public_pem: Mapped[str] = mapped_column(Text)
    private_pem: Mapped[str] = mapped_column(Text)  # "" once the key was rotated away
    rotation: Mapped[str | None] = mapped_column(Text)  # JSON: {"statement", "signature"}
    created_at: Mapped[datetime] = mapped_column(TZDateTime, default=utcnow)


class Appeal(db.Model):
    __tablename__ = "appeals"

    id: Mapped[int] = mapped_column(primary_key=True)
    post_id: Mapped[int] = mapped_column(ForeignKey("posts.id", ondelete="CASCADE"), index=True)
    author_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    message: Mapped[str] = mapped_column(Text)
    evidence_media_ids: Mapped[list] = mapped_column(JSON, default=list)  # sketches, layers, WIP
    status: Mapped[str] = mapped_column(String(10), default=AppealStatus.OPEN, index=True)
    created_at: Mapped[datetime] = mapped_column(TZDateTime, default=utcnow)


class AuditEntry(db.Model):
    __tablename__ = "audit_entries"

    id: Mapped[int] = mapped_column(primary_key=True)
    actor_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    action: Mapped[str] = mapped_column(String(40))  # confirm-ai, clear, close-report, ...
    subject_kind: Mapped[str] = mapped_column(String(20))
    subject_id: Mapped[int] = mapped_column(Integer)
    reason: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(TZDateTime, default=utcnow)


class SanctionKind(enum.StrEnum):
    WARNING = "warning"
    SUSPENSION = "suspension"


class Sanction(db.Model):
    """A warning or a suspension of an account: its moderation history (docs/moderation.md)."""

    __tablename__ = "sanctions"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    moderator_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    kind: Mapped[str] = mapped_column(String(12))  # a SanctionKind
    reason: Mapped[str] = mapped_column(Text)  # sent to the person
    ends_at: Mapped[datetime | None] = mapped_column(TZDateTime)  # a suspension's end, if set
    lifted_at: Mapped[datetime | None] = mapped_column(TZDateTime)  # unsuspended early
    report_id: Mapped[int | None] = mapped_column(ForeignKey("reports.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(TZDateTime, default=utcnow)


class ModeratorNote(db.Model):
    """A note about an account, seen by moderators only."""

    __tablename__ = "moderator_notes"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    author_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    body: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(TZDateTime, default=utcnow)


class Job(db.Model):
    """An opening on the jobs board."""

    __tablename__ = "jobs"

    id: Mapped[int] = mapped_column(primary_key=True)
    owner_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    title: Mapped[str] = mapped_column(String(120))
    studio: Mapped[str] = mapped_column(String(120), default="")
    location: Mapped[str] = mapped_column(String(120), default="")
    remote: Mapped[bool] = mapped_column(Boolean, default=False)
    kind: Mapped[str] = mapped_column(String(20))  # full-time, freelance, commission
    description: Mapped[str] = mapped_column(Text, default="")
    apply_url: Mapped[str] = mapped_column(String(500))
    closed: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(TZDateTime, default=utcnow, index=True)
    removed_at: Mapped[datetime | None] = mapped_column(TZDateTime)  # by a moderator
    removed_reason: Mapped[str] = mapped_column(Text, default="")


def count(stmt) -> int:
    """Row count of a select statement."""
    return db.session.scalar(select(func.count()).select_from(stmt.subquery())) or 0


class TrendingScore(db.Model):
    """One snapshot ("generation") of trending scores; a page reads one, so paging is stable."""

    __tablename__ = "trending_scores"
    __table_args__ = (Index("ix_trending_scores_rank", "generation", "score", "post_id"),)

    generation: Mapped[int] = mapped_column(Integer, primary_key=True)
    post_id: Mapped[int] = mapped_column(
        ForeignKey("posts.id", ondelete="CASCADE"), primary_key=True, index=True
    )
    score: Mapped[float] = mapped_column()


# Tag feeds look posts up by tag; the primary key (post_id, tag_id) cannot serve that.
Index(
    "ix_post_tags_tag_published", post_tags.c.tag_id, post_tags.c.published_at, post_tags.c.post_id
)


@event.listens_for(Session, "after_flush")
def _tag_times(session, _context) -> None:
    """Copy a post's publication time to its tag rows whenever either changed (a post going
    live, a moderator's release, an edit of its tags): every write path flushes through here."""
    for post in (*session.new, *session.dirty):
        if not isinstance(post, Post) or post.published_at is None:
            continue
        state = inspect(post)
        if state.attrs.published_at.history.has_changes() or state.attrs.tags.history.has_changes():
            session.execute(
                post_tags.update()
                .where(post_tags.c.post_id == post.id)
                .values(published_at=post.published_at)
            )


class ExportState(enum.StrEnum):
    PENDING = "pending"
    READY = "ready"
    FAILED = "failed"
    EXPIRED = "expired"


class Export(db.Model):
    """One archive of an account's data (a zip under MEDIA_DIR/exports), built by a job."""

    __tablename__ = "exports"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    state: Mapped[ExportState] = mapped_column(
        _enum(ExportState, "export_state"), default=ExportState.PENDING
    )
    filename: Mapped[str] = mapped_column(String(80), default="")  # random, set when ready
    size: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(TZDateTime, default=utcnow)
    expires_at: Mapped[datetime | None] = mapped_column(TZDateTime, index=True)


class EmailChange(db.Model):
    """A requested change of address, waiting for the new address to confirm (one per user)."""

    __tablename__ = "email_changes"

    user_id: Mapped[int] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), primary_key=True
    )
    new_email: Mapped[str] = mapped_column(String(254))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)  # sha256 of the mailed token
    expires_at: Mapped[datetime] = mapped_column(TZDateTime)


class Setting(db.Model):
    """An instance setting changed in the admin area; it overrides the config default."""

    __tablename__ = "settings"

    key: Mapped[str] = mapped_column(String(40), primary_key=True)
    value: Mapped[str] = mapped_column(Text)  # JSON
    updated_at: Mapped[datetime] = mapped_column(TZDateTime, default=utcnow, onupdate=utcnow)


class Invite(db.Model):
    """A sign-up link made by an admin: valid until it expires, is used up or revoked."""

    __tablename__ = "invites"

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(43), unique=True)
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    max_uses: Mapped[int] = mapped_column(Integer, default=1)
    uses: Mapped[int] = mapped_column(Integer, default=0)
    expires_at: Mapped[datetime] = mapped_column(TZDateTime)
    revoked: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(TZDateTime, default=utcnow)

    def usable(self, now: datetime) -> bool:
        return not self.revoked and self.uses < self.max_uses and now < self.expires_at


# --- sessions, two-factor, password resets, login throttling (cara.accounts) --------------


class UserSession(db.Model):
    """A logged-in browser. Its cookie carries a random token; only the token's hash is kept,
    so deleting the row ends the session and its remember cookie."""

    __tablename__ = "user_sessions"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(TZDateTime, default=utcnow)
    last_seen_at: Mapped[datetime] = mapped_column(TZDateTime, default=utcnow)
    user_agent: Mapped[str] = mapped_column(String(60), default="")  # "Firefox on Linux"
    ip_prefix: Mapped[str] = mapped_column(String(50), default="")  # 203.0.113.0/24


class PasswordReset(db.Model):
    """An outstanding reset link: an opaque random token, stored hashed, single use."""

    __tablename__ = "password_resets"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    expires_at: Mapped[datetime] = mapped_column(TZDateTime)


class LoginFailure(db.Model):
    """One failed password or code attempt, counted per scope ("ip:..", "account:..")."""

    __tablename__ = "login_failures"
    __table_args__ = (Index("ix_login_failures_scope", "scope", "created_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    scope: Mapped[str] = mapped_column(String(300))
    created_at: Mapped[datetime] = mapped_column(TZDateTime, default=utcnow, index=True)


class TwoFactor(db.Model):
    """A TOTP secret; enabled once the owner confirmed a code (enabled_at set)."""

    __tablename__ = "two_factor"

    user_id: Mapped[int] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), primary_key=True
    )
    secret: Mapped[str] = mapped_column(String(64))
    enabled_at: Mapped[datetime | None] = mapped_column(TZDateTime)
    last_step: Mapped[int] = mapped_column(Integer, default=0)  # a code is accepted once


class RecoveryCode(db.Model):
    """A one-time recovery code of two-factor authentication, stored hashed."""

    __tablename__ = "recovery_codes"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    code_hash: Mapped[str] = mapped_column(String(64))


# --- federation (cara.federation, docs/federation.md) ----------------------------------------


class ActorKey(db.Model):
    """A local account's ActivityPub keypair (RSA 2048), made on first use."""

    __tablename__ = "actor_keys"

    user_id: Mapped[int] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), primary_key=True
    )
    public_pem: Mapped[str] = mapped_column(Text)
    private_pem: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(TZDateTime, default=utcnow)


class RemoteActor(db.Model):
    """A person on another server, as its actor document last described them."""

    __tablename__ = "remote_actors"

    id: Mapped[int] = mapped_column(primary_key=True)
    uri: Mapped[str] = mapped_column(String(500), unique=True)
    username: Mapped[str] = mapped_column(String(100))  # preferredUsername
    domain: Mapped[str] = mapped_column(String(255), index=True)
    name: Mapped[str] = mapped_column(String(200), default="")
    url: Mapped[str] = mapped_column(String(500), default="")  # their profile page
    inbox: Mapped[str] = mapped_column(String(500))
    shared_inbox: Mapped[str | None] = mapped_column(String(500))
    key_id: Mapped[str] = mapped_column(String(500), index=True)
    public_pem: Mapped[str] = mapped_column(Text)
    fetched_at: Mapped[datetime] = mapped_column(TZDateTime, default=utcnow)
    # Their avatar (the actor's icon) as we re-encoded it: {url, state, file, w, h}.
    avatar: Mapped[dict | None] = mapped_column(JSON)

    @property
    def handle(self) -> str:
        return f"@{self.username}@{self.domain}"


class RemoteFollow(db.Model):
    """A follow across servers: a remote actor following a local account (`inbound`), or a
    local account following a remote actor. Pending until accepted."""

    __tablename__ = "remote_follows"
    __table_args__ = (UniqueConstraint("user_id", "actor_id", "inbound"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    actor_id: Mapped[int] = mapped_column(
        ForeignKey("remote_actors.id", ondelete="CASCADE"), index=True
    )
    inbound: Mapped[bool] = mapped_column(Boolean)  # True: the remote actor follows the user
    activity_uri: Mapped[str] = mapped_column(String(500))  # the Follow's id
    pending: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(TZDateTime, default=utcnow)

    actor: Mapped[RemoteActor] = relationship()


class RemotePost(db.Model):
    """A Note from a followed remote actor: sanitised text, and its images as we re-encoded
    them (`attachments`, each with the state the filter gave it)."""

    __tablename__ = "remote_posts"

    id: Mapped[int] = mapped_column(primary_key=True)
    uri: Mapped[str] = mapped_column(String(500), unique=True)
    actor_id: Mapped[int] = mapped_column(
        ForeignKey("remote_actors.id", ondelete="CASCADE"), index=True
    )
    url: Mapped[str] = mapped_column(String(500), default="")
    content: Mapped[str] = mapped_column(Text, default="")  # sanitised HTML
    summary: Mapped[str] = mapped_column(Text, default="")
    sensitive: Mapped[bool] = mapped_column(Boolean, default=False)
    public: Mapped[bool] = mapped_column(Boolean, default=True)
    attachments: Mapped[list] = mapped_column(JSON, default=list)  # [{url, name, w, h}]
    published_at: Mapped[datetime] = mapped_column(TZDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(TZDateTime, default=utcnow)
    # An image of it was held by the filter and no moderator has decided yet (the queue).
    awaiting_review: Mapped[bool] = mapped_column(
        Boolean, default=False, server_default=sa_false(), index=True
    )

    actor: Mapped[RemoteActor] = relationship()


class Delivery(db.Model):
    """One activity to POST to one inbox, retried with backoff until it succeeds or gives up."""

    __tablename__ = "deliveries"
    __table_args__ = (Index("ix_deliveries_due", "done", "next_attempt_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    # The signer; None: the instance actor (a forwarded report).
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    inbox: Mapped[str] = mapped_column(String(500))
    domain: Mapped[str] = mapped_column(String(255), index=True)
    activity: Mapped[dict] = mapped_column(JSON)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(TZDateTime, default=utcnow)
    done: Mapped[bool] = mapped_column(Boolean, default=False)
    error: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(TZDateTime, default=utcnow)


class Instance(db.Model):
    """Another server (host[:port]): its delivery health (one that keeps failing is retried
    slowly) and whether the admin blocked it (defederation) or limited it."""

    __tablename__ = "instances"

    domain: Mapped[str] = mapped_column(String(255), primary_key=True)
    failures: Mapped[int] = mapped_column(Integer, default=0)  # in a row
    unreachable_until: Mapped[datetime | None] = mapped_column(TZDateTime)
    blocked: Mapped[bool] = mapped_column(Boolean, default=False)
    block_reason: Mapped[str] = mapped_column(Text, default="")
    # Limited (silenced) by the admin: its people reach only those who follow them here.
    limited: Mapped[bool] = mapped_column(Boolean, default=False, server_default=sa_false())
    limit_reason: Mapped[str] = mapped_column(Text, default="", server_default="")


class RemoteReaction(db.Model):
    """A like or repost (Announce) of a local post by a remote actor; counted on the post."""

    __tablename__ = "remote_reactions"
    __table_args__ = (UniqueConstraint("actor_id", "post_id", "kind"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    actor_id: Mapped[int] = mapped_column(ForeignKey("remote_actors.id", ondelete="CASCADE"))
    post_id: Mapped[int] = mapped_column(ForeignKey("posts.id", ondelete="CASCADE"), index=True)
    kind: Mapped[str] = mapped_column(String(10))  # like, announce
    activity_uri: Mapped[str] = mapped_column(String(500), index=True)
    created_at: Mapped[datetime] = mapped_column(TZDateTime, default=utcnow)


class RemoteComment(db.Model):
    """A remote actor's reply (a Note with inReplyTo) to a local post, shown among its
    comments. `audience`: public (shown with the post, counted), followers (to the artist and
    local followers of the actor), direct (addressed to the artist alone: theirs only)."""

    __tablename__ = "remote_comments"

    id: Mapped[int] = mapped_column(primary_key=True)
    uri: Mapped[str] = mapped_column(String(500), unique=True)  # the Note's id
    post_id: Mapped[int] = mapped_column(ForeignKey("posts.id", ondelete="CASCADE"), index=True)
    actor_id: Mapped[int] = mapped_column(
        ForeignKey("remote_actors.id", ondelete="CASCADE"), index=True
    )
    # The reply from elsewhere it answers (a thread), None when it answers the post itself.
    parent_id: Mapped[int | None] = mapped_column(
        ForeignKey("remote_comments.id", ondelete="SET NULL"), index=True
    )
    url: Mapped[str] = mapped_column(String(500), default="")
    content: Mapped[str] = mapped_column(Text, default="")  # sanitised HTML
    audience: Mapped[str] = mapped_column(String(10), default="public")
    created_at: Mapped[datetime] = mapped_column(TZDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(TZDateTime, default=utcnow)
    # Hidden by the post's artist or removed by a moderator: kept (so a redelivery or an
    # Update of the same Note does not bring it back), shown to nobody, not counted.
    removed_at: Mapped[datetime | None] = mapped_column(TZDateTime)
    removed_by: Mapped[str] = mapped_column(String(10), default="")  # artist, moderator
    removed_reason: Mapped[str] = mapped_column(Text, default="")

    actor: Mapped[RemoteActor] = relationship()


class RemoteBlock(db.Model):
    """A local account's block or mute of a remote actor (kind: block, mute)."""

    __tablename__ = "remote_blocks"

    user_id: Mapped[int] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), primary_key=True
    )
    actor_id: Mapped[int] = mapped_column(
        ForeignKey("remote_actors.id", ondelete="CASCADE"), primary_key=True, index=True
    )
    kind: Mapped[str] = mapped_column(String(5), primary_key=True)
    created_at: Mapped[datetime] = mapped_column(TZDateTime, default=utcnow)


class RemoteInteraction(db.Model):
    """A local account's like, repost (announce) or reply of a remote post, sent to its
    author's server; `content` is a reply's text as written (plain, escaped when shown)."""

    __tablename__ = "remote_interactions"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    remote_post_id: Mapped[int] = mapped_column(
        ForeignKey("remote_posts.id", ondelete="CASCADE"), index=True
    )
    kind: Mapped[str] = mapped_column(String(10))  # like, announce, reply
    content: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(TZDateTime, default=utcnow)
    updated_at: Mapped[datetime | None] = mapped_column(TZDateTime)  # a reply's last edit


class Tombstone(db.Model):
    """An object this server served over ActivityPub that is gone (a deleted public post, an
    undone like or repost, a deleted reply): its id answers 410 with a Tombstone, as
    Mastodon's do, so other servers drop their copies; ids never served stay 404."""

    __tablename__ = "tombstones"

    path: Mapped[str] = mapped_column(String(300), primary_key=True)  # e.g. /ap/posts/12
    former_type: Mapped[str] = mapped_column(String(20))  # Note, Like, Announce
    deleted_at: Mapped[datetime] = mapped_column(TZDateTime, default=utcnow)
