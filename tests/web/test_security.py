"""Security in production: HSTS, cross-origin headers, trusted hosts, __Host- cookies, one Date
and no versions in Server (through a real server), and BASE_URL in development and production."""

import http.client
import threading
from contextlib import contextmanager

import pytest
from werkzeug.serving import make_server

from cara import create_app
from cara.core.extensions import db
from cara.web.devserver import DevRequestHandler
from tests import factories
from tests.factories import image_bytes, make_post

HTTPS = {"BASE_URL": "https://art.example"}
PRODUCTION = {"PRODUCTION": True, "BASE_URL": "https://art.example"}


def _media_urls(post) -> tuple[str, str]:
    """A post's smallest and largest rendition."""
    ordered = sorted(post.media[0].renditions, key=lambda r: r["w"])
    return tuple(f"/media/{post.media[0].id}/{r['name']}" for r in (ordered[0], ordered[-1]))


def _stylesheet(client) -> str:
    """The fingerprinted stylesheet's URL, as the layout links it."""
    html = client.get("/").get_data(as_text=True)
    return next(
        line.split('href="', 1)[1].split('"', 1)[0]
        for line in html.splitlines()
        if 'rel="stylesheet"' in line
    )


@contextmanager
def served(app, **kwargs):
    """`app` behind werkzeug's real HTTP server on a free port, in a thread."""
    server = make_server("127.0.0.1", 0, app, threaded=True, **kwargs)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server.server_port
    finally:
        server.shutdown()
        thread.join()


