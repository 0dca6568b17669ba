"""HTTP Signatures: draft-cavage-http-signatures-12 with rsa-sha256, as Mastodon sends them
(and as cara signs), and RFC 9421 HTTP Message Signatures, as fedify and newer servers send them.

A cavage request carries `Signature: keyId="…",algorithm="rsa-sha256",headers="(request-target)
host date digest",signature="…"` and, with a body, `Digest: SHA-256=…`. An RFC 9421 request
carries `Signature-Input: sig1=("@method" "@target-uri" … "content-digest");created=…;keyid="…"`,
`Signature: sig1=:…:` and `Content-Digest: sha-256=:…:` (RFC 9530). Pure functions over
`cryptography` and `http_sf`: no Flask, no database.
"""

import base64
import functools
import hashlib
import re
from datetime import UTC, datetime
from email.utils import format_datetime, parsedate_to_datetime

from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from http_sf import StructuredFieldError
from http_sf import parse as parse_field
from http_sf.innerlist import ser_innerlist

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
    signed = _private_key(private_pem).sign(
        _signing_string(method, path, headers, names).encode(),
        padding.PKCS1v15(),
        hashes.SHA256(),
    )
    headers["signature"] = (
        f'keyId="{key_id}",algorithm="rsa-sha256",headers="{" ".join(names)}",'
        f'signature="{base64.b64encode(signed).decode()}"'
    )
    return {name.title(): value for name, value in headers.items()}


def sign_bytes(private_pem: str, data: bytes) -> str:
    """A detached rsa-sha256 signature (PKCS#1 v1.5) of `data`, base64: what signs documents
    (the hash feed) rather than requests."""
    signature = _private_key(private_pem).sign(data, padding.PKCS1v15(), hashes.SHA256())
    return base64.b64encode(signature).decode()


def verify_bytes(public_pem: str, data: bytes, signature_b64: str) -> None:
    """Check a `sign_bytes` signature; SignatureError says why it fails."""
    try:
        signature = base64.b64decode(signature_b64, validate=True)
    except (ValueError, TypeError):
        raise SignatureError("the key or the signature is malformed") from None
    _check_rsa(public_pem, signature, data, "rsa-sha256")


@functools.lru_cache(maxsize=1024)
def _private_key(private_pem: str) -> rsa.RSAPrivateKey:
    """The loaded key, kept: loading checks the key's maths, ~50 ms of CPU, which would be
    most of a delivery's cost (bench/fanout.py); a fan-out signs with one key many times."""
    return serialization.load_pem_private_key(private_pem.encode(), password=None)


def parse_request(headers: dict) -> dict:
    """The parameters of the request's signature (RFC 9421 when it has a Signature-Input,
    draft-cavage otherwise), with its `keyId`; SignatureError when it lacks one we need."""
    if headers.get("signature-input"):
        return _parse_message_signature(headers)
    return parse(headers.get("signature"))


def parse(header: str | None) -> dict[str, str]:
    """The parameters of a draft-cavage Signature header."""
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
    params: dict,
    method: str,
    path: str,
    headers: dict,
    body: bytes,
    public_pem: str,
    max_skew: float,
    now: datetime | None = None,
    base_url: str = "",
) -> None:
    """Check a parsed signature against the request; raise SignatureError if it fails.

    `headers` maps lower-case names to values; `path` includes the query string; `base_url`
    (this site's configured address, never the Host header) completes the URI that RFC 9421
    signatures cover. A POST must sign its digest, which must match the body; every request
    must sign its time (Date, or RFC 9421's `created`), within `max_skew` seconds of now."""
    if "label" in params:
        request = (method, path, headers, body, base_url)
        _verify_message_signature(params, request, public_pem, max_skew, now)
        return
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
        signature = base64.b64decode(params["signature"], validate=True)
    except (ValueError, TypeError):
        raise SignatureError("the key or the signature is malformed") from None
    signed = _signing_string(method, path, headers, names).encode()
    _check_rsa(public_pem, signature, signed, "rsa-sha256")


def _check_rsa(public_pem: str, signature: bytes, signed: bytes, algorithm: str) -> None:
    """Verify an RSA signature over `signed`: PKCS#1 v1.5 with SHA-256, or PSS with SHA-512."""
    try:
        key = serialization.load_pem_public_key(public_pem.encode())
    except (ValueError, TypeError, UnsupportedAlgorithm):
        raise SignatureError("the key or the signature is malformed") from None
    if not isinstance(key, rsa.RSAPublicKey):
        raise SignatureError("only RSA keys are supported")
    if algorithm == "rsa-pss-sha512":
        scheme, digest_algorithm = padding.PSS(padding.MGF1(hashes.SHA512()), 64), hashes.SHA512()
    else:
        scheme, digest_algorithm = padding.PKCS1v15(), hashes.SHA256()
    try:
        key.verify(signature, signed, scheme, digest_algorithm)
    except InvalidSignature:
        raise SignatureError("the signature does not verify") from None


