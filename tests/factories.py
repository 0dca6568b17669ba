"""Plain helpers of the tests: accounts, posts, logging in, htmx headers, images, forms.

The one home of test helpers; tests import them from here, never from conftest.py (whose
fixtures `make_user`, `make_post` and `auth` are thin wrappers over these). They need an app
context, which the `app` fixture provides.
"""

import contextvars
import io
import itertools
import re
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path

import numpy as np
from flask import Flask
from flask.testing import FlaskClient
from PIL import Image, ImageDraw
from PIL.PngImagePlugin import PngInfo
from sqlalchemy import text
from werkzeug.security import generate_password_hash

from cara.core.extensions import db
from cara.core.models import (
    Media,
    MediaState,
    Post,
    PostState,
    RemoteActor,
    Tag,
    User,
    Visibility,
    utcnow,
)
from tests.support import AI_FILTER_FIXTURES

_seq = itertools.count(1)
GOOD = "correct horse battery"
# One round of PBKDF2: logging in through the real form stays instant (scrypt takes 0.3 s).
FAST_HASH = generate_password_hash(GOOD, method="pbkdf2:sha256:1")

FIREFLY = AI_FILTER_FIXTURES / "ai" / "c2pars_firefly.png"

# --- the app under test -------------------------------------------------------------------


def app_settings(database: dict, **overrides) -> dict:
    """The configuration of a test app on `database` ({"uri", "instance"}), with overrides."""
    return {
        "TESTING": True,
        "SECRET_KEY": "test-secret-key-that-is-long-enough-for-tests",
        "SQLALCHEMY_DATABASE_URI": database["uri"],
        "MEDIA_DIR": str(database["instance"] / "media"),
        "TASK_RUNNER": "inline",
        "REDIS_URL": None,
        "RATELIMIT_ENABLED": False,
        "RATELIMIT_STORAGE_URI": "memory://",
        "WTF_CSRF_ENABLED": False,
        "BASE_URL": "http://cara.test",
        **overrides,
    }


def sqlite_app(folder: Path, **overrides) -> Flask:
    """A test app on a new SQLite file in `folder`, not migrated (its own instance, apart from
    the `app` fixture's database)."""
    from cara import create_app

    database = {"uri": f"sqlite:///{folder / 'cara.sqlite'}", "instance": folder}
    return create_app(app_settings(database, **overrides))


@contextmanager
def feed_instance(folder: Path) -> Iterator[Flask]:
    """A migrated, federating `sqlite_app` in its app context whose hash feed serves entries
    at once (no settle time): where the feed's bench and tests confirm images and build pages."""
    from flask_migrate import upgrade

    app = sqlite_app(folder, FEDERATION=True, FEDERATION_HASH_FEED_SETTLE_SECONDS=0)
    with app.app_context():
        upgrade()
        try:
            yield app
        finally:
            db.session.remove()
            db.engine.dispose()


def confirmed_as_ai(images: list[bytes]) -> list[Post]:
    """Each image posted by one artist and confirmed as AI by one moderator (a feed entry
    each)."""
    from cara import moderation
    from cara.core.models import Role

    artist = person("ana")
    mod = person("mona", role=Role.MODERATOR)
    posts = [make_post(author=artist, images=[image]) for image in images]
    for post in posts:
        moderation.confirm_ai(post, mod, "generated")
    return posts


def empty_tables() -> None:
    """Delete every row of every table (the schema stays): the end of each test."""
    with db.engine.begin() as conn:
        if conn.dialect.name == "postgresql":
            names = ", ".join(f'"{t.name}"' for t in db.metadata.sorted_tables)
            conn.execute(text(f"TRUNCATE {names} RESTART IDENTITY CASCADE"))
        else:
            conn.execute(text("PRAGMA foreign_keys=OFF"))
            for table in reversed(db.metadata.sorted_tables):
                conn.execute(table.delete())
            conn.execute(text("PRAGMA foreign_keys=ON"))


