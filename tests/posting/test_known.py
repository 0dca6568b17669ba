"""Known hashes: the index over KnownHash rows, trust, the allow list, hash-list files."""

import io
import json

import pytest
from sqlalchemy import delete, select

from cara.aifilter import hashindex
from cara.aifilter.signals import KNOWN_HASH, KNOWN_HASH_ALLOWED, Signal, decide
from cara.core.extensions import db
from cara.core.models import KnownHash, PostState
from cara.posting import known
from tests.factories import canvas, pixels_only

pytestmark = pytest.mark.usefixtures("no_avif")

PICTURE = canvas((480, 360), seed=21)
OTHER = canvas((480, 360), seed=22)


_variants: dict[int, list] = {}
N_VARIANTS = 53  # orig + 4 sides x 6 crop steps, each mirrored (50), 3 turns; no frame to trim


def stored_variants(img):
    """hashindex.variant_hashes, computed once per picture for the whole module (53)."""
    if id(img) not in _variants:
        _variants[id(img)] = hashindex.variant_hashes(img)
    return _variants[id(img)]


def rows_for(img, **fields) -> list[KnownHash]:
    """KnownHash rows for every stored variant of a picture."""
    defaults = {"allow": False, "source": "import", "trusted": True, "note": ""}
    return [
        KnownHash(phash=h.phash_hex, pdq=h.pdq_hex, variant=name, **{**defaults, **fields})
        for name, h in stored_variants(img)
    ]


def store(rows) -> None:
    db.session.add_all(rows)
    db.session.commit()


def hash_list(img, fmt="csv", note="sample") -> str:
    records = [hashindex.HashRecord.from_hashes(h, name, note) for name, h in stored_variants(img)]
    return hashindex.dump_hash_list(records, fmt)


def names(signals) -> list[str]:
    return [s.name for s in signals]


def test_no_rows_no_signal(app):
    assert known.signals_for(PICTURE) == []


def test_trusted_rows_reject_untrusted_hold(app):
    store(rows_for(PICTURE, trusted=False, note="community list"))
    (signal,) = known.signals_for(PICTURE)
    assert signal.name == known.UNTRUSTED and signal.definitive and signal.verdict == "ai"
    assert "not trusted to reject" in signal.evidence and "community list" in signal.evidence
    assert decide([signal]).decision == "hold"
    store(rows_for(PICTURE, source="moderator"))
    (signal,) = known.signals_for(PICTURE)
    assert signal.name == KNOWN_HASH and "confirmed by a moderator" in signal.evidence
    assert decide([signal]).decision == "reject"
    assert known.signals_for(OTHER) == []


def test_listed_and_allowed_match_holds_for_review(app):
    store(rows_for(PICTURE) + rows_for(PICTURE, allow=True, source="moderator"))
    (signal,) = known.signals_for(PICTURE)
    assert signal.name == KNOWN_HASH_ALLOWED and decide([signal]).decision == "hold"


def test_allow_list_lifts_provenance_holds_but_never_hash_matches(app):
    store(rows_for(PICTURE, allow=True, source="moderator"))
    (allowed,) = known.signals_for(PICTURE)
    assert allowed.name == known.ALLOWED and allowed.verdict == "human"
    claim = Signal("png-text", "ai", 1.0, "AUTOMATIC1111 parameters", definitive=True)
    assert known.apply_allow_list(decide([claim, allowed]), [claim, allowed]).decision == "publish"
    listed = Signal(KNOWN_HASH_ALLOWED, "ai", 1.0, "both", definitive=True)
    held = decide([claim, listed])
    assert known.apply_allow_list(held, [claim, listed, allowed]) == held
    assert known.apply_allow_list(decide([claim]), [claim]).decision == "hold"


def test_index_follows_the_table_additions_and_deletions(app):
    assert known.signals_for(PICTURE) == []
    store(rows_for(OTHER))
    assert known.signals_for(PICTURE) == []
    picture = rows_for(PICTURE)
    store(picture)  # added incrementally
    assert names(known.signals_for(PICTURE)) == [KNOWN_HASH]
    db.session.execute(delete(KnownHash).where(KnownHash.id.in_([r.id for r in picture])))
    db.session.commit()  # a deletion rebuilds the index
    assert known.signals_for(PICTURE) == [] and names(known.signals_for(OTHER)) == [KNOWN_HASH]
    db.session.execute(KnownHash.__table__.update().values(allow=True))
    db.session.commit()  # a changed flag rebuilds it too
    assert names(known.signals_for(OTHER)) == [known.ALLOWED]


def test_import_untrusted_list_holds_trusted_list_rejects(app, make_post, tmp_path):
    path = str(tmp_path / "list.csv")
    with open(path, "w") as f:
        f.write(hash_list(PICTURE))
    runner = app.test_cli_runner()
    result = runner.invoke(args=["hashes", "import", path, "--untrusted", "--note", "Other site"])
    assert result.exit_code == 0 and f"Imported {N_VARIANTS} untrusted hashes" in result.output
    assert {r.trusted for r in db.session.scalars(select(KnownHash))} == {False}
    post = make_post(images=[pixels_only(PICTURE, "JPEG", quality=85)])
    assert post.state == PostState.HELD
    (reason,) = [s for s in post.media[0].verdict.signals if s["reason"]]
    assert reason["name"] == known.UNTRUSTED and "Other site" in reason["evidence"]
    assert runner.invoke(args=["hashes", "import", path]).exit_code == 0
    post = make_post(images=[pixels_only(PICTURE, "JPEG", quality=80)])
    assert post.state == PostState.REJECTED


