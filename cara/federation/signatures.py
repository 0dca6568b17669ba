"""HTTP Signatures (draft-cavage-http-signatures-12) with rsa-sha256, as Mastodon sends them.

A signed request carries `Signature: keyId="…",algorithm="rsa-sha256",headers="(request-target)
host date digest",signature="…"` and, with a body, `Digest: SHA-256=…`. Pure functions over
`cryptography`: no Flask, no database.
"""

import base64
import hashlib
import re
from datetime import UTC, datetime
from email.utils import format_datetime, parsedate_to_datetime

from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa

SIGNED_POST = ("(request-target)", "host", "date", "digest")
SIGNED_GET = ("(request-target)", "host", "date")
# hs2019 is what newer servers write for "the algorithm is the key's": RSA here.
ALGORITHMS = ("rsa-sha256", "hs2019")
_PARAM = re.compile(r'(\w+)="([^"]*)"')


class SignatureError(Exception):
    """The request is not signed, or not signed well: the message says why."""


def new_keypair() -> tuple[str, str]:
    """(public PEM, private PEM) of a fresh RSA 2048 key."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    private = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()
    public = (
        key.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )
    return public, private


def digest(body: bytes) -> str:
    return "SHA-256=" + base64.b64encode(hashlib.sha256(body).digest()).decode()


def http_date(when: datetime | None = None) -> str:
    return format_datetime(when or datetime.now(UTC), usegmt=True)


def _signing_string(method: str, path: str, headers: dict, names) -> str:
    lines = []
    for name in names:
        if name == "(request-target)":
            lines.append(f"(request-target): {method.lower()} {path}")
        else:
            value = headers.get(name)
            if value is None:
                raise SignatureError(f"the signed header {name!r} is missing")
            lines.append(f"{name}: {value.strip()}")
    return "\n".join(lines)


def sign(
    method: str, host: str, path: str, key_id: str, private_pem: str, body: bytes | None = None
) -> dict[str, str]:
    """The headers to send with a request: Host, Date, Digest (with a body) and Signature."""
    headers = {"host": host, "date": http_date()}
    names = SIGNED_GET
    if body is not None:
        headers["digest"] = digest(body)
        names = SIGNED_POST
    key = serialization.load_pem_private_key(private_pem.encode(), password=None)
    signed = key.sign(
        _signing_string(method, path, headers, names).encode(),
        padding.PKCS1v15(),
        hashes.SHA256(),
    )
    headers["signature"] = (
        f'keyId="{key_id}",algorithm="rsa-sha256",headers="{" ".join(names)}",'
        f'signature="{base64.b64encode(signed).decode()}"'
    )
    return {name.title(): value for name, value in headers.items()}


def parse(header: str | None) -> dict[str, str]:
    """The parameters of a Signature header; SignatureError when it lacks one we need."""
    if not header:
        raise SignatureError("the request is not signed")
    params = dict(_PARAM.findall(header))
    for name in ("keyId", "signature"):
        if not params.get(name):
            raise SignatureError(f"the signature has no {name}")
    if params.setdefault("algorithm", "hs2019").lower() not in ALGORITHMS:
        raise SignatureError(f"unsupported signature algorithm {params['algorithm']!r}")
    params.setdefault("headers", "date")
    return params


def verify(
    params: dict[str, str],
    method: str,
    path: str,
    headers: dict,
    body: bytes,
    public_pem: str,
    max_skew: float,
    now: datetime | None = None,
) -> None:
    """Check a parsed signature against the request; raise SignatureError if it fails.

    `headers` maps lower-case names to values; `path` includes the query string. A POST must
    sign its digest, which must match the body; every request must sign its Date, which must
    be within `max_skew` seconds of now (a replay window)."""
    names = params["headers"].lower().split()
    required = SIGNED_POST if method.upper() == "POST" else SIGNED_GET
    missing = [n for n in required if n not in names]
    if missing:
        raise SignatureError(f"the signature does not cover {', '.join(missing)}")
    if "digest" in names:
        algorithm, _, value = headers.get("digest", "").partition("=")
        if algorithm.strip().lower() != "sha-256" or value.strip() != digest(body)[8:]:
            raise SignatureError("the Digest does not match the body")
    try:
        date = parsedate_to_datetime(headers.get("date", ""))
    except (TypeError, ValueError):
        raise SignatureError("the Date header is missing or malformed") from None
    if date.tzinfo is None:
        date = date.replace(tzinfo=UTC)
    if abs(((now or datetime.now(UTC)) - date).total_seconds()) > max_skew:
        raise SignatureError("the Date is too far from now")
    try:
        key = serialization.load_pem_public_key(public_pem.encode())
        signature = base64.b64decode(params["signature"], validate=True)
    except (ValueError, TypeError, UnsupportedAlgorithm):
        raise SignatureError("the key or the signature is malformed") from None
    if not isinstance(key, rsa.RSAPublicKey):
        raise SignatureError("only RSA keys are supported")
    try:
        key.verify(
            signature,
            _signing_string(method, path, headers, names).encode(),
            padding.PKCS1v15(),
            hashes.SHA256(),
        )
    except InvalidSignature:
        raise SignatureError("the signature does not verify") from None
