"""Abuse limits: each action's per-account and per-IP limit, the 429 page and its htmx form,
and rate limits that keep counting in memory while Redis is down (issue 12, H2)."""

import io
import logging
import time

import pytest
from redis import Redis

from cara.core.extensions import db
from cara.core.models import Comment, Follow, Job, Post, Report
from tests.factories import hx, image_bytes, login, make_post, person
from tests.support import RedisServer

LIMITS_OFF = {
    f"{action}_{kind}": ""
    for action in ("UPLOAD", "COMMENT", "FOLLOW", "REPORT", "JOB")
    for kind in ("RATE_LIMIT", "IP_RATE_LIMIT")
}


def _upload(client, world):
    files = [(io.BytesIO(image_bytes(color=(i * 40, 9, 9))), f"a{i}.png") for i in range(2)]
    return client.post("/posts/new", data={"images": files}, content_type="multipart/form-data")


def _comment(client, world):
    return client.post(f"/posts/{world['post'].id}/comments", data={"body": "Lovely lines"})


def _follow(client, world):
    return client.post(f"/@{world['artist'].username}/follow")


def _report(client, world):
    return client.post(f"/posts/{world['post'].id}/report", data={"reason": "spam"})


def _job(client, world):
    form = {"title": "Inker", "kind": "freelance", "location": "Lyon", "apply_url": "https://x.io"}
    return client.post("/jobs/new", data=form)


# action -> (how one request does it, what it costs, what it stores)
ACTIONS = {
    "UPLOAD": (_upload, 2, Post),  # two images per request: uploads count images
    "COMMENT": (_comment, 1, Comment),
    "FOLLOW": (_follow, 1, Follow),
    "REPORT": (_report, 1, Report),
    "JOB": (_job, 1, Job),
}


def _world(app, config: dict) -> dict:
    app.config.update({"RATELIMIT_ENABLED": True, **LIMITS_OFF, **config})
    artist = person("artist")
    return {"artist": artist, "post": make_post(artist, "A study")}


def _client(app, username: str, ip: str):
    person(username)
    client = app.test_client()
    client.environ_base["REMOTE_ADDR"] = ip
    login(client, username)
    return client


def _rows(model) -> int:
    return db.session.scalar(db.select(db.func.count()).select_from(model))


@pytest.fixture
def app_config():
    return {"RATELIMIT_ENABLED": True}


@pytest.mark.parametrize("action", ACTIONS)
def test_each_action_is_limited_per_account(app, action):
    do, cost, model = ACTIONS[action]
    world = _world(app, {f"{action}_RATE_LIMIT": f"{2 * cost} per hour"})
    ana = _client(app, "ana", "10.0.0.1")
    assert [do(ana, world).status_code < 400 for _ in range(2)] == [True, True]
    before = _rows(model)
    refused = do(ana, world)
    assert refused.status_code == 429
    assert _rows(model) == before  # nothing stored past the limit
    # Another account on the same address has its own allowance.
    bob = _client(app, "bob", "10.0.0.1")
    assert do(bob, world).status_code < 400


@pytest.mark.parametrize("action", ACTIONS)
def test_each_action_is_limited_per_ip(app, action):
    do, cost, _ = ACTIONS[action]
    world = _world(app, {f"{action}_IP_RATE_LIMIT": f"{3 * cost} per hour"})
    ana, bob = _client(app, "ana", "10.0.0.1"), _client(app, "bob", "10.0.0.1")
    assert [do(c, world).status_code < 400 for c in (ana, bob, ana)] == [True] * 3
    assert do(bob, world).status_code == 429  # the address's allowance, whoever asks
    assert do(_client(app, "cyd", "10.0.0.2"), world).status_code < 400


