"""XSS payloads in every user text field (issue 12). The fields are found by walking the site:
each role (owner, another member, moderator, admin) crawls the pages it can reach and every form
on them; each form with a text field is sent once per payload with every text field set to the
payload (the rest as a browser would send it). Then every page, as every role and anonymously,
is parsed: no element, attribute or URL of a payload may be live."""

import re
from collections import Counter, deque
from html.parser import HTMLParser
from urllib.parse import urlencode, urlsplit

from werkzeug.datastructures import MultiDict

from cara.core.models import PostState, Role
from tests.factories import GOOD, generator_png, image_bytes, login, make_post, person

MARK = "xssprobe"
PAYLOADS = [
    f"<script>{MARK}0()</script>",
    f'<img src=x onerror="{MARK}1()">',
    f'"><svg onload={MARK}2()>',
    f"'><b data-{MARK}3 onmouseover='{MARK}3()'>x</b>",
    f'<a hx-get="/{MARK}4" hx-trigger="load" data-hx-get="/{MARK}4" data-hx-trigger="load">x</a>',
    f'" data-hx-post="/{MARK}5" data-hx-trigger="load" hx-post="/{MARK}5" x="',
    f"javascript:{MARK}6()",
    f"[link](javascript:{MARK}7()) <iframe src=javascript:{MARK}7()></iframe> #{MARK}7 @{MARK}7",
    f"</textarea></title><script>{MARK}8()</script><style>{MARK}8</style>",
]
TEXT_TYPES = {"text", "search", "url", "email", "tel", ""}
URL_ATTRS = {"href", "src", "action", "formaction", "data", "xlink:href", "poster"}
MAX_PAGES = 100  # per role: the crawl reaches every kind of page well before this
SKIP = re.compile(r"^/(static|media)/|/logout")


class Page(HTMLParser):
    """Links, forms (with their controls) and live payload markup of one HTML page."""

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.links: list[str] = []
        self.forms: list[dict] = []
        self.live: list[str] = []
        self._raw: str | None = None  # inside <script> or <style>
        self._select: dict | None = None

    def handle_starttag(self, tag, attrs):
        a = {k: v or "" for k, v in attrs}
        for name, value in a.items():
            live = (
                MARK in name
                or (name.startswith(("on", "hx-", "data-hx-")) and MARK in value)
                or (name in URL_ATTRS and value.strip().lower().startswith("javascript:"))
            )
            if live:
                self.live.append(f"<{tag} {name}={value!r}>")
        if tag in ("script", "style"):
            self._raw = tag
        elif tag == "a" and a.get("href", "").startswith("/"):
            self.links.append(a["href"])
        elif tag == "form":
            self.forms.append(
                {
                    "action": a.get("action", ""),
                    "method": a.get("method", "get"),
                    "fields": [],
                    "text": set(),
                    "radios": {},
                }
            )
        elif self.forms and tag in ("input", "textarea", "button"):
            self._control(tag, a)
        elif self.forms and tag == "select":
            self._select = {"name": a.get("name"), "value": None}
            if self._select["name"]:
                self.forms[-1]["fields"].append(self._select)
        elif self._select is not None and tag == "option":
            if self._select["value"] is None or "selected" in a:
                self._select["value"] = a.get("value", "")

    def _control(self, tag, a):
        form, name = self.forms[-1], a.get("name")
        kind = a.get("type", "text" if tag != "button" else "submit").lower()
        if not name or kind in ("file", "submit", "image", "reset", "button", "password"):
            return
        if kind == "radio" and "checked" not in a:  # a person picks one of a required group
            form["radios"].setdefault(name, a.get("value", ""))
            return
        if kind == "checkbox" and "checked" not in a:
            return
        form["fields"].append({"name": name, "value": a.get("value", ""), "type": kind})
        if tag == "textarea" or kind in TEXT_TYPES:
            form["text"].add(name)

    def handle_endtag(self, tag):
        if tag == self._raw:
            self._raw = None
        elif tag == "select":
            self._select = None

    def handle_data(self, data):
        if self._raw and MARK in data:
            self.live.append(f"<{self._raw}>{data[:80]}")


def parse(html: str) -> Page:
    page = Page()
    page.feed(html)
    page.close()
    return page


def _world(app):
    """Accounts and content so that every kind of form shows up somewhere."""
    ana, ben = person("ana"), person("ben")
    person("mod", role=Role.MODERATOR)
    person("root", role=Role.ADMIN)
    post = make_post(ana, "A study", tags=["ink"], images=[image_bytes(size=(400, 300))])
    make_post(ana, "Work in progress", images=[image_bytes(size=(320, 240))], state=PostState.DRAFT)
    make_post(ben, "A reply study", tags=["ink"], images=[image_bytes(size=(300, 200))])
    make_post(ana, "Held by the filter", images=[generator_png()])  # appeal and review forms
    client = app.test_client()
    login(client, "ana")
    job = {"title": "Inker", "kind": "freelance", "location": "Lyon", "apply_url": "https://x.io"}
    assert client.post("/jobs/new", data=job).status_code == 303
    return [
        "/",
        f"/@{ana.username}",
        f"/@{ben.username}",
        f"/posts/{post.id}",
        "/settings",
        "/jobs",
        "/jobs/new",
        "/posts/new",
        "/notifications",
        "/moderation",
        "/admin",
    ]


