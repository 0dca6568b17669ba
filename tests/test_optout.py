"""AI opt-out: robots.txt, ai.txt, TDMRep, meta tags and headers; the crawler block, rate
limits, hotlink protection, the public size cap and per-artist noindex."""

import json
import re
from urllib.parse import urlsplit
from urllib.robotparser import RobotFileParser

import pytest

from cara import imaging, optout
from cara.core import storage
from cara.core.extensions import db
from cara.core.models import PostState
from cara.posting import drafts
from tests.factories import image_bytes

BROWSER = "Mozilla/5.0 (X11; Linux x86_64; rv:131.0) Gecko/20100101 Firefox/131.0"
GPTBOT = (
    "Mozilla/5.0 AppleWebKit/537.36 (KHTML, like Gecko); compatible; GPTBot/1.2;"
    " +https://openai.com/gptbot"
)
SIGNAL_FILES = (
    "/robots.txt",
    "/ai.txt",
    "/.well-known/tdmrep.json",
    "/.well-known/tdm-policy.json",
    "/healthz",
)
# Agents the brief requires at least; the shipped list may hold more.
REQUIRED_AGENTS = """GPTBot ChatGPT-User OAI-SearchBot ClaudeBot Claude-Web anthropic-ai
    Google-Extended GoogleOther Applebot-Extended CCBot Bytespider PerplexityBot
    meta-externalagent FacebookBot Amazonbot cohere-ai Diffbot img2dataset omgili Timpibot
    YouBot ImagesiftBot DeepSeekBot TikTokSpider PanguBot LAIONDownloader
    laion-huggingface-processor imageSpider GoogleOther-Image Google-CloudVertexBot
    YandexAdditional ICC-Crawler Cotoyogi SBIntuitionsBot""".split()
# Search engines' own crawlers and link previews: in the upstream list, never blocked.
SPARED_AGENTS = ("Applebot", "Bravebot", "PetalBot", "facebookexternalhit")


def robots(client) -> RobotFileParser:
    parser = RobotFileParser()
    parser.parse(client.get("/robots.txt").get_data(as_text=True).splitlines())
    return parser


def published_post(user, size=(800, 600)):
    """A real post whose image went through the pipeline (TASK_RUNNER is inline in tests)."""
    post, errors = drafts.add_images(
        user, None, [drafts.Upload("a.png", image_bytes(size=size))], imaging.Limits(), 10
    )
    assert not errors, errors
    assert drafts.publish(post, {"caption": "x", "alt": {post.media[0].id: "alt"}}) == {}
    db.session.refresh(post)
    assert post.state == PostState.PUBLISHED, post.state
    return post


def fetch(client, url, **kwargs):
    """GET a file and close the response (send_file keeps it open until then)."""
    response = client.get(url, **kwargs)
    response.get_data()
    response.close()
    return response


def by_width(media) -> list[dict]:
    return sorted(media.renditions, key=lambda r: r["w"])


# --- robots.txt, ai.txt, TDMRep --------------------------------------------------------------


def test_robots_txt_disallows_every_listed_ai_agent_and_lets_search_in(client, app):
    response = client.get("/robots.txt")
    assert response.status_code == 200
    assert response.mimetype == "text/plain"
    assert response.headers["Cache-Control"] == "public, max-age=3600"
    parser = robots(client)
    tokens = optout.crawler_tokens()
    assert set(REQUIRED_AGENTS) <= set(tokens)
    for agent in tokens:
        assert not parser.can_fetch(agent, "/"), agent
        assert not parser.can_fetch(agent, "/media/1/x-640.webp"), agent
    assert not parser.can_fetch("GPTBot", "/")
    assert parser.can_fetch("Googlebot", "/")
    assert parser.can_fetch("Googlebot", "/@ana")
    assert parser.can_fetch("Googlebot", "/media/1/x-640.webp")
    for private in ("/settings", "/login", "/signup", "/password/reset", "/search?q=ink"):
        assert not parser.can_fetch("Googlebot", private), private


def test_robots_txt_sends_content_signals_to_everyone_and_no_sitemap(client):
    text = client.get("/robots.txt").get_data(as_text=True)
    star_group = text.split("User-agent: *", 1)[1]
    assert "Content-Signal: search=yes, ai-train=no, ai-input=no" in star_group.splitlines()
    assert "Sitemap" not in text