# --- RFC 9421 HTTP Message Signatures ---------------------------------------------------------

MESSAGE_ALGORITHMS = ("rsa-v1_5-sha256", "rsa-pss-sha512")
# RFC 9530 digests we can check, with the hash each names.
CONTENT_DIGESTS = {"sha-256": hashlib.sha256, "sha-512": hashlib.sha512}


def _parse_message_signature(headers: dict) -> dict:
    """The first signature of Signature-Input that Signature carries: its label, covered
    components, parameters (keyid, alg, created, expires) and bytes."""
    try:
        inputs = parse_field(headers["signature-input"].encode(), tltype="dictionary")
        values = parse_field(headers.get("signature", "").encode(), tltype="dictionary")
    except (StructuredFieldError, ValueError, UnicodeError):
        raise SignatureError("the Signature-Input or Signature header is malformed") from None
    for label, member in inputs.items():
        signature = values.get(label, (None,))[0]
        if not isinstance(member[0], list) or not isinstance(signature, bytes):
            continue
        components, options = member
        keyid, alg = options.get("keyid"), options.get("alg", "rsa-v1_5-sha256")
        if not isinstance(keyid, str) or not keyid:
            raise SignatureError("the signature has no keyid")
        if alg not in MESSAGE_ALGORITHMS:
            raise SignatureError(f"unsupported signature algorithm {alg!r}")
        if any(not isinstance(name, str) or extra for name, extra in components):
            raise SignatureError("the signature covers components this server does not read")
        return {
            "label": label,
            "keyId": keyid,
            "alg": alg,
            "components": [name for name, _ in components],
            "input": member,
            "signature": signature,
        }
    raise SignatureError("the Signature-Input names no signature that Signature carries")


def _component(name: str, method: str, path: str, headers: dict, base_url: str) -> str:
    """A covered component's value (RFC 9421 section 2), the URI from `base_url` + `path`."""
    authority = base_url.partition("://")[2].rstrip("/").lower()
    bare, _, query = path.partition("?")
    derived = {
        "@method": method.upper(),
        "@target-uri": base_url.rstrip("/") + path,
        "@authority": authority,
        "@scheme": base_url.partition("://")[0].lower(),
        "@request-target": path,
        "@path": bare,
        "@query": f"?{query}",
    }
    if name in derived:
        return derived[name]
    if name.startswith("@") or headers.get(name) is None:
        raise SignatureError(f"the signed component {name!r} is missing")
    return headers[name].strip()


def _verify_message_signature(params: dict, request: tuple, public_pem, max_skew, now) -> None:
    method, path, headers, body, base_url = request
    names = params["components"]
    target = "@target-uri" in names or "@request-target" in names or "@path" in names
    if "@method" not in names or not target:
        raise SignatureError("the signature does not cover the method and the target")
    if method.upper() == "POST":
        if "content-digest" not in names:
            raise SignatureError("the signature does not cover content-digest")
        _check_content_digest(headers.get("content-digest", ""), body)
    options = params["input"][1]
    created, expires = options.get("created"), options.get("expires")
    moment = (now or datetime.now(UTC)).timestamp()
    if not isinstance(created, int) or abs(moment - created) > max_skew:
        raise SignatureError("the signature's created time is missing or too far from now")
    if isinstance(expires, int) and expires < moment:
        raise SignatureError("the signature has expired")
    if not base_url:
        raise SignatureError("this server's address is not configured")
    lines = [f'"{n}": {_component(n, method, path, headers, base_url)}' for n in names]
    lines.append(f'"@signature-params": {ser_innerlist(params["input"])}')
    _check_rsa(public_pem, params["signature"], "\n".join(lines).encode(), params["alg"])


def _check_content_digest(header: str, body: bytes) -> None:
    """Content-Digest (RFC 9530) must carry a digest we know, and every such one must match."""
    try:
        digests = parse_field(header.encode(), tltype="dictionary")
    except (StructuredFieldError, ValueError, UnicodeError):
        raise SignatureError("the Content-Digest header is malformed") from None
    known = {name: value for name, (value, _) in digests.items() if name in CONTENT_DIGESTS}
    if not known or any(CONTENT_DIGESTS[n](body).digest() != v for n, v in known.items()):
        raise SignatureError("the Content-Digest does not match the body")
