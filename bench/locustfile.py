"""The mixed signed-in workload of bench/load.py (locust; run through it, not by itself).

Each simulated member signs in through the real form, then browses (70 %: Latest, Following,
a tag feed, a post), likes or comments (20 %) and uploads and publishes an image (10 %).
Accounts are artist0..artistN-1 of bench/feed.py's database (CARA_LOAD_USERS of them).
"""

import io
import json
import os
import random
import re
from collections import defaultdict

from locust import HttpUser, between, events, task
from PIL import Image

from bench.feed import PASSWORD, TAGS

TOKEN = re.compile(r'name="csrf_token" (?:type="hidden" )?value="([^"]+)"')
USERS = int(os.environ.get("CARA_LOAD_USERS", "1000"))
POSTS = int(os.environ.get("CARA_LOAD_POSTS", "20000"))
TIMINGS = os.environ.get("CARA_LOAD_TIMINGS")  # where every request's time and error go
timings: dict[str, list[float]] = defaultdict(list)
errors: list[str] = []


@events.request.add_listener
def record(request_type, name, response_time, exception, **kwargs):
    """Every request's time, per endpoint, for bench/load.py's percentiles."""
    timings[f"{request_type} {name}"].append(response_time)
    if exception is not None:
        errors.append(f"{request_type} {name}: {exception}")


@events.quitting.add_listener
def save(environment, **kwargs):
    if TIMINGS:
        with open(TIMINGS, "w") as f:
            json.dump({"timings": timings, "errors": errors}, f)


def image_bytes(rnd: random.Random) -> bytes:
    """A small PNG of random blocks: every upload is a new image (no duplicate-hash refusal)."""
    small = Image.frombytes("RGB", (16, 12), rnd.randbytes(16 * 12 * 3))
    out = io.BytesIO()
    small.resize((640, 480), Image.NEAREST).save(out, "PNG")
    return out.getvalue()


class Member(HttpUser):
    wait_time = between(0.5, 2)

    def on_start(self):
        self.rnd = random.Random()
        self.name = f"artist{self.rnd.randrange(USERS)}"
        page = self.client.get("/login", name="/login").text
        form = {"login": self.name, "password": PASSWORD, "csrf_token": self._token(page)}
        self.client.post("/login", data=form, name="/login [POST]")
        self.csrf = self._token(self.client.get("/latest", name="/latest").text)

    def _token(self, html: str) -> str:
        match = TOKEN.search(html)
        return match.group(1) if match else ""

    def _post_id(self) -> int:
        return self.rnd.randint(1, POSTS)

    # --- browse: 70 % ---------------------------------------------------------------------

    @task(25)
    def latest(self):
        self.client.get("/latest", name="/latest")

    @task(20)
    def following(self):
        self.client.get("/following", name="/following")

    @task(10)
    def tag(self):
        self.client.get(f"/tags/{self.rnd.choice(TAGS[:20])}", name="/tags/<tag>")

    @task(15)
    def post(self):
        self.client.get(f"/posts/{self._post_id()}", name="/posts/<id>")

    # --- like or comment: 20 % -------------------------------------------------------------

    @task(12)
    def like(self):
        action = self.rnd.choice(("like", "unlike"))
        self.client.post(
            f"/posts/{self._post_id()}/{action}",
            data={"csrf_token": self.csrf, "next": "/latest"},
            name=f"/posts/<id>/{action} [POST]",
        )

    @task(8)
    def comment(self):
        self.client.post(
            f"/posts/{self._post_id()}/comments",
            data={"csrf_token": self.csrf, "body": "Lovely linework."},
            name="/posts/<id>/comments [POST]",
        )

    # --- upload and publish: 10 % ----------------------------------------------------------

    @task(10)
    def upload(self):
        files = {"images": ("study.png", image_bytes(self.rnd), "image/png")}
        with self.client.post(
            "/posts/new",
            data={"csrf_token": self.csrf},
            files=files,
            name="/posts/new [POST]",
            catch_response=True,
        ) as response:
            match = re.search(r"/posts/(\d+)/edit", response.url or "")
            if not match:
                response.failure(f"no draft made: {response.status_code}")
                return
            form = {"csrf_token": self.csrf, "caption": "Load test study #tag1"}
            alts = re.findall(r'name="(alt-\d+)"', response.text)
            form |= {alt: "Blocks of colour" for alt in alts}
        self.client.post(f"/posts/{match.group(1)}/edit", data=form, name="/posts/<id>/edit [POST]")