class IsolatedClient(FlaskClient):
    """Each request runs as in production: its own app context, `g` and database session.

    The test's own session (in the fixture's app context) then sees the request's writes.
    """

    def open(self, *args, **kwargs):
        response = contextvars.Context().run(super().open, *args, **kwargs)
        response.get_data()  # buffer the body so a streamed file can be closed at once
        response.close()
        db.session.expire_all()
        return response


def wait_for(predicate, timeout: float = 60.0) -> bool:
    """Poll `predicate` (the session expired each time, so it sees other processes' writes)
    until it is true or `timeout` seconds have passed; whether it became true."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        db.session.expire_all()
        if predicate():
            return True
        time.sleep(0.05)
    return False


# --- accounts -----------------------------------------------------------------------------


def make_user(username=None, password=GOOD, role="member", **fields) -> User:
    """An account made through sign-up (its rules and password hashing), then `fields` set."""
    from cara.accounts import auth
    from cara.core.models import Role

    username = username or f"artist{next(_seq)}"
    user, errors = auth.register(username, f"{username}@example.com", password, role=Role(role))
    assert not errors, errors
    for key, value in fields.items():
        setattr(user, key, value)
    db.session.commit()
    return user


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


def remote_actor(username: str, domain: str, **fields) -> RemoteActor:
    """A person on another server as its actor document would describe them (flushed, so
    it has an id; no key: nothing is ever verified against it)."""
    base = f"https://{domain}/users/{username}"
    actor = RemoteActor(
        uri=base,
        username=username,
        domain=domain,
        inbox=f"{base}/inbox",
        key_id=f"{base}#main-key",
        public_pem="",
        **fields,
    )
    db.session.add(actor)
    db.session.flush()
    return actor


def login(client, username: str = "ana", password: str = GOOD):
    """Log `client` in through the real form; assert it worked and return the response."""
    response = client.post("/login", data={"login": username, "password": password})
    assert response.status_code == 303, response.get_data(as_text=True)
    return response


def logout(client):
    return client.post("/logout")


class Auth:
    """A test client's login and logout (the `auth` fixture)."""

    def __init__(self, client):
        self.client = client

    def login(self, username: str = "ana", password: str = GOOD):
        return login(self.client, username, password)

    def logout(self):
        return logout(self.client)


# --- posts --------------------------------------------------------------------------------