def test_ai_txt_disallows_all_media(client):
    response = client.get("/ai.txt")
    assert response.status_code == 200 and response.mimetype == "text/plain"
    lines = response.get_data(as_text=True).splitlines()
    assert "User-Agent: *" in lines
    for rule in ("Disallow: *.webp", "Disallow: *.jpg", "Disallow: *.avif", "Disallow: /"):
        assert rule in lines


def test_tdmrep_reserves_rights_and_points_to_a_served_json_ld_policy(client):
    response = client.get("/.well-known/tdmrep.json")
    assert response.status_code == 200 and response.mimetype == "application/json"
    rules = json.loads(response.get_data(as_text=True))
    assert rules == [{"location": "/", "tdm-reservation": 1, "tdm-policy": rules[0]["tdm-policy"]}]
    url = rules[0]["tdm-policy"]
    assert url.startswith("http://cara.test/")  # absolute, on BASE_URL
    policy_response = client.get(urlsplit(url).path)
    assert policy_response.status_code == 200
    assert policy_response.mimetype == "application/ld+json"
    policy = json.loads(policy_response.get_data(as_text=True))
    assert policy["@context"] == [
        "http://www.w3.org/ns/odrl.jsonld",
        "http://www.w3.org/ns/tdmrep.jsonld",
    ]  # TDMRep: "MUST be an array of two values"
    assert policy["@type"] == "Offer" and policy["profile"] == "http://www.w3.org/ns/tdmrep"
    assert policy["uid"] == url
    assert policy["permission"][0]["action"] == "tdm:mine"
    assert policy["permission"][0]["duty"] == [{"action": "obtainConsent"}]


def test_about_ai_page_says_what_we_do_and_what_we_cannot_promise(client):
    html = client.get("/").get_data(as_text=True)
    assert 'href="/about/ai"' in html  # linked from the footer of every page
    response = client.get("/about/ai")
    assert response.status_code == 200
    text = response.get_data(as_text=True)
    for words in ("DMI-PROHIBITED-AIMLTRAINING", "robots.txt", "requests", "honest bots", "held"):
        assert words in text


# --- Meta tags and headers ---------------------------------------------------------------------


def test_html_pages_carry_the_meta_tags_and_headers(client):
    for url in ("/", "/login", "/about/ai", "/no/such/page"):
        response = client.get(url, headers={"User-Agent": BROWSER})
        html = response.get_data(as_text=True)
        assert '<meta name="robots" content="noai, noimageai">' in html, url
        assert '<meta name="tdm-reservation" content="1">' in html, url
        policy = re.search(r'<meta name="tdm-policy" content="([^"]+)">', html)
        assert policy and policy.group(1) == "http://cara.test/.well-known/tdm-policy.json"
        assert response.headers["X-Robots-Tag"] == "noai, noimageai"
        assert response.headers["tdm-reservation"] == "1"
        assert response.headers["tdm-policy"] == policy.group(1)


def test_policy_url_comes_from_base_url_never_the_request_host(client, app):
    response = client.get("/", base_url="https://evil.example")
    assert response.headers["tdm-policy"] == "http://cara.test/.well-known/tdm-policy.json"


def test_artist_who_opted_out_of_search_gets_noindex(client, make_user):
    shy = make_user("shy", noindex=True)
    make_user("open")
    response = client.get("/@shy")
    html = response.get_data(as_text=True)
    assert '<meta name="robots" content="noindex, noai, noimageai">' in html
    assert response.headers["X-Robots-Tag"] == "noindex, noai, noimageai"
    response = client.get("/@open")
    assert '<meta name="robots" content="noai, noimageai">' in response.get_data(as_text=True)
    assert "noindex" not in response.headers["X-Robots-Tag"]
    post = published_post(shy)
    response = client.get(f"/posts/{post.id}")
    assert '<meta name="robots" content="noindex, noai, noimageai">' in response.get_data(
        as_text=True
    )
    assert response.headers["X-Robots-Tag"] == "noindex, noai, noimageai"
    name = by_width(post.media[0])[0]["name"]
    media_response = fetch(client, f"/media/{post.media[0].id}/{name}")
    assert media_response.headers["X-Robots-Tag"] == "noindex, noai, noimageai"