@pytest.mark.parametrize("fmt", ["csv", "json"])
def test_import_with_a_bad_line_names_it_and_imports_nothing(
    app, client, auth, make_user, fmt, tmp_path
):
    text = hash_list(PICTURE, fmt)
    target = stored_variants(PICTURE)[2][1].phash_hex
    at = text.index(target)
    broken = text[:at] + "zz-not-hex" + text[at + len(target) :]
    line_no = text[:at].count("\n") + 1
    path = str(tmp_path / f"bad.{fmt}")
    with open(path, "w") as f:
        f.write(broken)
    result = app.test_cli_runner().invoke(args=["hashes", "import", path])
    assert result.exit_code == 1
    assert f"line {line_no}:" in result.output and "Nothing was imported" in result.output
    assert db.session.scalar(select(KnownHash.id)) is None

    make_user("alma", role="admin")
    auth.login("alma")
    upload = {"file": (io.BytesIO(broken.encode()), f"bad.{fmt}"), "note": "x"}
    response = client.post("/moderation/hashes", data=upload, content_type="multipart/form-data")
    html = response.get_data(as_text=True)
    assert (
        response.status_code == 422
        and f"line {line_no}:" in html
        and "Nothing was imported" in html
    )
    assert db.session.scalar(select(KnownHash.id)) is None


@pytest.mark.parametrize("fmt", ["csv", "json"])
def test_export_then_import_round_trip(app, fmt, tmp_path):
    store(rows_for(PICTURE, source="moderator"))
    store(rows_for(OTHER, allow=True, source="moderator"))  # cleared art stays here
    store(rows_for(OTHER, trusted=False))  # so does a list nobody vouched for
    before = {(r.phash, r.pdq, r.variant) for r in rows_for(PICTURE)}
    path = str(tmp_path / f"export.{fmt}")
    runner = app.test_cli_runner()
    result = runner.invoke(args=["hashes", "export", path])
    assert result.exit_code == 0 and f"Exported {N_VARIANTS} hashes" in result.output
    if fmt == "json":
        with open(path) as f:
            assert json.load(f)["format"] == hashindex.FORMAT_NAME
    db.session.execute(delete(KnownHash))
    db.session.commit()
    result = runner.invoke(args=["hashes", "import", path, "--note", "from our backup"])
    assert result.exit_code == 0, result.output
    rows = db.session.scalars(select(KnownHash)).all()
    assert {(r.phash, r.pdq, r.variant) for r in rows} == before
    assert {(r.source, r.trusted, r.allow, r.note) for r in rows} == {
        ("import", True, False, "from our backup; moderator")
    }
    assert names(known.signals_for(PICTURE)) == [KNOWN_HASH]


def test_export_is_this_site_s_own_confirmations_unless_pulled_lists_are_included(app, tmp_path):
    from cara.core.models import HashSubscription

    sub = HashSubscription(url="https://peer.example/federation/hashes", key_id="", public_pem="")
    db.session.add(sub)
    db.session.commit()
    store(rows_for(PICTURE, source="moderator"))
    store(rows_for(OTHER, source="import"))  # a trusted imported list
    store(rows_for(canvas((480, 360), seed=23), source="subscription", subscription_id=sub.id))
    runner = app.test_cli_runner()
    path = tmp_path / "list.csv"
    assert (
        f"Exported {N_VARIANTS} hashes"
        in runner.invoke(args=["hashes", "export", str(path)]).output
    )
    own = hashindex.parse_hash_list(path.read_text(), "csv").hashes
    assert {r.source for r in own} == {"moderator"}
    result = runner.invoke(args=["hashes", "export", "--include-pulled", str(path)])
    assert f"Exported {3 * N_VARIANTS} hashes" in result.output
    every = hashindex.parse_hash_list(path.read_text(), "csv").hashes
    assert {r.source for r in every} == {"moderator", "import", "subscription"}


def test_hashes_page_imports_and_exports_for_admins(app, client, auth, make_user):
    make_user("alma", role="admin")
    auth.login("alma")
    html = client.get("/moderation/hashes").get_data(as_text=True)
    assert '<label for="hash-file">Hash-list file</label>' in html
    assert '<label for="hash-untrusted">Untrusted list</label>' in html
    data = {"file": (io.BytesIO(hash_list(PICTURE, "json").encode()), "list.json"), "note": "ours"}
    response = client.post("/moderation/hashes", data=data, content_type="multipart/form-data")
    assert response.status_code == 303
    html = client.get("/moderation/hashes").get_data(as_text=True)
    assert f"Imported {N_VARIANTS} hashes" in html
    assert f"{N_VARIANTS} trusted known-AI hashes" in html
    response = client.get("/moderation/hashes/export?format=csv&include=pulled")
    assert response.status_code == 200 and response.mimetype == "text/csv"
    assert response.headers["Content-Disposition"] == 'attachment; filename="known-hashes.csv"'
    records = hashindex.parse_hash_list(response.get_data(as_text=True), "csv").hashes
    assert len(records) == N_VARIANTS and records[0].source == "import"
    # By default only this site's own confirmations: an imported list is not passed on.
    own = client.get("/moderation/hashes/export?format=csv").get_data(as_text=True)
    assert hashindex.parse_hash_list(own, "csv").hashes == []
    assert client.get("/moderation/hashes/export?format=xml").status_code == 400
    empty = client.post("/moderation/hashes", data={}, content_type="multipart/form-data")
    assert empty.status_code == 422 and "Nothing was imported" in empty.get_data(as_text=True)
