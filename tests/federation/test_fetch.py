"""The SSRF-safe fetcher: private and loopback addresses and plain http refused (unless
FEDERATION_ALLOW_PRIVATE, itself refused in production), size caps, timeouts."""

import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from cara import create_app
from cara.federation import fetch


@pytest.fixture
def app_config():
    return {"FEDERATION": True}


PRIVATE = [
    "https://127.0.0.1/x",
    "https://localhost/x",
    "https://10.1.2.3/x",
    "https://192.168.0.1/x",
    "https://169.254.169.254/latest/meta-data",
    "https://[::1]/x",
    "https://[::ffff:127.0.0.1]/x",
    "https://0.0.0.0/x",
]


def test_private_addresses_are_refused(app):
    for url in PRIVATE:
        with pytest.raises(fetch.FetchError, match="non-public address"):
            fetch.request("GET", url)


def test_only_https(app):
    for url in ("http://example.org/x", "ftp://example.org/x", "/relative"):
        with pytest.raises(fetch.FetchError, match="only https"):
            fetch.check(url)


def test_credentials_in_urls_are_refused(app):
    with pytest.raises(fetch.FetchError, match="credentials"):
        fetch.check("https://user:pw@example.org/")


class _Server:
    def __init__(self, body: bytes, delay_forever: bool = False):
        hang = threading.Event()

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_GET(self):
                if delay_forever:
                    hang.wait(5)
                self.send_response(200)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        self.hang = hang
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/doc"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self):
        self.hang.set()
        self.server.shutdown()
        self.server.server_close()


def test_allow_private_reaches_loopback_with_a_size_cap(app):
    app.config.update(FEDERATION_ALLOW_PRIVATE=True, FEDERATION_MAX_BYTES=100)
    small, large = _Server(b'{"ok": true}'), _Server(b"x" * 101)
    try:
        assert fetch.get_json(small.url) == {"ok": True}
        with pytest.raises(fetch.FetchError, match="larger than 100 bytes"):
            fetch.get_json(large.url)
    finally:
        small.close()
        large.close()


def test_a_silent_server_times_out(app):
    app.config.update(FEDERATION_ALLOW_PRIVATE=True, FEDERATION_TIMEOUT=0.3)
    server = _Server(b"{}", delay_forever=True)
    try:
        with pytest.raises(fetch.FetchError, match="timed out"):
            fetch.get_json(server.url)
    finally:
        server.close()


def test_a_closed_port_is_a_fetch_error(app):
    app.config.update(FEDERATION_ALLOW_PRIVATE=True)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with pytest.raises(fetch.FetchError, match=f"could not connect to 127.0.0.1:{port}: "):
        fetch.get_json(f"http://127.0.0.1:{port}/")


def test_allow_private_is_refused_in_production(tmp_path):
    settings = {
        "PRODUCTION": True,
        "SECRET_KEY": "x" * 40,
        "BASE_URL": "https://art.example",
        "SQLALCHEMY_DATABASE_URI": f"sqlite:///{tmp_path / 'db.sqlite'}",
        "FEDERATION_ALLOW_PRIVATE": True,
    }
    with pytest.raises(RuntimeError, match="FEDERATION_ALLOW_PRIVATE"):
        create_app(settings)