# --- Blocking AI crawlers by user agent --------------------------------------------------------


@pytest.mark.parametrize(
    "agent",
    [
        GPTBOT,
        "gptbot",
        "CCBot/2.0 (https://commoncrawl.org/faq/)",
        "Mozilla/5.0 (compatible; Bytespider; spider-feedback@bytedance.com)",
        "meta-externalagent/1.1 (+https://developers.facebook.com/docs/sharing/webmasters/crawler)",
        "Mozilla/5.0 (compatible; img2dataset; +https://github.com/rom1504/img2dataset)",
        "Mozilla/5.0 AppleWebKit/537.36 (KHTML, like Gecko; compatible; ClaudeBot/1.0)",
    ],
)
def test_ai_crawlers_get_403_on_pages_but_can_read_the_rules(client, agent):
    for url in ("/", "/latest", "/about/ai", "/no/such/page"):
        response = client.get(url, headers={"User-Agent": agent})
        assert response.status_code == 403, url
        assert "<main" in response.get_data(as_text=True)  # our error page
    for url in SIGNAL_FILES:
        assert client.get(url, headers={"User-Agent": agent}).status_code == 200, url


def test_browsers_and_search_engines_are_served(client):
    for agent in (
        BROWSER,
        "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)",
        "facebookexternalhit/1.1",
        "Mozilla/5.0 (Macintosh) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.4"
        " Safari/605.1.15 (Applebot/0.1; +http://www.apple.com/go/applebot)",
        "Mozilla/5.0 (Linux; Android 7.0;) AppleWebKit/537.36 (KHTML, like Gecko) Mobile"
        " Safari/537.36 (compatible; PetalBot;+https://webmaster.petalsearch.com/site/petalbot)",
        "",
    ):
        assert client.get("/", headers={"User-Agent": agent}).status_code == 200, agent
    parser = robots(client)
    for agent in ("Googlebot", "Bingbot", *SPARED_AGENTS):
        assert parser.can_fetch(agent, "/"), agent
    assert not parser.can_fetch("Applebot-Extended", "/")  # Apple's training token


@pytest.mark.parametrize(
    ("agent", "expected"),
    [
        (GPTBOT, "GPTBot"),
        ("GPTBOT", "GPTBot"),
        ("omgili/0.5 +http://omgili.com", "omgili"),
        ("Omgilibot/0.3", "omgilibot"),  # as the upstream list spells it
        ("Mozilla/5.0 (compatible; Kangaroo Bot/1.0)", "Kangaroo Bot"),
        ("iaskspider/2.0", "iaskspider/2.0"),
        ("Mozilla/5.0 (compatible; GoogleOther)", "GoogleOther"),
        ("Homgilix/1.0", None),  # whole words only
        ("MyGPTBotFan/1.0", None),
        (BROWSER, None),
        ("", None),
        (None, None),
    ],
)
def test_ai_crawler_matches_whole_tokens_in_any_case(app, agent, expected):
    assert optout.ai_crawler(agent) == expected


@pytest.mark.parametrize("app_config", [{"AI_CRAWLERS_BLOCK": False}])
def test_crawler_block_can_be_turned_off(client):
    assert client.get("/", headers={"User-Agent": GPTBOT}).status_code == 200
    assert "GPTBot" in client.get("/robots.txt").get_data(as_text=True)  # the request stays


def test_admin_list_in_the_instance_folder_extends_ours(client, app, tmp_path):
    app.instance_path = str(tmp_path)
    (tmp_path / "ai-crawlers.txt").write_text(
        "# our additions\nNewAIBot  # seen in the logs\ngptbot\nBad<Bot>\n\n"
    )
    parser = robots(client)
    assert not parser.can_fetch("NewAIBot", "/")
    assert not parser.can_fetch("GPTBot", "/")  # ours are kept
    text = client.get("/robots.txt").get_data(as_text=True)
    assert text.count("User-agent: GPTBot") == 1 and "User-agent: gptbot" not in text
    assert "Bad<Bot>" not in text
    assert client.get("/", headers={"User-Agent": "NewAIBot/0.1"}).status_code == 403
    assert client.get("/robots.txt", headers={"User-Agent": "NewAIBot/0.1"}).status_code == 200
    # Edits are picked up without a restart.
    (tmp_path / "ai-crawlers.txt").write_text("OtherAIBot\n")
    assert client.get("/", headers={"User-Agent": "NewAIBot/0.1"}).status_code == 200
    assert client.get("/", headers={"User-Agent": "OtherAIBot"}).status_code == 403


