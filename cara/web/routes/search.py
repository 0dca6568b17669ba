"""Search: /search?q= finds people, tags and posts (captions and tags)."""

import click
from flask import Blueprint, abort, redirect, request
from flask_login import current_user

from cara import federation
from cara.social import search
from cara.web import context
from cara.web.htmx import render

bp = Blueprint("search", __name__)


@bp.get("/search")
def index():
    q = request.args.get("q", "").strip()
    if len(q) > search.QUERY_MAX:
        abort(400, f"Search for at most {search.QUERY_MAX} characters.")
    if (handle := federation.handle_page(q)) is not None:  # @name@server: their profile
        return redirect(handle, 303)
    people = search.people(current_user, q) if q else []
    tags = search.tags(current_user, q) if q else []
    page = search.posts(current_user, q, request.args.get("before"))
    shown = {"q": q, "people": people, "tags": tags, "page": page}
    cards = context.cards(page.items, page.marks)
    return render("search/index.html", {"feed-more": "items"}, **shown, **cards)


@bp.cli.command("reindex")
def reindex_command():
    """Rebuild the search index from every post's caption and tags."""
    click.echo(f"Indexed {search.reindex()} posts")
