"""Demo content: a few artists with artworks drawn procedurally with Pillow (idempotent)."""

import io
import math
import random

from flask import current_app
from PIL import Image, ImageDraw, ImageFilter
from sqlalchemy import select

from cara import imaging as media
from cara.accounts import auth
from cara.core import tasks
from cara.core.extensions import db
from cara.core.models import User
from cara.posting import drafts
from cara.social import actions

W, H = 1200, 900


def _sky(seed: int) -> Image.Image:
    """Layered mountains under a gradient sky."""
    rnd = random.Random(seed)
    img = Image.new("RGB", (W, H))
    top, bottom = (
        (rnd.randint(20, 90), rnd.randint(40, 120), rnd.randint(120, 200)),
        (250, 200, 150),
    )
    draw = ImageDraw.Draw(img)
    for y in range(H):
        t = y / H
        draw.line(
            [(0, y), (W, y)],
            fill=tuple(int(a + (b - a) * t) for a, b in zip(top, bottom, strict=True)),
        )
    for layer in range(5):
        base = H * (0.45 + layer * 0.11)
        shade = int(120 - layer * 22)
        points = [(0, H)]
        for x in range(0, W + 40, 40):
            points.append(
                (x, base - 90 * math.sin(x / (90 + layer * 30) + seed) - rnd.randint(0, 30))
            )
        points.append((W, H))
        draw.polygon(points, fill=(shade // 2, shade // 3 + layer * 8, shade))
    return img


def _circles(seed: int) -> Image.Image:
    """Overlapping translucent circles, like a risograph print."""
    rnd = random.Random(seed)
    img = Image.new("RGB", (W, H), (245, 238, 225))
    layer = Image.new("RGBA", (W, H))
    draw = ImageDraw.Draw(layer)
    palette = [(230, 57, 70, 140), (29, 53, 87, 140), (69, 123, 157, 140), (244, 162, 97, 140)]
    for _ in range(40):
        r = rnd.randint(30, 220)
        x, y = rnd.randint(0, W), rnd.randint(0, H)
        draw.ellipse([x - r, y - r, x + r, y + r], fill=rnd.choice(palette))
    img.paste(layer, mask=layer)
    return img


def _grid(seed: int) -> Image.Image:
    """A De Stijl-style composition of primaries and black bars."""
    rnd = random.Random(seed)
    img = Image.new("RGB", (W, H), (250, 248, 240))
    draw = ImageDraw.Draw(img)
    xs = sorted(rnd.sample(range(100, W - 100), 4))
    ys = sorted(rnd.sample(range(100, H - 100), 3))
    colors = [(214, 40, 40), (0, 48, 135), (247, 208, 34)]
    for i in range(5):
        x0, x1 = ([0, *xs, W])[i], ([0, *xs, W])[i + 1]
        y0 = rnd.choice([0, *ys])
        y1 = min([y for y in [*ys, H] if y > y0], default=H)
        if rnd.random() < 0.6:
            draw.rectangle([x0, y0, x1, y1], fill=rnd.choice(colors))
    for x in xs:
        draw.rectangle([x - 7, 0, x + 7, H], fill=(20, 20, 20))
    for y in ys:
        draw.rectangle([0, y - 7, W, y + 7], fill=(20, 20, 20))
    return img


def _waves(seed: int) -> Image.Image:
    """Flowing ink lines, softly blurred."""
    rnd = random.Random(seed)
    img = Image.new("RGB", (W, H), (12, 18, 38))
    draw = ImageDraw.Draw(img)
    for i in range(60):
        amp, freq, phase = rnd.uniform(10, 60), rnd.uniform(0.004, 0.02), rnd.uniform(0, 6)
        y0 = i * H / 60
        color = (80 + i * 2, 160 + i, 220)
        pts = [(x, y0 + amp * math.sin(x * freq + phase)) for x in range(0, W + 10, 10)]
        draw.line(pts, fill=color, width=2)
    return img.filter(ImageFilter.GaussianBlur(0.8))


ARTISTS = [
    ("mira_ink", "Mira Okafor", "Ink and watercolour landscapes. Commissions open.", True),
    ("tomas_prints", "Tomás Reyes", "Risograph printmaker.", False),
    ("juniper", "Juniper Hale", "Geometric painter; colour first.", True),
    ("sol_draws", "Sol Nakamura", "Line studies and night pieces.", False),
]
POSTS = {
    "mira_ink": [
        (
            _sky,
            3,
            "Evening over the ridge. #landscape #watercolour",
            "Layered blue mountains under an orange dusk sky",
        ),
        (
            _sky,
            11,
            "Morning study, second try. #landscape",
            "Purple mountain ridges fading into a pale sky",
        ),
    ],
    "tomas_prints": [
        (
            _circles,
            5,
            "Four-colour riso test. #print #riso",
            "Overlapping red, blue and orange translucent circles on cream paper",
        ),
        (
            _circles,
            8,
            "Misregistration is a feature. #riso",
            "Scattered translucent circles in red and navy",
        ),
    ],
    "juniper": [
        (
            _grid,
            2,
            "Composition no. 7 #geometric #painting",
            "Black grid lines with red, blue and yellow blocks",
        ),
        (_grid, 9, "Composition no. 8 #geometric", "Asymmetric grid of primary-colour rectangles"),
    ],
    "sol_draws": [
        (
            _waves,
            4,
            "Sixty lines, one breath. #linework",
            "Wavy pale blue lines flowing across a dark navy ground",
        ),
    ],
}
DEMO_PASSWORD = "demo-password-cara"


def _png(img: Image.Image) -> bytes:
    buf = io.BytesIO()
    img.save(buf, "PNG", optimize=False)
    return buf.getvalue()


def load_demo() -> int:
    """Create the demo artists and posts that do not exist yet; return how many posts."""
    runner = current_app.extensions["cara.runner"]
    if isinstance(runner, tasks.ThreadRunner):
        # A CLI process exits at once: process the images here rather than in a thread.
        current_app.extensions["cara.runner"] = tasks.InlineRunner()
    try:
        return _load()
    finally:
        current_app.extensions["cara.runner"] = runner


def _load() -> int:
    created = 0
    users = {}
    limits = media.Limits()
    for username, name, bio, open_to_work in ARTISTS:
        user = db.session.scalar(select(User).where(User.username == username))
        if user is None:
            user, errors = auth.register(username, f"{username}@example.com", DEMO_PASSWORD)
            assert not errors, errors
            user.display_name, user.bio, user.open_to_work = name, bio, open_to_work
            db.session.commit()
            for draw, seed, caption, alt in POSTS[username]:
                upload = drafts.Upload(f"{draw.__name__[1:]}-{seed}.png", _png(draw(seed)))
                post, errors = drafts.add_images(user, None, [upload], limits, max_images=10)
                assert not errors, errors
                form = {"caption": caption, "alt": {post.media[0].id: alt}, "in_portfolio": True}
                assert not drafts.publish(post, form)
                created += 1
        users[username] = user
    people = list(users.values())
    for a in people:
        for b in people:
            if a is not b:
                actions.follow(a, b)
        for post in a.posts[:1]:
            for b in people:
                if b is not a:
                    actions.like(b, post)
    first = people[0].posts[0] if people[0].posts else None
    if first is not None and created:
        actions.comment(people[1], first, "The colours in this are wonderful.")
        actions.comment(people[2], first, "Love the layering!")
    return created