def test_signups_are_limited_per_ip(app):
    app.config.update(RATELIMIT_ENABLED=True, SIGNUP_RATE_LIMIT="2 per hour")
    client = app.test_client()
    for name in ("first1", "second2", "third3"):
        form = {"username": name, "email": f"{name}@example.com", "password": "x" * 4}
        response = client.post("/signup", data=form)
    assert response.status_code == 429


def test_the_429_page_is_in_the_layout_and_says_how_long_to_wait(app):
    world = _world(app, {"COMMENT_RATE_LIMIT": "1 per hour"})
    ana = _client(app, "ana", "10.0.0.1")
    _comment(ana, world)
    response = _comment(ana, world)
    html = response.get_data(as_text=True)
    assert response.status_code == 429
    assert '<main id="main"' in html and "<h1>Slow down a little</h1>" in html
    assert "You have written a lot of comments in a short time." in html
    assert "Please wait about 60 minutes" in html
    assert 3500 <= int(response.headers["Retry-After"]) <= 3600


def test_the_429_answer_to_htmx_is_a_message_for_the_flash_area(app):
    world = _world(app, {"COMMENT_RATE_LIMIT": "1 per hour"})
    ana = _client(app, "ana", "10.0.0.1")
    target = f"post-{world['post'].id}-comments"
    _comment(ana, world)
    response = ana.post(
        f"/posts/{world['post'].id}/comments", data={"body": "again"}, headers=hx(target)
    )
    html = response.get_data(as_text=True)
    assert response.status_code == 429
    assert html.startswith('<p class="flash flash-error" role="alert">') and "<main" not in html
    assert response.headers["HX-Retarget"] == "#flashes"


def test_a_limit_set_to_nothing_is_off(app):
    world = _world(app, {})
    ana = _client(app, "ana", "10.0.0.1")
    assert all(_comment(ana, world).status_code == 303 for _ in range(15))


# --- Redis down (H2) -----------------------------------------------------------------------


@pytest.fixture
def redis_server():
    server = RedisServer().start()
    yield server
    server.stop()


def _pages(client, post_id: int) -> list[int]:
    paths = ["/", "/latest", "/trending", "/search?q=study", "/tags/ink", f"/posts/{post_id}"]
    codes = [client.get(path).status_code for path in paths]
    codes.append(client.post("/login", data={"login": "ana", "password": "wrong"}).status_code)
    return codes


def test_rate_limits_count_in_memory_while_redis_is_down(app, redis_server, caplog):
    app.config.update(
        RATELIMIT_ENABLED=True,
        REDIS_URL=redis_server.url,
        RATELIMIT_STORAGE_URI=redis_server.url,
        LOGIN_RATE_LIMIT="2 per minute",
    )
    from cara.core.extensions import limiter

    limiter.init_app(app)  # the storage the app would build from this config at start-up
    person("ana")
    post = make_post(person("artist"), "A study", tags=["ink"])
    client = app.test_client()
    assert all(code < 500 for code in _pages(client, post.id))
    assert Redis.from_url(redis_server.url).keys("LIMITS*")  # counted in Redis

    redis_server.stop()
    caplog.set_level(logging.WARNING)
    codes = [code for _ in range(3) for code in _pages(client, post.id)]
    assert not [c for c in codes if c >= 500], codes
    assert codes.count(429) >= 1  # login is still limited, in memory
    assert "falling back to in-memory storage" in caplog.text
    health = client.get("/healthz")
    assert health.status_code == 200 and health.json["status"] == "degraded"
    assert health.json["checks"]["rate_limits"].startswith("degraded: counting in memory")

    redis_server.start()
    assert client.get("/healthz").json["checks"]["rate_limits"] == "ok"
    assert _counts_in_redis_again(client, Redis.from_url(redis_server.url))


def _counts_in_redis_again(client, redis: Redis, within: float = 20) -> bool:
    """Flask-Limiter probes the storage with a growing back-off: browse until it is back."""
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        assert client.get("/latest").status_code == 200
        if redis.keys("LIMITS*"):
            return True
        time.sleep(0.2)
    return False