class Crawl:
    """What one test client reaches from the seed pages; every answer's status and live markup."""

    def __init__(self, client, seeds, problems):
        self.client, self.problems = client, problems
        self.forms: list[tuple[str, dict]] = []
        self.pages = 0
        queue, seen, shapes = deque(seeds), set(seeds), Counter()
        while queue and self.pages < MAX_PAGES:
            path = queue.popleft()
            page = self.check("GET", path, self.client.get(path))
            if page is None:
                continue
            self.forms += [(path, form) for form in page.forms]
            for link in page.links:
                link = link.split("#")[0]
                shape = _shape(link) + "?" + urlsplit(link).query
                if link in seen or SKIP.search(urlsplit(link).path) or shapes[shape] >= 2:
                    continue  # two pages of a kind (/posts/1, /posts/2) show its forms
                seen.add(link)
                shapes[shape] += 1
                queue.append(link)

    def check(self, method, path, response) -> Page | None:
        self.pages += 1
        if response.status_code >= 500:
            self.problems.append(f"{method} {path}: {response.status_code}")
        if not response.mimetype == "text/html":
            return None
        page = parse(response.get_data(as_text=True))
        self.problems += [f"{method} {path}: {live}" for live in page.live]
        return page


FILLER = {"email": "someone@example.com", "url": "https://example.com/portfolio"}


def _send(crawl: Crawl, page: str, form: dict, field: str, payload: str) -> None:
    """The form as a person would send it, with `field` set to `payload` and other empty text
    fields filled in plausibly (so that the payload is stored where it can be)."""
    action = form["action"] or page
    data = [
        (
            f["name"],
            payload
            if f["name"] == field
            else f["value"]
            or (FILLER.get(f["type"], "A study") if f["name"] in form["text"] else ""),
        )
        for f in form["fields"]
    ]
    named = {f["name"] for f in form["fields"]}
    data += [(name, value) for name, value in form["radios"].items() if name not in named]
    if form["method"].lower() == "post":
        response = crawl.client.post(action, data=MultiDict(data))
    else:
        action = f"{action}?{urlencode(data)}"
        response = crawl.client.get(action)
    crawl.check(form["method"].upper(), action, response)


def _shape(path: str) -> str:
    """/posts/3/edit -> /posts/<id>/edit, /@ana -> /@<name>: one kind of page or form."""
    path = re.sub(r"/\d+", "/<id>", urlsplit(path).path)
    return re.sub(r"/(@|users/)[^/]+", r"/\1<name>", path)


def test_no_payload_renders_live_in_any_field(app, no_avif, figures):
    seeds = _world(app)
    problems: list[str] = []
    fields, submissions, pages, sent = set(), 0, 0, set()
    for role in (None, "ana", "ben", "mod", "root"):  # anonymous first: sign-up, reset...
        client = app.test_client()
        if role:
            login(client, role)
        crawl = Crawl(client, seeds, problems)
        for page, form in crawl.forms:
            key = (_shape(form["action"] or page), tuple(sorted(form["text"])))
            if not form["text"] or key in sent or SKIP.search(key[0]):
                continue
            sent.add(key)
            for name in sorted(form["text"]):
                fields.add((key[0], re.sub(r"\d+", "<id>", name)))
                for payload in PAYLOADS:
                    _send(crawl, page, form, name, payload)
                    submissions += 1
        pages += crawl.pages
    for role in ("ana", "ben", "mod", "root", None):  # what each one sees afterwards
        client = app.test_client()
        signed_in = role is None or client.post("/login", data={"login": role, "password": GOOD})
        if role is None or signed_in.status_code == 303:  # a suspended account cannot
            pages += Crawl(client, seeds, problems).pages
    figures(
        "XSS payloads",
        fields=len(fields),
        payloads=len(PAYLOADS),
        fields_x_payloads=len(fields) * len(PAYLOADS),
        submissions=submissions,
        pages_checked=pages,
        live=len(problems),
    )
    assert len(fields) >= 15, sorted(fields)  # the walk found the site's forms
    assert not problems, problems[:30]


def test_the_detector_sees_each_payload_live_and_not_escaped():
    """The proof can fail: each payload pasted raw into a page is caught; escaped, it is not."""
    from markupsafe import escape

    for payload in PAYLOADS:
        raw = f'<p>{payload}</p><a href="{payload}">x</a><input value="{payload}">'
        safe = f'<p>{escape(payload)}</p><a href="/x?q={escape(payload)}">x</a>'
        assert parse(raw).live, payload
        assert not parse(safe).live, payload
