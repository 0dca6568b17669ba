"""Outgoing HTTP for federation, safe against SSRF.

Every request resolves the host, refuses it if any address is private, loopback, link-local,
multicast or reserved, then connects to the checked address itself (so a second DNS answer
cannot swap it), over HTTPS only, with a timeout and a cap on the response's size. Redirects
are not followed. FEDERATION_ALLOW_PRIVATE (tests; refused in production) allows any address
and plain http.
"""

import http.client
import ipaddress
import json
import socket
import ssl
from dataclasses import dataclass
from urllib.parse import urlsplit

from flask import current_app

ACTIVITY_JSON = "application/activity+json"
ACCEPT = f'{ACTIVITY_JSON}, application/ld+json; profile="https://www.w3.org/ns/activitystreams"'
USER_AGENT = "cara (ActivityPub)"


class FetchError(Exception):
    """The URL was refused, could not be reached, or answered with something unusable."""


@dataclass
class Response:
    status: int
    headers: dict[str, str]  # lower-case names
    body: bytes

    def json(self) -> dict:
        try:
            data = json.loads(self.body)
        except ValueError:
            raise FetchError("the answer is not JSON") from None
        if not isinstance(data, dict):
            raise FetchError("the answer is not a JSON object")
        return data


@dataclass(frozen=True)
class Target:
    scheme: str
    host: str  # as in the Host header (host[:port])
    hostname: str
    port: int
    path: str  # with the query
    address: str  # the checked IP to connect to


def _allowed(ip: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped:
        ip = ip.ipv4_mapped
    return ip.is_global and not ip.is_multicast


def check(url: str) -> Target:
    """Where `url` may be fetched: a Target with the resolved, checked address."""
    allow_private = current_app.config["FEDERATION_ALLOW_PRIVATE"]
    parts = urlsplit(url)
    schemes = ("https", "http") if allow_private else ("https",)
    if parts.scheme not in schemes:
        raise FetchError(f"refused {parts.scheme or 'a relative'} URL: only https is fetched")
    if not parts.hostname or parts.username or parts.password:
        raise FetchError("refused a URL without a host, or with credentials")
    try:
        port = parts.port or (443 if parts.scheme == "https" else 80)
        infos = socket.getaddrinfo(parts.hostname, port, type=socket.SOCK_STREAM)
    except (OSError, ValueError):
        raise FetchError(f"cannot resolve {parts.hostname}") from None
    addresses = [ipaddress.ip_address(info[4][0].split("%")[0]) for info in infos]
    if not allow_private and not all(_allowed(ip) for ip in addresses):
        raise FetchError(f"refused {parts.hostname}: it resolves to a non-public address")
    path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    return Target(parts.scheme, parts.netloc, parts.hostname, port, path, str(addresses[0]))


class _Pinned(http.client.HTTPSConnection):
    """HTTPS to a checked address, with SNI and certificate checks for the URL's host."""

    def __init__(self, target: Target, timeout: float):
        super().__init__(target.hostname, target.port, timeout=timeout)
        self.target = target

    def connect(self):
        sock = socket.create_connection((self.target.address, self.port), self.timeout)
        self.sock = ssl.create_default_context().wrap_socket(sock, server_hostname=self.host)


class _PinnedPlain(http.client.HTTPConnection):
    def __init__(self, target: Target, timeout: float):
        super().__init__(target.address, target.port, timeout=timeout)


def request(
    method: str,
    url: str,
    headers: dict[str, str] | None = None,
    body: bytes | None = None,
    limit: int | None = None,
) -> Response:
    """Send one request to a checked address; FetchError on refusal, failure or an answer
    larger than `limit` bytes (default FEDERATION_MAX_BYTES)."""
    config = current_app.config
    target = check(url)
    connection_class = _Pinned if target.scheme == "https" else _PinnedPlain
    conn = connection_class(target, config["FEDERATION_TIMEOUT"])
    limit = limit or config["FEDERATION_MAX_BYTES"]
    try:
        conn.connect()
    except OSError as error:
        conn.close()
        raise FetchError(f"could not connect to {target.host}: {error.strerror or error}") from None
    try:
        conn.putrequest(method, target.path, skip_host=True, skip_accept_encoding=True)
        sent = {"Host": target.host, "User-Agent": USER_AGENT, **(headers or {})}
        if body is not None:
            sent["Content-Length"] = str(len(body))
        for name, value in sent.items():
            conn.putheader(name, value)
        conn.endheaders(body)
        answer = conn.getresponse()
        data = answer.read(limit + 1)
    except (OSError, http.client.HTTPException) as error:
        raise FetchError(f"{target.host}: {error}") from None
    finally:
        conn.close()
    if len(data) > limit:
        raise FetchError(f"{target.host}: the answer is larger than {limit} bytes")
    return Response(answer.status, {k.lower(): v for k, v in answer.getheaders()}, data)


def get_json(url: str, headers: dict[str, str] | None = None) -> dict:
    """GET an ActivityPub (or JRD) document; FetchError unless it answers 200 with JSON."""
    response = request("GET", url, {"Accept": ACCEPT, **(headers or {})})
    if response.status != 200:
        raise FetchError(f"{url} answered {response.status}")
    return response.json()
