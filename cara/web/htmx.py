"""The only place that reads HX-* headers: one URL serves a full page and its fragments."""

from flask import Response, make_response, request
from jinja2_fragments.flask import render_block

from cara.core.extensions import htmx


def wants_fragment(target: str) -> bool:
    """True when htmx asks to swap the element with id `target` (not for hx-boost page loads)."""
    return bool(htmx) and request.headers.get("HX-Target") == target


def render(template: str, fragments: dict[str, str] | None = None, **context) -> Response:
    """Render the page, or only the block named for the requested HX-Target.

    `fragments` maps an element id (the hx-target) to the template block that renders it.
    """
    from flask import render_template

    block = next((b for t, b in (fragments or {}).items() if wants_fragment(t)), None)
    body = (
        render_block(template, block, **context) if block else render_template(template, **context)
    )
    response = make_response(body)
    response.vary.add("HX-Request")
    response.vary.add("HX-Target")
    return response


def hx_redirect(response: Response, location: str) -> Response:
    """Tell htmx to navigate after a successful form post (a 303 is used without htmx)."""
    response.headers["HX-Redirect"] = location
    return response


def notice(template: str, block: str, **context) -> Response:
    """An error page; for htmx only its `block`, shown in the page's flash area (#flashes)
    rather than in place of the element that asked."""
    from flask import render_template

    if not htmx:
        return make_response(render_template(template, **context))
    response = make_response(render_block(template, block, **context))
    response.headers["HX-Retarget"] = "#flashes"
    response.headers["HX-Reswap"] = "innerHTML"
    return response
