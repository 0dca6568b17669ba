"""The admin's evaluate page: `flask filter evaluate` for a zip of labelled images (issue 14)."""

import io
import zipfile

import pytest
from PIL import PngImagePlugin
from sqlalchemy import func, select

from cara.admin import evaluate
from cara.core.extensions import db
from cara.core.models import KnownHash
from tests.factories import canvas, login

A1111 = "a cat\nSteps: 20, Sampler: Euler a, CFG scale: 7, Seed: 1, Size: 512x512, Model: sd15"


@pytest.fixture
def admin_client(client, make_user):
    make_user("ada", role="admin")
    login(client, "ada")
    return client


def _png(seed: int, parameters: str | None = None) -> bytes:
    info = PngImagePlugin.PngInfo()
    if parameters:
        info.add_text("parameters", parameters)
    buf = io.BytesIO()
    canvas((320, 240), seed=seed).save(buf, "PNG", pnginfo=info)
    return buf.getvalue()


def _zip(members: dict[str, bytes]) -> io.BytesIO:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        for name, data in members.items():
            z.writestr(name, data)
    buf.seek(0)
    return buf


def _post(client, archive, name="set.zip"):
    data = {"archive": (archive, name)}
    return client.post("/admin/filter/evaluate", data=data, content_type="multipart/form-data")


def test_the_page_reports_a_folder_zip(admin_client):
    page = admin_client.get("/admin/filter/evaluate").get_data(as_text=True)
    assert '<label for="archive">Labelled images (zip)</label>' in page
    archive = _zip(
        {
            "ai/generated.png": _png(1, A1111),
            "ai/no-metadata.png": _png(2),  # missed: nothing says it is AI
            "human/sketch.png": _png(3),
            "human/broken.jpg": b"\xff\xd8 not really a jpeg",
            "readme.txt": b"ignored: not under ai/ or human/",
        }
    )
    response = _post(admin_client, archive)
    html = response.get_data(as_text=True)
    assert response.status_code == 200
    assert "<caption>Decisions by label</caption>" in html
    assert '<tr><th scope="row">AI</th><td>1</td><td>1</td></tr>' in html
    assert '<tr><th scope="row">Human</th><td>0</td><td>2</td></tr>' in html
    assert "AI caught: 0.500. Human art published: 1.000." in html
    assert "Misclassified: 1" in html and "<strong>ai/no-metadata.png</strong>" in html
    assert "human/broken.jpg" in html  # not decodable, named as in the zip
    assert db.session.scalar(select(func.count(KnownHash.id))) == 0  # nothing stored


def test_labels_csv_names_the_files(admin_client):
    archive = _zip(
        {
            "labels.csv": b"file,label\nx/one.png,ai\nx/two.png,human\n",
            "x/one.png": _png(4, A1111),
            "x/two.png": _png(5),
        }
    )
    html = _post(admin_client, archive).get_data(as_text=True)
    assert "AI caught: 1.000. Human art published: 1.000." in html and "Misclassified: 0" in html


@pytest.mark.parametrize(
    ("archive", "message"),
    [
        (io.BytesIO(b"not a zip"), "not a zip archive"),
        (_zip({"photos/a.png": b"x"}), "neither labels.csv nor files"),
        (_zip({"labels.csv": b"file,label\na.png,maybe\n"}), "label must be ai or human"),
        (_zip({"labels.csv": b"file,label\na.png,ai\n"}), "the zip has no file"),
    ],
)
def test_bad_uploads_get_a_clear_422(admin_client, archive, message):
    response = _post(admin_client, archive)
    assert response.status_code == 422 and message in response.get_data(as_text=True)


def test_limits(admin_client, monkeypatch):
    monkeypatch.setattr(evaluate, "MAX_FILES", 2)
    archive = _zip({f"ai/{k}.png": b"x" for k in range(3)})
    response = _post(admin_client, archive)
    assert response.status_code == 422 and "at most 2" in response.get_data(as_text=True)
    monkeypatch.setattr(evaluate, "MAX_FILE_BYTES", 10)
    response = _post(admin_client, _zip({"ai/big.png": b"x" * 11}))
    assert response.status_code == 422 and "is larger than" in response.get_data(as_text=True)
    response = admin_client.post("/admin/filter/evaluate", data={})
    assert response.status_code == 422 and "Choose a zip file" in response.get_data(as_text=True)
