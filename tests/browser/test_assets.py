"""Page weight over plain HTTP (no browser needed): fingerprinted and precompressed static
files, HTML compressed on the fly, and the data saver's pictures."""

import gzip
import re
from pathlib import Path

import brotli
import pytest

from cara.web.assets import asset_url
from tests.browser.pages import PASSWORD
from tests.factories import csrf_token_from

STATIC = Path(__file__).resolve().parents[2] / "static"
SRCSET = re.compile(r'srcset="([^"]*)"')


@pytest.fixture
def client(live):
    return live.app.test_client()


def _url(live, path):
    with live.app.test_request_context():
        return asset_url(path)


def test_pages_link_assets_by_content_hash(live, client):
    url = _url(live, "css/cara.css")
    assert re.fullmatch(r"/static/css/cara\.css\?v=[0-9a-f]{12}", url)
    assert f'href="{url}"' in client.get("/login").text


@pytest.mark.parametrize(
    "accept,encoding,decode",
    [
        ("gzip, deflate, br, zstd", "br", brotli.decompress),
        ("gzip, deflate", "gzip", gzip.decompress),
        ("", None, lambda body: body),
    ],
)
def test_fingerprinted_assets_are_precompressed_and_immutable(
    live, client, accept, encoding, decode
):
    for path in ("css/cara.css", "vendor/htmx.min.js"):
        assert (STATIC / path).exists(), f"{path} is missing (htmx comes with `make setup`)"
        url = _url(live, path)
        response = client.get(url, headers={"Accept-Encoding": accept})
        assert response.status_code == 200
        assert response.headers["Cache-Control"] == "public, max-age=31536000, immutable"
        assert response.headers.get("Content-Encoding") == encoding
        assert "Accept-Encoding" in response.headers["Vary"]
        assert decode(response.data) == (STATIC / path).read_bytes()
        etag = response.headers["ETag"]
        again = client.get(url, headers={"Accept-Encoding": accept, "If-None-Match": etag})
        assert again.status_code == 304


def test_stale_or_unversioned_asset_urls_revalidate(client):
    for url in ("/static/css/cara.css", "/static/css/cara.css?v=0123456789ab"):
        response = client.get(url)
        assert response.status_code == 200
        assert response.headers["Cache-Control"] == "no-cache"
        assert response.headers["ETag"]


@pytest.mark.parametrize(
    "path",
    [
        "/static/../cara/config.py",
        "/static/%2e%2e/app.py",
        "/static/css/missing.css",
        "/static/css",
    ],
)
def test_static_serves_only_files_under_static(client, path):
    assert client.get(path).status_code == 404


def test_html_is_compressed_on_the_fly(client):
    response = client.get("/login", headers={"Accept-Encoding": "gzip, br"})
    assert response.headers["Content-Encoding"] == "br"
    assert b"<!doctype html>" in brotli.decompress(response.data)
    vary = response.headers["Vary"]
    assert "Accept-Encoding" in vary and "Save-Data" in vary
    assert "Content-Encoding" not in client.get("/login").headers


def _srcsets(html: str) -> list[int]:
    """How many candidates each srcset offers."""
    return [len(s.split(",")) for s in SRCSET.findall(html)]


def test_save_data_header_offers_only_the_smallest_images(client, artworks):
    normal = client.get("/@mira/posts").text
    saving = client.get("/@mira/posts", headers={"Save-Data": "on"}).text
    assert max(_srcsets(normal)) > 1
    assert set(_srcsets(saving)) == {1}
    assert "Load full size" not in saving  # cards are links already: no link inside a link
    portfolio = client.get("/@mira", headers={"Save-Data": "on"}).text  # square crops
    assert _srcsets(portfolio) and set(_srcsets(portfolio)) == {1}

    post = f"/posts/{artworks['art0']}"
    assert "Load full size" not in client.get(post).text
    page = client.get(post, headers={"Save-Data": "on"}).text
    assert set(_srcsets(page)) == {1}
    link = re.search(r'<a href="(/media/[^"]+)">Load full size', page)
    assert link, "no Load full size link"
    with client.get(link.group(1)) as full:  # a file response: close it
        assert full.status_code == 200 and full.mimetype.startswith("image/")


def test_data_saver_setting_works_like_the_header(client, artworks):
    token = csrf_token_from(client.get("/login").text)
    client.post("/login", data={"login": "saver", "password": PASSWORD, "csrf_token": token})
    page = client.get(f"/posts/{artworks['art0']}").text
    assert set(_srcsets(page)) == {1}
    assert "Load full size" in page
