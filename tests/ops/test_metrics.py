"""/metrics (Prometheus text) and /healthz: who may read them and what they report."""

import pytest
from prometheus_client.parser import text_string_to_metric_families

from cara.core.models import PostState
from cara.imaging import Limits
from cara.posting import drafts
from tests import factories
from tests.support import REDIS_URL, empty_redis

pytestmark = pytest.mark.usefixtures("no_avif")

TOKEN = "a-long-random-metrics-token"


@pytest.fixture
def app_config():
    return {"METRICS_TOKEN": TOKEN}


def scrape(client) -> dict:
    """{(name, frozenset(labels)): value} of every sample."""
    response = client.get("/metrics", headers={"Authorization": f"Bearer {TOKEN}"})
    assert response.status_code == 200, response.status_code
    assert response.headers["Content-Type"].startswith("text/plain; version=")
    return {
        (s.name, frozenset(s.labels.items())): s.value
        for family in text_string_to_metric_families(response.get_data(as_text=True))
        for s in family.samples
    }


def test_metrics_are_for_admins_and_the_token_only(client, auth):
    assert client.get("/metrics").status_code == 404
    assert client.get("/metrics", headers={"Authorization": "Bearer wrong"}).status_code == 404
    factories.person("ana")
    auth.login("ana")
    assert client.get("/metrics").status_code == 404
    auth.logout()
    factories.person("root", role="admin")
    auth.login("root")
    assert client.get("/metrics").status_code == 200


@pytest.mark.parametrize("app_config", [{"METRICS_TOKEN": None}])
def test_no_token_configured_lets_no_bearer_in(client):
    assert client.get("/metrics", headers={"Authorization": "Bearer "}).status_code == 404
    assert client.get("/metrics", headers={"Authorization": "Bearer None"}).status_code == 404


def test_requests_processing_and_site_state(client):
    published = factories.make_post(None, "Ink", images=[factories.image_bytes(size=(300, 200))])
    factories.make_post(published.author, "Held", images=1, state=PostState.HELD)
    before = scrape(client)
    for _ in range(3):
        client.get(f"/posts/{published.id}")
    client.get("/no/such/page")
    after = scrape(client)

    ok = ("cara_http_requests_total", frozenset(
        {"endpoint": "posts.view", "method": "GET", "status": "200"}.items()))  # fmt: skip
    assert after[ok] - before.get(ok, 0) == 3
    missing = ("cara_http_requests_total", frozenset(
        {"endpoint": "none", "method": "GET", "status": "404"}.items()))  # fmt: skip
    assert after[missing] - before.get(missing, 0) == 1
    count = (
        "cara_http_request_duration_seconds_count",
        frozenset({"endpoint": "posts.view"}.items()),
    )
    assert after[count] - before.get(count, 0) == 3

    assert after[("cara_posts", frozenset({"state": "held"}.items()))] == 1
    assert after[("cara_posts", frozenset({"state": "published"}.items()))] == 1
    assert after[("cara_media", frozenset({"state": "done"}.items()))] == 2
    assert after[("cara_filter_decisions", frozenset({"outcome": "publish"}.items()))] == 1
    # Upload to done, for images processed in the last hour: the real one, in seconds.
    assert after[("cara_processing_seconds_gcount", frozenset())] == 1
    assert 0 < after[("cara_processing_seconds_gsum", frozenset())] < 60
    assert after[("cara_processing_seconds_bucket", frozenset({"le": "+Inf"}.items()))] == 1


def test_healthz_reports_queues(client):
    body = client.get("/healthz").get_json()
    assert body["status"] == "ok" and body["checks"]["jobs"] == "inline"
    assert body["queues"] == {}


def test_every_response_carries_a_request_id(client):
    first = client.get("/healthz").headers["X-Request-ID"]
    assert len(first) == 32 and first != client.get("/healthz").headers["X-Request-ID"]
    given = "proxy-abc-12345678"
    assert client.get("/healthz", headers={"X-Request-ID": given}).headers["X-Request-ID"] == given
    forged = client.get("/healthz", headers={"X-Request-ID": "<script>"}).headers["X-Request-ID"]
    assert len(forged) == 32


@pytest.mark.parametrize("app_config", [{"REDIS_URL": REDIS_URL, "METRICS_TOKEN": TOKEN}])
def test_queue_depth_comes_from_rq(client, make_user):
    empty_redis()
    post, errors = drafts.add_images(
        make_user(), None, [drafts.Upload("a.png", factories.image_bytes())], Limits(), 10
    )
    assert not errors  # enqueued into Redis, no worker runs here
    assert client.get("/healthz").get_json()["queues"] == {"cara": 1, "cara-low": 0}
    figures = scrape(client)
    assert figures[("cara_queue_depth", frozenset({"queue": "cara"}.items()))] == 1
    assert figures[("cara_redis_up", frozenset())] == 1
    assert figures[("cara_rq_failed_jobs", frozenset())] == 0
