"""Factories for the feed and social tests: published posts without image processing.

Rows are inserted directly (state published, fake renditions), so a page of 24 cards costs
milliseconds; tests of the real upload path use cara.posting instead.
"""

import itertools
from datetime import timedelta

from werkzeug.security import generate_password_hash

from cara.core.extensions import db
from cara.core.models import Media, MediaState, Post, PostState, Tag, User, Visibility, utcnow

_seq = itertools.count(1)
GOOD = "correct horse battery"
# One round of PBKDF2: logging in through the real form stays instant (scrypt takes 0.3 s).
FAST_HASH = generate_password_hash(GOOD, method="pbkdf2:sha256:1")


def person(username: str, **fields) -> User:
    """An account that logs in with GOOD, made without the slow password hashing of sign-up."""
    user = User(
        username=username,
        email=f"{username}@example.com",
        password_hash=FAST_HASH,
        display_name=fields.pop("display_name", username),
        **fields,
    )
    db.session.add(user)
    db.session.commit()
    return user


def renditions(stem: str) -> list[dict]:
    return [
        {"w": w, "h": w * 3 // 4, "fmt": fmt, "name": f"{stem}-{w}.{ext}"}
        for w in (320, 640)
        for fmt, ext in (("webp", "webp"), ("jpeg", "jpg"))
    ]


def make_post(
    author,
    caption: str = "",
    *,
    tags=(),
    images: int = 1,
    mature: bool = False,
    visibility: str = "public",
    state: PostState = PostState.PUBLISHED,
    age: timedelta | None = None,
    commit: bool = True,
) -> Post:
    """A published post, an hour old (or `age`) and newer than the posts made before it."""
    n = next(_seq)
    when = utcnow() - (age if age is not None else timedelta(hours=1)) + timedelta(milliseconds=n)
    post = Post(
        author_id=author.id,
        caption=caption,
        state=state,
        visibility=Visibility(visibility),
        mature=mature,
        published_at=when if state == PostState.PUBLISHED else None,
    )
    for i in range(images):
        post.media.append(
            Media(
                owner_id=author.id,
                position=i,
                alt_text=f"Image {i + 1} of post {n}",
                original_path=f"orig/{n}-{i}",
                sha256=f"{n:032x}{i:032x}",
                format="png",
                width=640,
                height=480,
                state=MediaState.DONE,
                renditions=renditions(f"p{n}-{i}"),
            )
        )
    existing = {t.name: t for t in db.session.scalars(db.select(Tag).where(Tag.name.in_(tags)))}
    post.tags = [existing.get(name) or Tag(name=name) for name in tags]
    db.session.add(post)
    if commit:
        db.session.commit()
    else:
        db.session.flush()
    return post


def login(client, username: str):
    response = client.post("/login", data={"login": username, "password": GOOD})
    assert response.status_code == 303, response.get_data(as_text=True)


HTMX = {"HX-Request": "true"}


def hx(target: str) -> dict:
    """Headers of an htmx request that swaps the element with id `target`."""
    return {**HTMX, "HX-Target": target}