def raw_get(port: int, path: str) -> http.client.HTTPResponse:
    """GET over a socket: every header line as sent, duplicates included."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    conn.request("GET", path)
    response = conn.getresponse()
    response.read()
    conn.close()
    return response


# --- Headers on every response ----------------------------------------------------------------


def test_every_response_is_cross_origin_isolated_and_media_can_be_embedded(client):
    post = make_post(images=[image_bytes(size=(1600, 1200))])
    small, largest = _media_urls(post)
    for url in ("/", "/no/such/page", "/robots.txt", _stylesheet(client), small, largest):
        response = client.get(url)
        assert response.headers["Cross-Origin-Opener-Policy"] == "same-origin", url
        assert "Cross-Origin-Resource-Policy" in response.headers, url
    assert client.get("/").headers["Cross-Origin-Resource-Policy"] == "same-origin"
    # Feed readers and link previews show the smaller renditions on other sites; the largest
    # (hotlink-protected) only on ours, even when the Referer is stripped.
    assert client.get(small).headers["Cross-Origin-Resource-Policy"] == "cross-origin"
    assert client.get(largest).headers["Cross-Origin-Resource-Policy"] == "same-site"


def test_no_hsts_on_the_plain_http_development_server(client):
    assert "Strict-Transport-Security" not in client.get("/").headers


@pytest.mark.parametrize(
    ("app_config", "expected"),
    [
        (HTTPS, "max-age=63072000"),
        ({**HTTPS, "HSTS_MAX_AGE": 300}, "max-age=300"),
        ({**HTTPS, "HSTS_PRELOAD": True}, "max-age=63072000; includeSubDomains; preload"),
        ({"PRODUCTION": True, "BASE_URL": "http://art.example"}, "max-age=63072000"),
    ],
)
def test_hsts_over_https_or_in_production(client, expected):
    for url in ("/", "/robots.txt", "/no/such/page"):
        assert (
            client.get(url, base_url="https://art.example").headers["Strict-Transport-Security"]
            == expected
        ), url


# --- Trusted hosts ----------------------------------------------------------------------------


@pytest.mark.parametrize("app_config", [PRODUCTION])
def test_production_answers_only_its_own_host(app, client):
    assert app.config["TRUSTED_HOSTS"] == ["art.example"]
    assert client.get("/", base_url="https://art.example").status_code == 200
    for host in ("evil.example", "art.example.evil.example", "127.0.0.1:8000"):
        response = client.get("/", base_url=f"https://{host}")
        assert response.status_code == 400, host
        assert "<main" in response.get_data(as_text=True)  # our error page, not a crash


@pytest.mark.parametrize("app_config", [PRODUCTION])
def test_a_local_health_probe_is_answered_whatever_its_host(client):
    local = {"REMOTE_ADDR": "127.0.0.1"}
    assert client.get("/healthz", base_url="http://127.0.0.1:8000", environ_base=local).json[
        "status"
    ] in ("ok", "error")
    probe = client.get("/healthz", base_url="http://127.0.0.1:8000", environ_base=local)
    assert probe.status_code in (200, 503)  # the health itself, not the Host check's 400
    # Through the proxy (X-Forwarded-For), or from elsewhere, the Host check applies.
    proxied = client.get(
        "/healthz",
        base_url="http://127.0.0.1:8000",
        environ_base=local,
        headers={"X-Forwarded-For": "203.0.113.9"},
    )
    assert proxied.status_code == 400
    remote = {"REMOTE_ADDR": "203.0.113.9"}
    assert (
        client.get("/healthz", base_url="http://127.0.0.1", environ_base=remote).status_code == 400
    )
    assert client.get("/", base_url="http://127.0.0.1:8000", environ_base=local).status_code == 400


@pytest.mark.parametrize(
    "app_config", [{**PRODUCTION, "TRUSTED_HOSTS": "art.example, www.art.example"}]
)
def test_trusted_hosts_from_the_environment_may_be_comma_separated(app, client):
    assert app.config["TRUSTED_HOSTS"] == ["art.example", "www.art.example"]
    assert client.get("/", base_url="https://www.art.example").status_code == 200


# --- Cookies ----------------------------------------------------------------------------------


@pytest.mark.parametrize("app_config", [HTTPS])
def test_cookies_over_https_carry_the_host_prefix(client, make_user):
    make_user("ana")
    response = client.post(
        "/login",
        data={"login": "ana", "password": factories.GOOD, "remember": "y"},
        base_url="https://art.example",
    )
    assert response.status_code == 303
    cookies = {c.split("=", 1)[0]: c for c in response.headers.getlist("Set-Cookie")}
    assert set(cookies) == {"__Host-session", "__Host-remember_token", "__Host-cara_device"}
    for header in cookies.values():
        attributes = [a.strip().lower() for a in header.split(";")]
        assert "secure" in attributes and "path=/" in attributes, header
        assert not any(a.startswith("domain=") for a in attributes), header
    # The prefixed session is the one the app reads back.
    assert client.get("/settings", base_url="https://art.example").status_code == 200


def test_cookies_over_plain_http_keep_their_names(client, make_user):
    make_user("ana")
    response = factories.login(client)
    names = {c.split("=", 1)[0] for c in response.headers.getlist("Set-Cookie")}
    assert names == {"session", "cara_device"}


# --- Through a real server --------------------------------------------------------------------


def test_static_media_and_pages_send_one_date_and_no_versions(app):
    post = make_post(images=[image_bytes(size=(1600, 1200))])
    small, _ = _media_urls(post)
    stylesheet = _stylesheet(app.test_client())
    with served(app, request_handler=DevRequestHandler) as port:
        for path in ("/", stylesheet, small, "/robots.txt"):
            response = raw_get(port, path)
            assert response.status == 200, path
            assert len(response.msg.get_all("Date")) == 1, (path, response.msg.get_all("Date"))
            assert response.msg.get_all("Server") == ["cara"], path


def test_werkzeugs_own_handler_is_what_sends_versions(app):
    """Why `make run` uses cara.web.devserver rather than `flask run`."""
    with served(app) as port:
        server = raw_get(port, "/robots.txt").getheader("Server")
    assert "Werkzeug/" in server and "Python/" in server


# --- BASE_URL ---------------------------------------------------------------------------------


def test_development_base_url_follows_the_port_served(_database, monkeypatch, client):
    monkeypatch.setenv("PORT", "8000")
    app = create_app(factories.app_settings(_database, BASE_URL=None))
    assert app.config["BASE_URL"] == "http://127.0.0.1:8000"
    with app.app_context():
        user = factories.make_user("ana")
        make_post(user, "hello", images=1)
        atom = app.test_client().get("/@ana/feed.atom").get_data(as_text=True)
        db.session.remove()  # its transaction's locks would block the TRUNCATE (Postgres)
        factories.empty_tables()
        db.engine.dispose()
    assert "http://127.0.0.1:8000/" in atom and ":5000" not in atom
    monkeypatch.delenv("PORT")
    assert (
        create_app(factories.app_settings(_database, BASE_URL=None)).config["BASE_URL"]
        == "http://127.0.0.1:5000"
    )


def test_production_refuses_to_start_without_base_url(_database):
    settings = factories.app_settings(_database, PRODUCTION=True, BASE_URL=None)
    with pytest.raises(RuntimeError, match="BASE_URL"):
        create_app(settings)