# --- Rate limits ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "app_config",
    [{"RATELIMIT_ENABLED": True, "LISTING_RATE_LIMIT": "2 per minute", "MEDIA_RATE_LIMIT": ""}],
)
def test_listing_rate_limit_gives_our_429_page(client):
    assert client.get("/").status_code == 200
    assert client.get("/latest").status_code == 200  # one budget for all listings
    response = client.get("/latest")
    assert response.status_code == 429
    assert "<main" in response.get_data(as_text=True)
    assert "Retry-After" in response.headers
    assert client.get("/robots.txt").status_code == 200  # the rules are never limited
    assert client.get("/about/ai").status_code == 200


@pytest.mark.parametrize(
    "app_config",
    [{"RATELIMIT_ENABLED": True, "MEDIA_RATE_LIMIT": "2 per minute", "LISTING_RATE_LIMIT": ""}],
)
def test_media_rate_limit(client, make_user):
    post = published_post(make_user())
    media = post.media[0]
    urls = [f"/media/{media.id}/{r['name']}" for r in by_width(media)]
    assert [fetch(client, url).status_code for url in urls[:2]] == [200, 200]
    assert fetch(client, urls[0]).status_code == 429
    assert client.get("/latest").status_code == 200  # a separate budget


# --- Media: headers, crawler block, hotlink protection, size cap, originals ----------------------


def test_media_responses_carry_the_signals_and_block_ai_crawlers(client, make_user):
    post = published_post(make_user())
    media = post.media[0]
    for rendition in media.renditions:
        url = f"/media/{media.id}/{rendition['name']}"
        response = fetch(client, url, headers={"User-Agent": BROWSER})
        assert response.status_code == 200, url
        assert response.headers["X-Robots-Tag"] == "noai, noimageai"
        assert response.headers["tdm-reservation"] == "1"
        assert response.headers["tdm-policy"] == "http://cara.test/.well-known/tdm-policy.json"
        assert fetch(client, url, headers={"User-Agent": GPTBOT}).status_code == 403


def test_largest_image_cannot_be_embedded_on_other_sites(client, make_user):
    post = published_post(make_user())
    media = post.media[0]
    smallest, largest = by_width(media)[0], by_width(media)[-1]
    big = f"/media/{media.id}/{largest['name']}"
    small = f"/media/{media.id}/{smallest['name']}"
    for referer in ("https://scraper.example/gallery", "http://[broken"):
        response = fetch(client, big, headers={"Referer": referer})
        assert response.status_code == 403, referer
    assert fetch(client, small, headers={"Referer": "https://scraper.example/"}).status_code == 200
    for headers in (
        {},  # feed readers, privacy settings, direct visits
        {"Referer": f"http://localhost/posts/{post.id}"},  # our own pages
        {"Referer": "http://cara.test/"},  # our public name (BASE_URL) behind a proxy
    ):
        response = fetch(client, big, headers=headers)
        assert response.status_code == 200, headers
        assert "Referer" in response.headers["Vary"]


@pytest.mark.parametrize("app_config", [{"HOTLINK_PROTECTION": False}])
def test_hotlink_protection_can_be_turned_off(client, make_user):
    media = published_post(make_user()).media[0]
    url = f"/media/{media.id}/{by_width(media)[-1]['name']}"
    assert fetch(client, url, headers={"Referer": "https://scraper.example/"}).status_code == 200


def test_no_rendition_wider_than_the_public_cap_is_served(client, app, make_user):
    media = published_post(make_user()).media[0]
    renditions = by_width(media)
    assert len({r["w"] for r in renditions}) >= 2
    app.config["MAX_PUBLIC_WIDTH"] = renditions[-1]["w"] - 1
    assert fetch(client, f"/media/{media.id}/{renditions[-1]['name']}").status_code == 404
    below = [r for r in renditions if r["w"] < renditions[-1]["w"]]
    next_largest = f"/media/{media.id}/{below[-1]['name']}"
    assert fetch(client, next_largest).status_code == 200
    # The largest public one is now the one protected from hotlinking.
    foreign = {"Referer": "https://scraper.example/"}
    assert fetch(client, next_largest, headers=foreign).status_code == 403


