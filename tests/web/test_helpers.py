"""The web layer's one copy of each rule: safe redirects, uploads, loading or 404, ids in URLs."""

import io
import re
from urllib.parse import urlsplit

import pytest
from sqlalchemy import select

from cara.core.extensions import db
from cara.core.models import Report
from cara.social import actions
from cara.web.helpers import parse_id, safe_next

# What browsers and lax parsers read as another site (after removing tab, CR and LF).
OFF_SITE = [
    "/%09/evil.example",
    "/\t/evil.example",
    "/%0a/evil.example",
    "/%0D/evil.example",
    "/\r\n/evil.example",
    "//evil.example",
    "///evil.example",
    "/\\evil.example",
    "\\\\evil.example",
    "/%5Cevil.example",
    " //evil.example",
    "\x00//evil.example",
    "https://evil.example",
    "http://cara.test@evil.example",
    "https:evil.example",
    "javascript:alert(1)",
    "JavaScript:alert(1)",
    "evil.example",
    "",
    None,
]


@pytest.mark.parametrize("target", OFF_SITE)
def test_safe_next_refuses_other_sites(target):
    assert safe_next(target) is None


@pytest.mark.parametrize(
    ("target", "expected"),
    [
        ("/", "/"),
        ("/posts/12", "/posts/12"),
        ("/@ana?tab=posts", "/@ana?tab=posts"),
        ("/moderation?queue=reports&after=abc", "/moderation?queue=reports&after=abc"),
        ("/tags/ink#top", "/tags/ink"),  # a fragment never reaches the server anyway
    ],
)
def test_safe_next_keeps_paths_of_this_site(target, expected):
    assert safe_next(target) == expected


def _same_site(location: str) -> bool:
    """What a browser would do with the Location header: stay on this host?"""
    cleaned = re.sub(r"[\t\r\n]", "", location).strip("".join(chr(c) for c in range(0x21)))
    parts = urlsplit(cleaned.replace("\\", "/"))
    return parts.netloc in ("", "localhost") and parts.scheme in ("", "http")


@pytest.mark.parametrize("target", [t for t in OFF_SITE if t])
def test_login_never_redirects_off_site(client, make_user, target):
    make_user("ana")
    response = client.post(
        "/login",
        query_string={"next": target},
        data={"login": "ana", "password": "correct horse battery"},
    )
    assert response.status_code == 303
    assert response.headers["Location"] == "/"  # the home feed, the fallback
    assert _same_site(response.headers["Location"])


def test_login_follows_a_path_of_this_site(client, make_user):
    make_user("ana")
    data = {"login": "ana", "password": "correct horse battery"}
    response = client.post("/login?next=/settings", data=data)
    assert response.headers["Location"] == "/settings"


@pytest.mark.parametrize("target", [t for t in OFF_SITE if t])
def test_social_forms_never_redirect_off_site(client, auth, make_user, target):
    make_user("ana")
    make_user("bob")
    auth.login()
    response = client.post("/@bob/mute", data={"next": target})
    assert response.status_code == 303
    assert response.headers["Location"] == "/@bob"
    # A Referer of another site is no way out either (a header holds no line break).
    headers = {"Referer": target} if "\n" not in target else {}
    response = client.post("/@bob/unmute", data={"next": target}, headers=headers)
    assert response.headers["Location"] == "/@bob"


def test_social_forms_return_to_next_or_the_referring_page(client, auth, make_user):
    make_user("ana")
    make_user("bob")
    auth.login()
    response = client.post("/@bob/mute", data={"next": "/search?q=bob"})
    assert response.headers["Location"] == "/search?q=bob"
    response = client.post("/@bob/unmute", headers={"Referer": "http://localhost/latest?x=1"})
    assert response.headers["Location"] == "/latest?x=1"
    response = client.post("/@bob/mute", headers={"Referer": "http://localhost//evil.example"})
    assert response.headers["Location"] == "/@bob"


@pytest.mark.parametrize("target", ["/%09/evil.example", "/\\evil.example", "https://evil.example"])
def test_moderation_forms_never_redirect_off_site(client, auth, make_user, target):
    make_user("ana", role="moderator")
    reporter, spammer = make_user("bob"), make_user("cyd")
    assert not actions.report(reporter, "user", spammer.id, "spam", "")
    report = db.session.scalar(select(Report))
    auth.login()
    response = client.post(f"/moderation/reports/{report.id}/close", data={"next": target})
    assert response.status_code == 303
    assert response.headers["Location"] == "/moderation"


# --- uploads -------------------------------------------------------------------------------


def test_uploads_are_read_at_most_one_byte_past_the_limit(app):
    from cara.web.helpers import read_uploads

    app.config["MAX_UPLOAD_BYTES"] = 10
    files = [
        (io.BytesIO(b"x" * 1000), "big.png"),
        (io.BytesIO(b"small"), "small.png"),
        (io.BytesIO(b""), ""),  # an empty file input
    ]
    with app.test_request_context("/", method="POST", data={"images": files}):
        uploads = read_uploads("images")
    assert [(u.filename, u.data) for u in uploads] == [
        ("big.png", b"x" * 11),
        ("small.png", b"small"),
    ]


# --- ids -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "value"),
    [("12", 12), ("0", 0), (" 7 ", 7), (str(2**31 - 1), 2**31 - 1), (str(2**31), None)]
    + [("", None), (None, None), ("-1", None), ("1e3", None), ("١٢", None), ("12a", None)],
)
def test_parse_id(text, value):
    assert parse_id(text) == value
