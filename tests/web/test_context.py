"""Views compute what templates show in batches: a page's cost does not grow with its length."""

import re
from contextlib import contextmanager

from sqlalchemy import event

from cara.core.extensions import db
from cara.core.models import Comment, Report


@contextmanager
def counted():
    """The SQL statements run inside the block (by any request made in it).
    (tests/test_feeds.py has its own count_queries: one helper once the tests are reorganised.)"""
    statements: list[str] = []
    with _listening(lambda conn, cursor, statement, *rest: statements.append(statement)):
        yield statements


@contextmanager
def _listening(listener):
    event.listen(db.engine, "before_cursor_execute", listener)
    try:
        yield
    finally:
        event.remove(db.engine, "before_cursor_execute", listener)


def _report(reporter, kind: str, subject_id: int) -> None:
    db.session.add(
        Report(reporter_id=reporter.id, subject_kind=kind, subject_id=subject_id, reason="spam")
    )


def _reports_page(client) -> tuple[str, int]:
    with counted() as statements:
        response = client.get("/moderation?queue=reports")
    assert response.status_code == 200
    return response.get_data(as_text=True), len(statements)


def test_report_links_are_built_by_the_web_layer_in_one_query_per_kind(
    client, auth, make_user, make_post
):
    make_user("mona", role="moderator")
    reporter, artist = make_user("rita"), make_user("ana")
    post = make_post(author=artist)
    comment = Comment(post_id=post.id, author_id=artist.id, body="hello")
    db.session.add(comment)
    db.session.commit()
    for kind, subject_id in [("post", post.id), ("comment", comment.id), ("user", artist.id)]:
        _report(reporter, kind, subject_id)
    _report(reporter, "post", 999_999)  # gone
    _report(reporter, "job", 5)  # no page of its own in the queue
    db.session.commit()
    auth.login("mona")
    _reports_page(client)  # the header's unread count is cached from here on
    html, few = _reports_page(client)
    assert f'<a href="/posts/{post.id}">Post {post.id}</a>' in html
    assert f'<a href="/posts/{post.id}#comment-{comment.id}">Comment {comment.id}</a>' in html
    assert '<a href="/@ana">@ana</a>' in html
    assert "Post 999999 (gone)" in html and "Job 5 (gone)" in html

    # Five times as many reports of every kind: not one query more.
    for _ in range(4):
        for kind, subject_id in [("post", post.id), ("comment", comment.id), ("user", artist.id)]:
            _report(make_user(), kind, subject_id)
    db.session.commit()
    html, many = _reports_page(client)
    assert len(re.findall(r'class="report" id="report-', html)) == 17
    assert many == few


def test_a_feed_page_costs_the_same_for_more_posts(client, auth, make_user, make_post):
    make_user("vera")
    authors = [make_user() for _ in range(2)]
    for author in authors:
        make_post(author=author)
    auth.login("vera")
    client.get("/latest")  # the header's unread count is cached from here on
    with counted() as few:
        assert client.get("/latest").status_code == 200
    for author in authors * 3:
        make_post(author=author)
    with counted() as many:
        html = client.get("/latest").get_data(as_text=True)
    assert html.count('class="card"') == 8
    assert len(many) == len(few)
