"""Moderation: the review queue, confirm and clear, re-uploads caught by hash, appeals, reports."""

import io
import os

import pytest
from PIL import Image, ImageOps
from sqlalchemy import select

from cara import moderation
from cara.core import storage
from cara.core.extensions import db
from cara.core.models import (
    Appeal,
    AuditEntry,
    KnownHash,
    Media,
    Notification,
    Post,
    PostState,
    Report,
)
from tests.factories import FIREFLY, canvas, generator_png, pixels_only

pytestmark = pytest.mark.usefixtures("no_avif")


def login(auth, name):
    auth.logout()
    assert auth.login(name).status_code in (302, 303)


def png(img: Image.Image) -> bytes:
    buf = io.BytesIO()
    img.save(buf, "PNG")
    return buf.getvalue()


def test_moderation_is_for_moderators_only(client, auth, people, make_post):
    post = make_post(author=people["ana"], images=[generator_png()])
    queue, hashes = "/moderation", "/moderation/hashes"
    confirm = f"/moderation/posts/{post.id}/confirm"
    assert client.get(queue).status_code == 404  # logged out: not advertised, not a login page
    login(auth, "ana")
    assert client.get(queue).status_code == 404 and client.get(hashes).status_code == 404
    assert client.post(confirm, data={"reason": "mine now"}).status_code == 404
    assert ">Moderation</a>" not in client.get("/").get_data(as_text=True)
    login(auth, "mona")
    assert client.get(queue).status_code == 200 and client.get(hashes).status_code == 404
    assert ">Moderation</a>" in client.get("/").get_data(as_text=True)
    login(auth, "alma")
    assert client.get(queue).status_code == 200 and client.get(hashes).status_code == 200
    db.session.refresh(post)
    assert post.state == PostState.HELD


def test_held_queue_shows_signals_evidence_and_scores(client, auth, people, make_post):
    post = make_post(author=people["ana"], images=[FIREFLY.read_bytes()])
    login(auth, "mona")
    html = client.get("/moderation").get_data(as_text=True)
    assert f'id="review-post-{post.id}"' in html and "Held posts (1)" in html
    assert "trainedAlgorithmicMedia" in html
    assert '<td data-label="Signal">c2pa <strong>(decided)</strong></td>' in html
    assert '<td data-label="Score">1.00</td>' in html and "Classifier not configured" in html
    assert 'for="confirm-reason-' in html and 'for="clear-reason-' in html
    # Moderators see the held post itself, with the verdict and the decision forms.
    page = client.get(f"/posts/{post.id}").get_data(as_text=True)
    assert "Held for review" in page and f"/moderation/posts/{post.id}/confirm" in page


