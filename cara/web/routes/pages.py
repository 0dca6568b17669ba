"""The site pages (about, rules, terms, privacy, copyright), written by the admin in Markdown."""

from flask import Blueprint, render_template
from markupsafe import Markup

from cara import admin
from cara.core import settings

bp = Blueprint("pages", __name__)


class Site:
    """The instance's name and description for every template, read only when one shows them."""

    @property
    def name(self) -> str:
        return settings.get("site_name")

    @property
    def description(self) -> str:
        return settings.get("site_description")

    @property
    def pages(self) -> dict[str, str]:
        """The site pages' names and titles, for the footer."""
        return admin.PAGES


@bp.app_context_processor
def site():
    return {"site": Site()}


@bp.get("/<any(about, rules, terms, privacy, copyright):name>")
def show(name: str):
    # render_markdown's output is sanitised (nh3): safe to insert as it is.
    body = Markup(admin.page_html(name))  # noqa: S704
    return render_template("pages/page.html", title=admin.PAGES[name], body=body)