def renditions(stem: str) -> list[dict]:
    return [
        {"w": w, "h": w * 3 // 4, "fmt": fmt, "name": f"{stem}-{w}.{ext}"}
        for w in (320, 640)
        for fmt, ext in (("webp", "webp"), ("jpeg", "jpg"))
    ]


def make_post(
    author=None,
    caption: str = "",
    *,
    tags=(),
    images: int | list[bytes] = 1,
    mature: bool = False,
    visibility: str = "public",
    state: PostState = PostState.PUBLISHED,
    age: timedelta | None = None,
    commit: bool = True,
    **form,
) -> Post:
    """A post by `author` (a new account when None), made one of two ways by `images`:

    - a number (the default): that many images, rows inserted directly with fake renditions,
      in `state`; published an hour ago (or `age`) and newer than the posts made before it.
      A page of 24 cards costs milliseconds: the feed, social and search tests.
    - a list of image files (bytes): the real path. They are uploaded and processed (jobs run
      inline in tests); unless `state` is DRAFT the draft is then described and published with
      the other fields and `form` (in_portfolio, protected, crop...), and its state is what the
      pipeline and the filter decide.
    """
    author = author or make_user()
    if not isinstance(images, int):
        return _upload(author, caption, images, tags, mature, visibility, state, form)
    assert not form, f"form fields need uploaded images: {sorted(form)}"
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


def _upload(author, caption, images, tags, mature, visibility, state, form) -> Post:
    from cara.imaging import Limits
    from cara.posting import drafts

    uploads = [drafts.Upload(f"art{i}.png", data) for i, data in enumerate(images)]
    post, errors = drafts.add_images(author, None, uploads, Limits(), max_images=10)
    assert not errors, errors
    if state == PostState.DRAFT:
        return post
    assert state == PostState.PUBLISHED, "the pipeline decides the state of an uploaded post"
    alts = {m.id: f"Image {i + 1} of the study" for i, m in enumerate(post.media)}
    fields = {"caption": caption, "alt": alts, "visibility": visibility, **form}
    if tags:
        fields["tags"] = " ".join(tags)
    if mature:
        fields["mature"] = True
    assert not drafts.publish(post, fields)
    return post


# --- requests -----------------------------------------------------------------------------

HTMX = {"HX-Request": "true"}


def hx(target: str) -> dict:
    """Headers of an htmx request that swaps the element with id `target`."""
    return {**HTMX, "HX-Target": target}


def csrf_token_from(html: str) -> str:
    match = re.search(r'name="csrf_token" (?:type="hidden" )?value="([^"]+)"', html)
    assert match, "no CSRF token in the page"
    return match.group(1)


# --- images -------------------------------------------------------------------------------


def image_bytes(fmt="PNG", size=(64, 48), color=(200, 80, 40), **save) -> bytes:
    """A small real image built with Pillow, with some structure so hashes differ."""
    img = Image.new("RGB", size, color)
    for x in range(0, size[0], 8):
        for y in range(0, size[1], 8):
            if (x // 8 + y // 8) % 2:
                img.putpixel((x, y), (color[2], color[0], color[1]))
    buf = io.BytesIO()
    img.save(buf, fmt, **save)
    return buf.getvalue()


def canvas(size=(256, 192), seed=0) -> Image.Image:
    """A picture with shapes, gradients and noise: it hashes like art, not like a flat fill
    (whose hash is too featureless to match), and each seed is a different picture."""
    rng = np.random.default_rng(seed)
    w, h = size
    a = np.zeros((h, w, 3), np.uint8)
    a[..., 0] = np.linspace(0, 255, w, dtype=np.uint8)[None, :]
    a[..., 1] = np.linspace(255, 0, h, dtype=np.uint8)[:, None]
    a[..., 2] = rng.integers(0, 256, (h, w))
    img = Image.fromarray(a, "RGB")
    draw = ImageDraw.Draw(img)
    for _ in range(12):
        x0, y0 = rng.integers(0, w), rng.integers(0, h)
        x1, y1 = x0 + rng.integers(w // 8, w // 2), y0 + rng.integers(h // 8, h // 2)
        draw.ellipse((x0, y0, x1, y1), fill=tuple(int(c) for c in rng.integers(0, 256, 3)))
    return img


def uploadable(name: str, seed: int = 0) -> bytes:
    """A fixture's bytes; the 1x1 px sd-parsers crops get their generator metadata moved onto
    a canvas big enough to upload (PNG text chunks, or the JPEG's EXIF)."""
    path = AI_FILTER_FIXTURES / name
    with Image.open(path) as src:
        if min(src.size) >= 32:
            return path.read_bytes()
        buf = io.BytesIO()
        if src.format == "PNG":
            info = PngInfo()
            for key, value in src.text.items():
                info.add_text(key, value)
            canvas(seed=seed).save(buf, "PNG", pnginfo=info)
        else:
            exif = src.getexif()
            exif.get_ifd(0x8769)  # load the Exif sub-IFD (UserComment) so it is written too
            canvas(seed=seed).save(buf, "JPEG", exif=exif)
        return buf.getvalue()


def generator_png(seed: int = 0) -> bytes:
    """A small PNG whose text chunk says AUTOMATIC1111 made it: held by provenance."""
    info = PngInfo()
    info.add_text("parameters", "a castle\nSteps: 20, Sampler: Euler a, CFG scale: 7, Seed: 1")
    buf = io.BytesIO()
    canvas(seed=seed).save(buf, "PNG", pnginfo=info)
    return buf.getvalue()


def pixels_only(img: Image.Image, fmt: str = "PNG", **save) -> bytes:
    """Re-encode pixels only: no metadata survives, so only the hash index can recognise it."""
    buf = io.BytesIO()
    Image.fromarray(np.asarray(img.convert("RGB"))).save(buf, fmt, **save)
    return buf.getvalue()
