"""/admin/jobs: failed posts and images for admins, with a Retry form that works without JS."""

import pytest

from cara.core.extensions import db
from cara.core.models import Media, MediaState, Post, PostState
from tests import factories

pytestmark = pytest.mark.usefixtures("no_avif")


def failed_post() -> Post:
    """A real post whose image processing gave up (as after MAX_ATTEMPTS errors)."""
    post = factories.make_post(None, "Ink", images=[factories.image_bytes(size=(300, 200))])
    for media in post.media:
        media.state, media.attempts, media.error = MediaState.FAILED, 4, "OSError: disk on fire"
    post.state = PostState.FAILED
    db.session.commit()
    return post


def test_only_admins_see_failed_jobs(client, auth):
    failed_post()
    assert client.get("/admin/jobs").status_code == 404
    factories.person("mod", role="moderator")
    auth.login("mod")
    assert client.get("/admin/jobs").status_code == 404
    assert client.post("/admin/jobs/posts/1/retry").status_code == 404


def test_admin_sees_errors_and_attempts_and_retries(client, auth, caplog):
    post = failed_post()
    avatar = Media(owner_id=post.author_id, original_path="x", sha256="0" * 64, format="png",
                   state=MediaState.FAILED, attempts=4, error="ValueError: truncated")  # fmt: skip
    db.session.add(avatar)
    db.session.commit()
    factories.person("root", role="admin")
    auth.login("root")

    page = client.get("/admin/jobs").get_data(as_text=True)
    assert f'id="failed-post-{post.id}"' in page and "OSError: disk on fire" in page
    assert "<td>4</td>" in page
    assert f'id="failed-media-{avatar.id}"' in page and "ValueError: truncated" in page
    assert f'action="/admin/jobs/posts/{post.id}/retry"' in page

    with caplog.at_level("INFO", logger="cara.ops.jobs"):
        response = client.post(f"/admin/jobs/posts/{post.id}/retry")
    assert response.status_code == 303 and response.headers["Location"] == "/admin/jobs"
    assert f"admin @root retried the failed processing of post {post.id}" in caplog.text
    post = db.session.get(Post, post.id)
    assert post.state == PostState.PUBLISHED  # jobs run inline in tests
    assert all(m.state == MediaState.DONE and m.attempts == 1 for m in post.media)
    assert f'id="failed-post-{post.id}"' not in client.get("/admin/jobs").get_data(as_text=True)


def test_retry_of_a_post_without_failures_says_so(client, auth):
    post = factories.make_post(None, "Fine", images=1)
    factories.person("root", role="admin")
    auth.login("root")
    assert client.post(f"/admin/jobs/posts/{post.id}/retry").status_code == 303
    page = client.get("/admin/jobs").get_data(as_text=True)
    assert f"Post {post.id} has no failed images." in page
    assert client.post("/admin/jobs/posts/999999/retry").status_code == 404
