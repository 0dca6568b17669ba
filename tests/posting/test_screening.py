"""The AI filter inside the upload pipeline: hashes, verdict rows, post states, the CLI."""

import pytest
from sqlalchemy import select

from cara.core.extensions import db
from cara.core.models import Media, MediaState, Notification, PostState
from cara.posting import processing, screening
from tests.factories import FIREFLY, generator_png, uploadable
from tests.support import AI_FILTER_FIXTURES, build_tiny_model, fixture_manifest, write_sidecar

pytestmark = pytest.mark.usefixtures("no_avif")

MANIFEST = fixture_manifest()
AI_FLAGGED = [r["file"] for r in MANIFEST if r["label"] == "ai" and r["signal"] != "none"]
HUMAN = [r["file"] for r in MANIFEST if r["label"] == "human"]


def outcomes(make_post, author, names) -> dict[str, str]:
    """Upload each file as its own post through the real pipeline: name -> post state."""
    return {name: make_post(author=author, images=[uploadable(name)]).state.value for name in names}


@pytest.mark.parametrize(
    "prefix", ["ai/c2pa", "ai/comfy_", "ai/sdparsers_"], ids=["c2pa", "comfyui", "sd-parsers"]
)
def test_ai_fixtures_with_provenance_are_held(make_post, make_user, prefix):
    names = [n for n in AI_FLAGGED if n.startswith(prefix)]
    assert names
    assert outcomes(make_post, make_user(), names) == dict.fromkeys(names, "held")
    for media in db.session.scalars(select(Media)):
        reasons = [s for s in media.verdict.signals if s["reason"]]
        assert media.verdict.decision == "hold" and media.post.published_at is None
        assert reasons and all(s["verdict"] == "ai" and s["evidence"] for s in reasons)
        assert len(media.phash) == 16 and len(media.pdq) == 64


@pytest.mark.parametrize("part", [0, 1], ids=["first-half", "second-half"])
def test_human_fixtures_publish(make_post, make_user, part):
    names = HUMAN[part::2]
    assert outcomes(make_post, make_user(), names) == dict.fromkeys(names, "published")
    assert {m.verdict.decision for m in db.session.scalars(select(Media))} == {"publish"}


def test_algorithmic_media_trap_files_are_read_but_publish(make_post):
    for name in ("human/c2pars_C.jpg", "human/c2pars_CACAE-uri-CA.jpg"):
        post = make_post(images=[uploadable(name)])
        signals = post.media[0].verdict.signals
        assert post.state == PostState.PUBLISHED
        assert any(s["name"] == "c2pa" and s["verdict"] == "unknown" for s in signals)


def test_one_held_image_holds_the_whole_post_and_the_artist_is_told(make_post, make_user):
    artist = make_user()
    human = uploadable("human/skimage_coffee.png")
    post = make_post(author=artist, images=[human, generator_png()])
    assert post.state == PostState.HELD
    assert [m.verdict.decision for m in post.media] == ["publish", "hold"]
    note = db.session.scalar(select(Notification).where(Notification.user_id == artist.id))
    assert note.kind == "moderation" and note.post_id == post.id
    assert "held for review" in note.text and "AUTOMATIC1111" in note.text


def test_verdict_row_is_replaced_when_the_image_is_processed_again(make_post):
    post = make_post(images=[generator_png()])
    media = post.media[0]
    first = media.verdict.id
    processing.process(media)
    db.session.commit()
    assert media.verdict.id == first and media.verdict.decision == "hold"


def test_held_post_is_hidden_from_others_with_evidence_for_its_artist(
    client, auth, make_user, make_post
):
    artist = make_user("ana")
    post = make_post(author=artist, images=[FIREFLY.read_bytes()])
    assert client.get(f"/posts/{post.id}").status_code == 404
    make_user("bob")
    auth.login("bob")
    assert client.get(f"/posts/{post.id}").status_code == 404
    auth.logout()
    auth.login("ana")
    for url in (f"/posts/{post.id}", f"/posts/{post.id}/edit"):
        html = client.get(url).get_data(as_text=True)
        assert "Held for review" in html and f"/posts/{post.id}/appeal" in html
        # Plain words first, the filter's evidence one click away.
        plain = "This image carries a signature from an AI image generator ("
        assert plain in html and html.index(plain) < html.index("<summary>Technical details")
        assert "trainedAlgorithmicMedia" in html and "signal: c2pa" in html
        details = html[html.index('<details class="verdict-evidence">') :]
        assert "signal: c2pa" in details[: details.index("</details>")]


def test_classifier_holds_and_never_rejects(app, make_post, tmp_path):
    model = build_tiny_model(tmp_path / "tiny.onnx")
    write_sidecar(tmp_path / "tiny.json", hold_threshold=0.01)  # every image scores above
    app.config["CLASSIFIER_MODEL"] = str(model)
    assert screening.classifier_status() == "ok"
    post = make_post(images=[uploadable("human/skimage_coffee.png")])
    (reason,) = [s for s in post.media[0].verdict.signals if s["reason"]]
    assert post.state == PostState.HELD and reason["name"] == "classifier"
    assert "tiny" in reason["evidence"]


