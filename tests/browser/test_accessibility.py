"""Accessibility in a real browser: axe-core on every key page in light and dark, keyboard only,
alt text, and reduced motion."""

import pytest
from playwright.sync_api import expect

from tests.browser.pages import PAGES, log_in, open_page, screenshot, watch

SCHEMES = ["light", "dark"]

# Every [data-hx-get] is on a link to the same URL (or holds a plain link: the polling status box);
# every data-hx-post is on a POST form to the same URL (DESIGN §4: htmx is never required).
HTMX_RULES = """() => {
  const bad = [];
  for (const el of document.querySelectorAll('[data-hx-get]')) {
    const url = el.getAttribute('data-hx-get');
    const link = el.tagName === 'A' && el.getAttribute('href') === url;
    if (!link && !el.querySelector('a[href]')) bad.push(el.outerHTML.slice(0, 160));
  }
  for (const el of document.querySelectorAll('[data-hx-post]')) {
    const form = el.tagName === 'FORM' ? el : el.form;
    const url = el.getAttribute('data-hx-post');
    const target = el.getAttribute('formaction') || (form && form.getAttribute('action'));
    if (!form || form.method !== 'post' || target !== url) bad.push(el.outerHTML.slice(0, 160));
  }
  return bad;
}"""

IMAGES_WITHOUT_ALT = """() => [...document.images]
  .filter(img => !img.hasAttribute('alt')
    || (img.closest('[id^="post-"]') && !img.getAttribute('alt').trim()))
  .map(img => img.outerHTML.slice(0, 160))"""

# Anything that moves: a transition or an animation that takes time.
MOVING = """() => [...document.querySelectorAll('*')].filter(el => {
  const s = getComputedStyle(el);
  const long = v => v.split(',').some(d => parseFloat(d) > 0);
  return long(s.transitionDuration) || (s.animationName !== 'none' && long(s.animationDuration));
}).map(el => el.tagName.toLowerCase() + (el.id ? '#' + el.id : ''))"""


@pytest.fixture(scope="module")
def contexts(browser, live):
    """One context per (who, colour scheme), logged in once. CSP is bypassed only here: axe is
    injected as a script, which our policy (rightly) forbids."""
    made = {}

    def get(who, scheme):
        if (who, scheme) not in made:
            context = browser.new_context(
                viewport={"width": 1280, "height": 900}, color_scheme=scheme, bypass_csp=True
            )
            context.set_default_timeout(10_000)
            if who:
                page = context.new_page()
                log_in(page, live, who)
                page.close()
            made[who, scheme] = context
        return made[who, scheme]

    yield get
    for context in made.values():
        context.close()


def _describe(violations) -> str:
    lines = []
    for v in violations:
        lines.append(f"[{v['impact']}] {v['id']}: {v['help']} ({v['helpUrl']})")
        for node in v["nodes"][:5]:
            lines.append(f"    {node['target']}: {node['failureSummary']}".replace("\n", " "))
    return "\n".join(lines)


@pytest.mark.parametrize("scheme", SCHEMES)
@pytest.mark.parametrize("name,path,who,status", PAGES, ids=[p[0] for p in PAGES])
def test_no_serious_axe_violations(
    contexts, live, artworks, feed, draft, axe_source, scheme, name, path, who, status
):
    page = contexts(who, scheme).new_page()
    try:
        open_page(page, live, path, status)
        page.add_script_tag(content=axe_source)
        results = page.evaluate(
            "async () => await axe.run(document, {resultTypes: ['violations']})"
        )
        serious = [v for v in results["violations"] if v["impact"] in ("serious", "critical")]
        assert not serious, f"{name} ({scheme}):\n{_describe(serious)}"
        if scheme == "light":  # structure does not change with the colour scheme
            assert not page.evaluate(IMAGES_WITHOUT_ALT), "images without alt text"
            assert not page.evaluate(HTMX_RULES), "htmx attributes without a plain fallback"
        else:
            screenshot(page, f"{name}-dark")  # light ones come from test_page_weight
    finally:
        page.close()