def test_confirm_rejects_and_hash_catches_every_reupload(client, auth, people, make_post):
    post = make_post(author=people["ana"], images=[FIREFLY.read_bytes()])
    login(auth, "mona")
    reason = "C2PA manifest from Adobe Firefly; the artist's account is new"
    response = client.post(
        f"/moderation/posts/{post.id}/confirm", data={"reason": reason, "next": "/moderation"}
    )
    assert response.status_code == 303 and response.headers["Location"] == "/moderation"
    db.session.refresh(post)
    assert post.state == PostState.REJECTED
    rows = db.session.scalars(select(KnownHash).where(KnownHash.media_id == post.media[0].id))
    rows = list(rows)
    assert len(rows) > 40 and {(r.allow, r.source, r.trusted) for r in rows} == {
        (False, "moderator", True)
    }
    (entry,) = db.session.scalars(select(AuditEntry))
    assert (entry.action, entry.actor_id, entry.subject_id, entry.reason) == (
        "confirm-ai",
        people["mona"].id,
        post.id,
        reason,
    )
    told = db.session.scalars(select(Notification).where(Notification.user_id == people["ana"].id))
    assert any("confirmed it as AI-generated" in n.text and reason in n.text for n in told)
    assert "confirm-ai" in client.get("/moderation?queue=log").get_data(as_text=True)

    # Someone else re-posts it, metadata stripped (pixels only): the hash alone catches it.
    img = Image.open(FIREFLY).convert("RGB")
    w, h = img.size
    reuploads = {
        "resized-50": pixels_only(img.resize((w // 2, h // 2), Image.Resampling.LANCZOS)),
        "jpeg-q60": pixels_only(img, "JPEG", quality=60),
        "cropped-10": pixels_only(img.crop((round(w * 0.1), 0, w, h))),
        "mirrored": pixels_only(ImageOps.mirror(img)),
    }
    posts = {k: make_post(author=people["bob"], images=[v]) for k, v in reuploads.items()}
    assert {k: p.state.value for k, p in posts.items()} == dict.fromkeys(reuploads, "rejected")
    login(auth, "bob")
    for p in posts.values():
        signals = p.media[0].verdict.signals
        assert [s["name"] for s in signals if s["reason"]] == ["known-hash"]
        assert not any(s["name"] == "c2pa" for s in signals)  # nothing but the pixels
        html = client.get(f"/posts/{p.id}").get_data(as_text=True)
        assert "Not published" in html and "Matches a known AI-generated image" in html
        assert "confirmed by a moderator" in html and f"/posts/{p.id}/appeal" in html


def test_clear_publishes_and_the_cleared_image_is_not_flagged_again(
    client, auth, people, make_post
):
    art = generator_png(seed=3)
    post = make_post(author=people["ana"], images=[art])
    login(auth, "mona")
    response = client.post(f"/moderation/posts/{post.id}/clear", data={"reason": ""})
    assert response.status_code == 303
    db.session.refresh(post)
    assert post.state == PostState.PUBLISHED and post.published_at is not None
    allowed = db.session.scalars(
        select(KnownHash.allow).where(KnownHash.media_id == post.media[0].id)
    )
    assert set(allowed) == {True}
    assert db.session.scalar(select(AuditEntry.action)) == "clear"
    told = db.session.scalars(
        select(Notification.text).where(Notification.user_id == post.author_id)
    )
    assert "published it" in " ".join(told)
    assert client.get("/latest").get_data(as_text=True).count(f'id="post-{post.id}"') == 1

    again = make_post(author=people["ana"], images=[art])
    assert again.state == PostState.PUBLISHED
    signals = {s["name"]: s for s in again.media[0].verdict.signals}
    assert signals["allow-listed"]["verdict"] == "human"
    assert not signals["png-text"]["reason"]  # still recorded, no longer decisive


def test_artist_appeals_with_a_wip_image_and_the_moderator_sees_it(client, auth, people, make_post):
    post = make_post(author=people["ana"], images=[generator_png()])
    url = f"/posts/{post.id}/appeal"
    login(auth, "bob")
    assert client.get(url).status_code == 404
    login(auth, "ana")
    page = client.get(url).get_data(as_text=True)
    assert '<label for="message">Message</label>' in page and "Process images" in page
    assert "AUTOMATIC1111" in page  # the evidence the appeal answers

    response = client.post(url, data={"message": "  "})
    assert response.status_code == 422 and "Tell the moderators" in response.get_data(True)
    svg = (io.BytesIO(b"<svg xmlns='http://www.w3.org/2000/svg'/>"), "layers.svg")
    response = client.post(url, data={"message": "I drew it", "images": [svg]})
    assert response.status_code == 422 and "layers.svg" in response.get_data(as_text=True)
    assert db.session.scalar(select(Appeal.id)) is None
    assert len(db.session.scalars(select(Media)).all()) == 1

    wip = (io.BytesIO(png(canvas((300, 200), seed=9))), "sketch.png")
    message = "Painted in Krita over three evenings; the sketch layer is attached."
    response = client.post(url, data={"message": message, "images": [wip]})
    assert response.status_code == 303
    appeal = db.session.scalar(select(Appeal))
    (evidence_id,) = appeal.evidence_media_ids
    evidence = db.session.get(Media, evidence_id)
    assert appeal.status == "open" and appeal.message == message
    assert evidence.post_id is None and evidence.renditions == []
    original = storage.original_path(evidence.original_path)
    assert original.is_file() and os.stat(original).st_mode & 0o777 == 0o600
    assert "Your appeal is waiting" in client.get(f"/posts/{post.id}").get_data(as_text=True)
    response = client.post(url, data={"message": "again"})
    assert response.status_code == 422 and "already has an appeal" in response.get_data(True)
    image_url = f"/moderation/appeals/{appeal.id}/images/{evidence_id}"
    assert client.get(image_url).status_code == 404  # the artist's own upload: moderators only

    login(auth, "mona")
    html = client.get("/moderation?queue=appeals").get_data(as_text=True)
    assert "Appeals (1)" in html and message in html and image_url in html
    response = client.get(image_url)
    assert response.status_code == 200 and response.mimetype == "image/webp"
    assert Image.open(io.BytesIO(response.data)).size == (300, 200)
    assert (
        client.get(f"/moderation/appeals/{appeal.id}/images/{post.media[0].id}").status_code == 404
    )
    client.post(f"/moderation/posts/{post.id}/clear", data={"reason": "Sketch layers convince me"})
    db.session.refresh(appeal)
    assert appeal.status == "granted"


def test_rejected_post_appeal_is_queued_and_can_be_granted(client, auth, people, make_post):
    post = make_post(author=people["ana"], images=[generator_png(seed=4)])
    login(auth, "mona")
    client.post(f"/moderation/posts/{post.id}/confirm", data={"reason": "Generator metadata"})
    login(auth, "ana")
    client.post(f"/posts/{post.id}/appeal", data={"message": "It is my own drawing."})
    login(auth, "mona")
    html = client.get("/moderation?queue=appeals").get_data(as_text=True)
    assert f'id="review-post-{post.id}"' in html and "(rejected)" in html
    client.post(f"/moderation/posts/{post.id}/clear", data={"reason": "Convincing process"})
    db.session.refresh(post)
    assert post.state == PostState.PUBLISHED
    assert db.session.scalar(select(Appeal.status)) == "granted"
    rows = db.session.scalars(select(KnownHash.allow).where(KnownHash.media_id == post.media[0].id))
    assert set(rows) == {True}  # the latest decision about the picture replaces the earlier one
    assert [e.action for e in db.session.scalars(select(AuditEntry).order_by(AuditEntry.id))] == [
        "confirm-ai",
        "appeal",
        "clear",
    ]


def test_moderator_confirms_a_published_post_from_its_page(client, auth, people, make_post):
    post = make_post(author=people["ana"], images=[png(canvas(seed=11))])
    assert post.state == PostState.PUBLISHED
    login(auth, "mona")
    assert "Moderate this post" in client.get(f"/posts/{post.id}").get_data(as_text=True)
    response = client.post(
        f"/moderation/posts/{post.id}/confirm",
        data={"reason": "Reported; matches the generator's sample", "next": f"/posts/{post.id}"},
    )
    assert response.headers["Location"] == f"/posts/{post.id}"
    db.session.refresh(post)
    assert post.state == PostState.REJECTED
    assert db.session.scalar(select(KnownHash.media_id).limit(1)) == post.media[0].id


def test_decisions_need_a_reason_and_a_post_in_the_right_state(client, auth, people, make_post):
    post = make_post(author=people["ana"], images=[generator_png()])
    login(auth, "mona")
    response = client.post(f"/moderation/posts/{post.id}/confirm", data={"reason": " "})
    assert response.status_code == 422 and "Give a reason" in response.get_data(as_text=True)
    long = client.post(f"/moderation/posts/{post.id}/clear", data={"reason": "x" * 2001})
    assert long.status_code == 422
    assert db.session.scalar(select(AuditEntry.id)) is None
    client.post(f"/moderation/posts/{post.id}/clear")
    response = client.post(f"/moderation/posts/{post.id}/clear")
    assert response.status_code == 409 and "published post cannot be cleared" in response.text
    assert client.post("/moderation/posts/999999/confirm", data={"reason": "x"}).status_code == 404
    evil = client.post(f"/moderation/posts/{post.id}/confirm", data={"reason": "AI", "next": "//x"})
    assert evil.headers["Location"] == "/moderation"
    assert client.get("/moderation?queue=nope").status_code == 404


def test_reports_are_listed_and_closed_with_an_audit_entry(client, auth, people, make_post):
    post = make_post(author=people["ana"], images=[png(canvas(seed=12))])
    report = Report(
        reporter_id=people["bob"].id, subject_kind="post", subject_id=post.id, reason="Looks AI"
    )
    db.session.add(report)
    db.session.commit()
    login(auth, "mona")
    html = client.get("/moderation?queue=reports").get_data(as_text=True)
    assert "Reports (1)" in html and "Looks AI" in html and f'href="/posts/{post.id}"' in html
    assert "@bob" in html and 'for="close-reason-' in html
    url = f"/moderation/reports/{report.id}/close"
    assert client.post(url, data={"reason": "Process video on their profile"}).status_code == 303
    db.session.refresh(report)
    assert report.status == "closed"
    entry = db.session.scalar(select(AuditEntry))
    assert (entry.action, entry.subject_kind, entry.subject_id) == (
        "close-report",
        "report",
        report.id,
    )
    assert client.post(url).status_code == 409
    assert "No open reports" in client.get("/moderation?queue=reports").get_data(as_text=True)


def test_queue_is_keyset_paginated(client, auth, people, make_post, monkeypatch):
    monkeypatch.setattr(moderation, "PAGE_SIZE", 2)
    posts = [make_post(author=people["ana"], images=[generator_png(seed=s)]) for s in range(3)]
    login(auth, "mona")
    first = client.get("/moderation").get_data(as_text=True)
    assert [f'id="review-post-{p.id}"' in first for p in posts] == [True, True, False]
    page = moderation.queue("held")
    assert page.next_cursor and f"after={page.next_cursor}" in first
    second = client.get(f"/moderation?after={page.next_cursor}").get_data(as_text=True)
    assert [f'id="review-post-{p.id}"' in second for p in posts] == [False, False, True]
    assert "Next page" not in second
    tampered = client.get("/moderation?after=not-a-cursor").get_data(as_text=True)
    assert f'id="review-post-{posts[0].id}"' in tampered  # a bad cursor is page 1, not a 500


def test_held_post_stays_out_of_public_pages(client, people, make_post):
    post = make_post(author=people["ana"], images=[generator_png()])
    assert db.session.get(Post, post.id).state == PostState.HELD
    assert f'id="post-{post.id}"' not in client.get("/latest").get_data(as_text=True)
    assert client.get(f"/posts/{post.id}/appeal").status_code == 302  # log in first


def test_deleting_a_post_deletes_its_appeal_images(client, auth, people, make_post):
    post = make_post(author=people["ana"], images=[generator_png()])
    login(auth, "ana")
    wip = (io.BytesIO(png(canvas(seed=13))), "wip.png")
    client.post(f"/posts/{post.id}/appeal", data={"message": "My WIP", "images": [wip]})
    (evidence_id,) = db.session.scalar(select(Appeal.evidence_media_ids))
    original = storage.original_path(db.session.get(Media, evidence_id).original_path)
    assert original.is_file()
    assert client.post(f"/posts/{post.id}/delete").status_code == 303
    db.session.expire_all()
    assert db.session.get(Media, evidence_id) is None and not original.exists()
    assert db.session.scalar(select(Appeal.id)) is None