def test_healthz_says_when_no_classifier_is_configured(client, app, tmp_path):
    response = client.get("/healthz")
    assert response.status_code == 200 and response.json["status"] == "ok"
    assert response.json["checks"]["classifier"] == "not configured"
    app.config["CLASSIFIER_MODEL"] = str(tmp_path / "missing.onnx")
    response = client.get("/healthz")
    assert response.status_code == 503
    assert response.json["checks"]["classifier"].startswith("error: classifier")


def test_a_broken_classifier_does_not_stop_uploads(app, make_post, tmp_path):
    app.config["CLASSIFIER_MODEL"] = str(tmp_path / "missing.onnx")
    post = make_post(images=[uploadable("human/skimage_coffee.png")])
    assert post.state == PostState.PUBLISHED


def test_filter_check_prints_signals_and_decision(app):
    human = AI_FILTER_FIXTURES / "human/skimage_coffee.png"
    result = app.test_cli_runner().invoke(args=["filter", "check", str(FIREFLY), str(human)])
    assert result.exit_code == 0, result.output
    out = result.output
    assert "classifier: not configured" in out
    firefly, coffee = out.split(str(human))
    assert "c2pa" in firefly and "trainedAlgorithmicMedia" in firefly
    assert "decision: hold" in firefly and "decision: publish" in coffee


def test_filter_check_tries_a_model_without_configuring_it(app, tmp_path):
    model = build_tiny_model(tmp_path / "try.onnx")
    write_sidecar(tmp_path / "try.json", hold_threshold=0.01)
    human = str(AI_FILTER_FIXTURES / "human/skimage_coffee.png")
    result = app.test_cli_runner().invoke(args=["filter", "check", human, "--model", str(model)])
    assert result.exit_code == 0, result.output
    assert "classifier: try" in result.output and "decision: hold" in result.output
    bad = app.test_cli_runner().invoke(args=["filter", "check", human, "--model", human])
    assert bad.exit_code == 1 and "sidecar not found" in bad.output


def test_filter_check_reports_an_undecodable_file(app, tmp_path):
    junk = tmp_path / "junk.png"
    junk.write_bytes(b"not an image at all")
    result = app.test_cli_runner().invoke(args=["filter", "check", str(junk)])
    assert result.exit_code == 1 and "not a decodable image" in result.output
    assert "decision: publish" in result.output


def test_a_posts_images_are_classified_in_one_batch(app, make_post, tmp_path, monkeypatch):
    model = build_tiny_model(tmp_path / "tiny.onnx")
    write_sidecar(tmp_path / "tiny.json", hold_threshold=0.99)  # nothing is held
    app.config["CLASSIFIER_MODEL"] = str(model)
    batches = []
    loaded = screening.classifier()
    real_predict = loaded.predict

    def counting_predict(images):
        batches.append(len(images))
        return real_predict(images)

    monkeypatch.setattr(loaded, "predict", counting_predict)
    names = ["human/skimage_coffee.png", "human/skimage_chelsea.png", "human/pillow_hopper.jpg"]
    post = make_post(images=[uploadable(n) for n in names])
    assert batches == [3]  # one call for the whole post, not one per image
    assert post.state == PostState.PUBLISHED
    for media in post.media:
        scored = [s for s in media.verdict.signals if s["name"] == "classifier"]
        assert len(scored) == 1 and not scored[0]["reason"]
    # Processing the image again (a re-render) keeps its score without classifying again.
    media = post.media[0]
    media.state = MediaState.PENDING
    db.session.commit()
    processing.process_media(media.id)
    assert batches == [3]
    assert [s["name"] for s in media.verdict.signals].count("classifier") == 1


@pytest.mark.parametrize(
    "name,evidence,plain",
    [
        (
            "c2pa",
            'C2PA manifest "Adobe Firefly" declares digitalSourceType '
            "trainedAlgorithmicMedia (signature: untrusted)",
            "This image carries a signature from an AI image generator (Adobe Firefly).",
        ),
        (
            "png-text",
            'PNG text chunk "parameters" (AUTOMATIC1111 generation settings)',
            "This image's file holds the settings of an AI image generator (AUTOMATIC1111).",
        ),
        ("known-hash", "Matches a known AI-generated image (pdq distance 4)", "already known"),
        ("classifier", "tiny scored this image 0.93 (hold at 0.80)", "likely AI-generated"),
        ("something-new", "whatever it found", "Our AI-image filter flagged this image."),
    ],
)
def test_hold_reasons_in_plain_words(name, evidence, plain):
    assert plain in screening.plain_reason({"name": name, "evidence": evidence})