def _focus(page) -> dict:
    return page.evaluate(
        """() => {
          const el = document.activeElement, s = getComputedStyle(el);
          const r = el.getBoundingClientRect();
          return {tag: el.tagName.toLowerCase(), id: el.id, name: (el.innerText || el.value ||
                  el.getAttribute('aria-label') || '').trim().slice(0, 40),
                  href: el.getAttribute('href'), outline: s.outlineStyle,
                  outlineWidth: parseFloat(s.outlineWidth), shadow: s.boxShadow,
                  visible: r.width > 0 && r.height > 0 && r.right > 0 && r.bottom > 0
                           && r.left < innerWidth && r.top < innerHeight};
        }"""
    )


def test_skip_link_comes_first_and_moves_focus_to_main(new_context, live, feed):
    page = new_context().new_page()
    page.goto(live("/"))
    page.keyboard.press("Tab")
    first = _focus(page)
    assert (first["name"], first["href"]) == ("Skip to content", "#main"), first
    assert first["visible"], "the skip link stays off-screen when focused"
    assert first["outline"] != "none" and first["outlineWidth"] >= 2, first
    page.keyboard.press("Enter")
    assert page.evaluate("() => document.activeElement.id") == "main"
    page.keyboard.press("Tab")
    assert page.evaluate("() => !!document.activeElement.closest('main')"), _focus(page)


@pytest.mark.parametrize("path", ["/", "/login", "/posts/{art0}", "/@mira"])
def test_tab_order_follows_the_page_with_visible_focus(new_context, live, artworks, feed, path):
    page = new_context().new_page()
    page.goto(live(path.format(**live.posts)))
    page.evaluate("() => { window.caraVisited = []; }")
    for _ in range(25):
        page.keyboard.press("Tab")
        focus = _focus(page)
        if focus["tag"] == "body":
            break  # past the last control
        assert focus["visible"], f"focus on something off-screen or hidden: {focus}"
        assert (focus["outline"] != "none" and focus["outlineWidth"] >= 2) or (
            focus["shadow"] != "none"
        ), f"no visible focus indicator: {focus}"
        page.evaluate("() => window.caraVisited.push(document.activeElement)")
    in_order = page.evaluate(
        """() => window.caraVisited.every((el, i, all) => i === 0 ||
              !!(all[i - 1].compareDocumentPosition(el) & Node.DOCUMENT_POSITION_FOLLOWING))"""
    )
    assert in_order, "tab order jumps around the page (a positive tabindex?)"


def test_log_in_with_the_keyboard_only(new_context, live):
    page = new_context().new_page()
    problems = watch(page)
    page.goto(live("/"))

    def tab_to(predicate: str, limit=30):
        for _ in range(limit):
            page.keyboard.press("Tab")
            if page.evaluate(f"() => {{ const el = document.activeElement; return {predicate}; }}"):
                return
        raise AssertionError(f"could not reach {predicate} with Tab")

    tab_to("el.tagName === 'A' && el.textContent.trim() === 'Log in'")
    page.keyboard.press("Enter")
    page.wait_for_url(live("/login"))
    tab_to("el.labels && el.labels[0] && el.labels[0].textContent.trim() === 'Username or email'")
    page.keyboard.type("ana")
    page.keyboard.press("Tab")
    assert page.evaluate("() => document.activeElement.type") == "password"
    page.keyboard.type("correct horse battery")
    page.keyboard.press("Enter")
    expect(page.locator("form[action='/logout']")).to_have_count(1)
    assert not problems


@pytest.mark.parametrize("path", ["/", "/posts/{art0}", "/login"])
def test_reduced_motion_is_respected(new_context, live, artworks, feed, path):
    page = new_context(reduced_motion="reduce").new_page()
    page.goto(live(path.format(**live.posts)))
    assert page.evaluate("() => matchMedia('(prefers-reduced-motion: reduce)').matches")
    assert page.evaluate(MOVING) == []
    assert page.evaluate("() => getComputedStyle(document.documentElement).scrollBehavior") != (
        "smooth"
    )