def test_default_cap_matches_what_the_pipeline_writes(app):
    assert app.config["MAX_PUBLIC_WIDTH"] >= max(imaging.DEFAULT_WIDTHS)


def test_the_original_is_not_reachable_through_media_urls(client, make_user):
    media = published_post(make_user()).media[0]
    original = storage.original_path(media.original_path)
    assert original.is_file()
    rel = media.original_path
    for url in (
        f"/media/orig/{rel}",
        f"/media/{media.id}/{rel}",
        f"/media/{media.id}/../orig/{rel}",
        f"/media/{media.id}/..%2Forig%2F{rel}",
        f"/media/{media.id}/%2E%2E%2Forig%2F{rel}",
        f"/media/{media.id}/..%5Corig%5C{rel}",
        f"/media/{media.id}/{media.original_name}",
        f"/media/{media.id}/",
    ):
        response = fetch(client, url)
        assert response.status_code == 404, url
        assert original.read_bytes() not in response.get_data(), url


# --- The upstream list and its updates ---------------------------------------------------------


def test_shipped_list_is_the_upstream_robots_json_minus_search_engines(app, tmp_path):
    names = optout.parse_robots_json(optout.UPSTREAM_LIST.read_text(encoding="utf-8"))
    assert len(names) >= 166 and set(REQUIRED_AGENTS) <= set(names)
    tokens = optout.crawler_tokens(str(tmp_path))
    lower = {t.lower() for t in tokens}
    assert lower == {n.lower() for n in names} - {a.lower() for a in SPARED_AGENTS}
    assert len(lower) == len(tokens)  # "Meta-ExternalAgent" and "meta-externalagent": one line
    assert set(SPARED_AGENTS) <= set(names)  # kept apart, not missing
    readme = (optout.DATA / "README.md").read_text()
    assert "github.com/ai-robots-txt/ai.robots.txt" in readme and "MIT" in readme
    assert "MIT License" in (optout.UPSTREAM_LIST.parent / "LICENSE").read_text()


def test_admin_list_can_block_a_spared_agent(app, tmp_path):
    (tmp_path / "ai-crawlers.txt").write_text("PetalBot\n")
    assert "PetalBot" in optout.crawler_tokens(str(tmp_path))


def _robots_json(*names: str) -> str:
    return json.dumps({name: {"operator": "x", "function": "y"} for name in names})


def test_crawlers_update_installs_a_newer_list_and_prints_the_changes(app, client, tmp_path):
    app.instance_path = str(tmp_path / "instance")
    source = tmp_path / "robots.json"
    source.write_text(_robots_json("GPTBot", "BrandNewAIBot", "Applebot"))
    result = app.test_cli_runner().invoke(args=["crawlers", "update", str(source)])
    assert result.exit_code == 0, result.output
    assert "Added (1): BrandNewAIBot" in result.output
    assert "ClaudeBot" in result.output.split("Removed", 1)[1]  # no longer in the new list
    assert (tmp_path / "instance" / "ai-robots.json").read_text() == source.read_text()
    assert optout.crawler_tokens() == ("GPTBot", "BrandNewAIBot")  # Applebot still spared
    assert client.get("/", headers={"User-Agent": "BrandNewAIBot/1"}).status_code == 403
    assert "User-agent: BrandNewAIBot" in client.get("/robots.txt").get_data(as_text=True)


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("{not json", "not JSON"),
        ("[]", "one entry per user agent"),
        ("{}", "one entry per user agent"),
        ('{"Bad:Name": {}}', "not a user-agent name"),
        ('{"GoodBot": "text"}', "expected an object"),
    ],
)
def test_crawlers_update_refuses_a_bad_file_and_changes_nothing(app, tmp_path, content, message):
    app.instance_path = str(tmp_path / "instance")
    source = tmp_path / "robots.json"
    source.write_text(content)
    before = optout.crawler_tokens()
    result = app.test_cli_runner().invoke(args=["crawlers", "update", str(source)])
    assert result.exit_code == 1
    assert message in result.output and "Nothing was changed" in result.output
    assert not (tmp_path / "instance" / "ai-robots.json").exists()
    assert optout.crawler_tokens() == before
