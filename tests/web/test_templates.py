"""Templates only read what the views give them: no domain module or function is reachable.

Views compute what a page shows (cara.web.context) in batches; the Jinja environment holds
presentation helpers of the web layer only (links, pictures, assets), and the libraries'.
"""

import re
import types
from pathlib import Path

import pytest
from werkzeug.local import LocalProxy

TEMPLATES = Path(__file__).resolve().parents[2] / "templates"
# Where a Jinja global or filter may come from: the web layer, and the web stack it builds on.
ALLOWED = ("cara.web", "flask", "flask_wtf", "jinja2", "markupsafe", "builtins", "_operator")
# Plain values a global may be (flags); a constant of the domain goes through the view.
VALUES = (bool, int, str, type(None))
DOMAIN = ("social", "feeds", "moderation", "screening", "actions", "notify", "policy", "drafts")
POLICY_CALLS = ("can_change", "can_moderate", "can_view", "can_admin", "repostable", "can_repost")


def _origin(value) -> str:
    """The module a Jinja global or filter is defined in (its class's, for an object)."""
    if isinstance(value, types.ModuleType):
        return f"module {value.__name__}"
    if isinstance(value, LocalProxy):  # request, session, g: Flask's
        return "flask"
    if isinstance(value, type | types.FunctionType | types.BuiltinFunctionType | types.MethodType):
        return getattr(value, "__module__", None) or "?"
    if isinstance(value, VALUES):
        return "builtins"
    if type(value).__module__ == "builtins":  # a dict or list of the domain's: pass it in views
        return f"a {type(value).__name__} value"
    return type(value).__module__  # an object (Flask's config): its class's module


def _allowed(origin: str) -> bool:
    return any(origin == root or origin.startswith(root + ".") for root in ALLOWED)


@pytest.mark.parametrize("kind", ["globals", "filters", "tests"])
def test_jinja_env_holds_only_web_helpers(app, kind):
    found = {name: _origin(v) for name, v in getattr(app.jinja_env, kind).items()}
    wrong = {name: origin for name, origin in found.items() if not _allowed(origin)}
    assert not wrong, f"Jinja {kind} that are not web helpers: {wrong}"
    if kind == "globals":
        for name in ("social", "feeds", "moderation", "screening", "can_change", "repostable"):
            assert name not in found


def test_context_processors_are_the_web_layers(app):
    """Values every template gets (current_user, csrf_token, the unread count...)."""
    with app.test_request_context("/"):
        values = {}
        for processor in app.template_context_processors[None]:
            values.update(processor())
    wrong = {n: o for n, v in values.items() if not _allowed(o := _origin(v))}
    # current_user is flask_login's proxy; htmx is flask_htmx's request wrapper.
    wrong.pop("current_user", None)
    wrong.pop("htmx", None)
    assert not wrong, f"template context values that are not web helpers: {wrong}"


# --- template sources ----------------------------------------------------------------------

CODE = re.compile(r"\{\{(.*?)\}\}|\{%(.*?)%\}", re.S)
COMMENT = re.compile(r"\{#.*?#\}", re.S)
STRING = re.compile(r"'[^']*'|\"[^\"]*\"")  # endpoint names such as 'social.follow' are data
DOMAIN_USE = re.compile(rf"\b(?:{'|'.join(DOMAIN)})\s*\.")
POLICY_USE = re.compile(rf"\b(?:{'|'.join(POLICY_CALLS)})\s*\(")


def _code(source: str) -> str:
    """The Jinja expressions and statements of a template, without comments and strings."""
    source = COMMENT.sub("", source)
    return "\n".join(STRING.sub("''", a or b) for a, b in CODE.findall(source))


def test_templates_call_no_domain_function():
    templates = sorted(p for p in TEMPLATES.rglob("*") if p.suffix in (".html", ".xml"))
    assert len(templates) > 30
    offences = []
    for path in templates:
        code = _code(path.read_text())
        for pattern in (DOMAIN_USE, POLICY_USE):
            offences += [
                f"{path.relative_to(TEMPLATES)}: {m.group(0)}" for m in pattern.finditer(code)
            ]
    assert not offences, "templates reaching into the domain:\n" + "\n".join(offences)


def test_the_source_check_sees_a_domain_call():
    """The check above is not vacuous: it finds calls, and lets endpoint names through."""
    code = _code(
        "{# social.comments(post) #}<p>Atom feeds.</p>{{ url_for('social.follow', username=u) }}"
        "{% set x = 'moderation.appeal' %}{% for t in social.comments(current_user, post) %}"
        "{% if can_change(current_user, c) %}{{ feeds.first_image(p) }}"
    )
    assert DOMAIN_USE.findall(code) == ["social.", "feeds."]
    assert POLICY_USE.findall(code) == ["can_change("]
