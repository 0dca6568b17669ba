"""The admin area: admins only, every change audited; site settings and pages, the filter
settings, invites, roles and accounts awaiting approval."""

import re

import pytest
from sqlalchemy import select

from cara import optout
from cara.core.extensions import db
from cara.core.models import AuditEntry, Invite, Role, User
from cara.posting import screening
from tests.factories import login

SCRIPT = '# Be kind\n\n<script>alert(1)</script> <a hx-get="/logout" href="/x">x</a>\n\n**bold**'


@pytest.fixture
def admin_client(app, client, make_user, tmp_path):
    app.instance_path = str(tmp_path)  # the crawler list is written there
    make_user("ada", role="admin")
    login(client, "ada")
    return client


def audit_actions() -> list[str]:
    return [e.action for e in db.session.scalars(select(AuditEntry).order_by(AuditEntry.id))]


def admin_rules(app):
    return [r for r in app.url_map.iter_rules() if r.rule.startswith("/admin")]


@pytest.mark.parametrize("role", [None, "member", "moderator"])
def test_everyone_but_admins_gets_a_404_on_every_admin_route(app, client, make_user, role):
    if role:
        make_user("moe", role=role)
        login(client, "moe")
    rules = admin_rules(app)
    assert len(rules) >= 8
    values = {
        "name": "rules",
        "invite_id": 1,
        "user_id": 1,
        "decision": "approve",
        "action": "unblock",
        "post_id": 1,
        "subscription_id": 1,
    }
    for rule in rules:
        path = rule.build({k: v for k, v in values.items() if k in rule.arguments})[1]
        for method in rule.methods - {"HEAD", "OPTIONS"}:
            response = client.open(path, method=method)
            assert response.status_code == 404, (role, method, path)
    assert audit_actions() == []


def test_site_settings_are_saved_audited_and_shown(admin_client):
    response = admin_client.post(
        "/admin/site",
        data={
            "site_name": "Inkwell",
            "site_description": "Ink drawings.",
            "contact_email": "Mods@Inkwell.example",
            "registration": "approval",
        },
    )
    assert response.status_code == 303
    page = admin_client.get("/about").get_data(as_text=True)
    assert "<title>About · Inkwell</title>" in page
    assert "Ink drawings." in page and "mods@inkwell.example" in page
    assert audit_actions() == ["site-settings"]
    log = admin_client.get("/moderation?queue=log").get_data(as_text=True)
    assert "site-settings" in log and "Inkwell" in log


@pytest.mark.parametrize(
    ("field", "value"),
    [("site_name", ""), ("contact_email", "not-an-address"), ("registration", "sometimes")],
)
def test_bad_site_settings_are_refused_and_nothing_is_stored(admin_client, field, value):
    data = {"site_name": "Inkwell", "contact_email": "", "registration": "open", field: value}
    response = admin_client.post("/admin/site", data=data)
    assert response.status_code == 422
    assert 'aria-invalid="true"' in response.get_data(as_text=True)
    assert "Inkwell" not in admin_client.get("/").get_data(as_text=True)
    assert audit_actions() == []


@pytest.mark.parametrize("name", ["about", "rules", "terms", "privacy", "copyright"])
def test_site_pages_have_defaults_and_are_linked_in_the_footer(client, name):
    response = client.get(f"/{name}")
    html = response.get_data(as_text=True)
    assert response.status_code == 200 and "<h1>" in html
    assert "$site_name" not in html and "$contact" not in html
    footer = client.get("/").get_data(as_text=True).split('class="site-footer"')[1]
    assert f'href="/{name}"' in footer


def test_a_page_edit_is_rendered_safely_and_audited(admin_client):
    response = admin_client.post("/admin/pages/rules", data={"source": SCRIPT})
    assert response.status_code == 303
    html = admin_client.get("/rules").get_data(as_text=True)
    assert "<h1>Be kind</h1>" in html and "<strong>bold</strong>" in html
    body = html.split('class="site-page prose">')[1].split("</article>")[0]
    # Raw HTML is shown as text: no element, and no attribute, comes of it.
    assert "<script" not in body and not re.search(r"<[^>]*hx-get", body)
    assert "&lt;script&gt;" in body
    assert audit_actions() == ["edit-page"]
    # An empty text brings the default back.
    admin_client.post("/admin/pages/rules", data={"source": ""})
    assert "Post only work you made yourself" in admin_client.get("/rules").get_data(as_text=True)


def test_markdown_links_keep_safe_schemes_only(admin_client):
    source = "[a](javascript:alert(1)) [b](https://example.org) [c](mailto:x@example.org)"
    admin_client.post("/admin/pages/about", data={"source": source})
    html = admin_client.get("/about").get_data(as_text=True)
    assert 'href="javascript' not in html
    assert 'href="https://example.org"' in html and 'href="mailto:x@example.org"' in html


def test_an_oversized_page_is_refused_and_the_old_text_kept(admin_client):
    admin_client.post("/admin/pages/terms", data={"source": "# Short terms"})
    response = admin_client.post("/admin/pages/terms", data={"source": "x" * 50_001})
    assert response.status_code == 422
    assert "Short terms" in admin_client.get("/terms").get_data(as_text=True)


def test_the_hold_threshold_reaches_the_filter(admin_client):
    assert screening.thresholds(None).classifier_hold == 0.9
    data = {"hold_threshold": "0.75", "crawlers": ""}
    assert admin_client.post("/admin/filter", data=data).status_code == 303
    assert screening.thresholds(None).classifier_hold == 0.75
    admin_client.post("/admin/filter", data={"hold_threshold": "", "crawlers": ""})
    assert screening.thresholds(None).classifier_hold == 0.9
    assert audit_actions() == ["filter-settings", "filter-settings"]


@pytest.mark.parametrize("value", ["0", "1.5", "nan", "high", "-0.2"])
def test_a_bad_hold_threshold_is_refused(admin_client, value):
    response = admin_client.post("/admin/filter", data={"hold_threshold": value, "crawlers": ""})
    assert response.status_code == 422
    assert screening.thresholds(None).classifier_hold == 0.9


def test_extra_crawlers_are_written_to_the_instance_list_and_enforced(app, admin_client):
    data = {"hold_threshold": "", "crawlers": "NewTrainerBot  # seen 2026-11\nOtherScraper"}
    assert admin_client.post("/admin/filter", data=data).status_code == 303
    assert "NewTrainerBot" in optout.crawler_tokens()
    assert "User-agent: OtherScraper" in admin_client.get("/robots.txt").get_data(as_text=True)
    bot = app.test_client().get("/latest", headers={"User-Agent": "Mozilla/5.0 NewTrainerBot/1"})
    assert bot.status_code == 403
    assert "crawler-list" in audit_actions()
    bad = admin_client.post("/admin/filter", data={"hold_threshold": "", "crawlers": "Bad<Bot>"})
    assert bad.status_code == 422
    assert "NewTrainerBot" in optout.crawler_tokens()  # the old list is kept


def test_invites_are_made_listed_and_withdrawn(admin_client):
    response = admin_client.post("/admin/invites", data={"days": "7", "max_uses": "3"})
    assert response.status_code == 201
    invite = db.session.scalar(select(Invite))
    assert f"http://cara.test/signup?invite={invite.code}" in response.get_data(as_text=True)
    assert invite.max_uses == 3
    admin_client.post(f"/admin/invites/{invite.id}/revoke")
    db.session.refresh(invite)
    assert invite.revoked
    assert audit_actions() == ["create-invite", "revoke-invite"]


@pytest.mark.parametrize("days", ["0", "366", "two", ""])
def test_bad_invites_are_refused(admin_client, days):
    response = admin_client.post("/admin/invites", data={"days": days, "max_uses": "1"})
    assert response.status_code == 422
    assert db.session.scalar(select(Invite)) is None


def test_roles_change_and_the_last_admin_stays(admin_client, make_user):
    make_user("mia")
    response = admin_client.post(
        "/admin/accounts/role", data={"username": "mia", "role": "moderator"}
    )
    assert response.status_code == 303
    assert db.session.scalar(select(User).where(User.username == "mia")).role == Role.MODERATOR
    last = admin_client.post("/admin/accounts/role", data={"username": "ada", "role": "member"})
    assert last.status_code == 422 and "last admin" in last.get_data(as_text=True)
    admin_client.post("/admin/accounts/role", data={"username": "mia", "role": "admin"})
    step_down = admin_client.post(
        "/admin/accounts/role", data={"username": "ada", "role": "member"}
    )
    assert step_down.status_code == 303
    assert audit_actions() == ["set-role", "set-role", "set-role"]
    assert admin_client.get("/admin/").status_code == 404  # ada is a member now


def test_an_unknown_username_is_a_form_error(admin_client):
    response = admin_client.post("/admin/accounts/role", data={"username": "zed", "role": "admin"})
    assert response.status_code == 422 and "No account" in response.get_data(as_text=True)


def test_waiting_accounts_are_approved_or_refused(admin_client, make_user, smtp):
    wes, wyn = (make_user(name, approved=False).id for name in ("wes", "wyn"))
    page = admin_client.get("/admin/accounts").get_data(as_text=True)
    assert "wes" in page and "wyn" in page
    admin_client.post(f"/admin/accounts/{wes}/approve")
    admin_client.post(f"/admin/accounts/{wyn}/reject")
    assert db.session.get(User, wes).approved
    assert db.session.get(User, wyn).deleted_at is not None  # purged; the name stays taken
    assert "No one is waiting" in admin_client.get("/admin/accounts").get_data(as_text=True)
    assert "approved" in smtp.to("wes@example.com")[0]["Subject"]
    assert audit_actions() == ["approve-account", "reject-account"]


# --- federation: the switch and the server blocks ------------------------------------------


def test_an_admin_turns_federation_on_and_off_from_the_page(app, admin_client):
    from cara.federation import documents

    with app.test_request_context():
        resource = f"acct:ada@{documents.domain()}"
    finger = f"/.well-known/webfinger?resource={resource}"
    assert admin_client.get(finger).status_code == 404
    assert "Federation is off" in admin_client.get("/admin/federation").get_data(as_text=True)
    response = admin_client.post("/admin/federation", data={"on": "1"})
    assert response.status_code == 303
    assert admin_client.get(finger).status_code == 200
    assert "Federation is on" in admin_client.get("/admin/federation").get_data(as_text=True)
    admin_client.post("/admin/federation", data={"on": "1"})  # no change: not audited again
    admin_client.post("/admin/federation", data={"on": "0"})
    assert admin_client.get(finger).status_code == 404
    assert audit_actions() == ["federation-on", "federation-off"]


def test_the_switch_needs_a_choice(admin_client):
    response = admin_client.post("/admin/federation", data={})
    assert response.status_code == 400
    assert audit_actions() == []


def _two_servers(admin_client) -> str:
    """People of far.example and near.example known here; the admin's page listing both."""
    from tests.factories import remote_actor

    remote_actor("lee", "far.example")
    remote_actor("kim", "near.example")
    db.session.commit()
    page = admin_client.get("/admin/federation").get_data(as_text=True)
    assert "far.example" in page and "near.example" in page
    return page


def test_a_server_blocked_from_the_page_loses_its_people_here_and_is_audited(admin_client):
    from cara.core.models import Instance, RemoteActor

    _two_servers(admin_client)
    response = admin_client.post(
        "/admin/federation/blocks", data={"domain": " https://Far.Example/@lee ", "reason": "spam"}
    )
    assert response.status_code == 303
    assert db.session.get(Instance, "far.example").blocked
    assert [a.domain for a in db.session.scalars(select(RemoteActor))] == ["near.example"]
    page = admin_client.get("/admin/federation").get_data(as_text=True)
    assert "<strong>Blocked</strong>: spam" in page
    response = admin_client.post("/admin/federation/unblock", data={"domain": "far.example"})
    assert response.status_code == 303
    assert not db.session.get(Instance, "far.example").blocked
    assert audit_actions() == ["block-instance", "unblock-instance"]


def test_a_server_limited_from_the_page_keeps_its_people_and_is_audited(admin_client):
    from cara.core.models import Instance, RemoteActor

    page = _two_servers(admin_client)
    assert 'action="/admin/federation/limits"' in page and 'name="limit-domain"' in page
    form = {"limit-domain": "https://Far.Example/@lee", "limit-reason": "spam waves"}
    assert admin_client.post("/admin/federation/limits", data=form).status_code == 303
    assert db.session.get(Instance, "far.example").limited
    assert db.session.scalars(select(RemoteActor)).all()  # nothing removed
    page = admin_client.get("/admin/federation").get_data(as_text=True)
    assert "<strong>Limited</strong>: spam waves" in page and "Lift limit" in page
    # The servers table's button limits a known server in one click.
    assert admin_client.post("/admin/federation/limits", data={"limit-domain": "near.example"})
    assert db.session.get(Instance, "near.example").limited
    response = admin_client.post("/admin/federation/unlimit", data={"domain": "far.example"})
    assert response.status_code == 303
    assert not db.session.get(Instance, "far.example").limited
    assert audit_actions() == ["limit-instance", "limit-instance", "unlimit-instance"]
    refused = admin_client.post("/admin/federation/limits", data={"limit-domain": "art..example"})
    assert refused.status_code == 422 and "such as art.example" in refused.get_data(as_text=True)


@pytest.mark.parametrize(
    "domain", ["not a server", "ftp://art.example", "art..example", "art.example:99999", "@"]
)
def test_an_address_that_names_no_server_is_refused(admin_client, domain):
    from cara.core.models import Instance

    response = admin_client.post("/admin/federation/blocks", data={"domain": domain})
    assert response.status_code == 422
    assert "such as art.example" in response.get_data(as_text=True)
    assert db.session.scalars(select(Instance)).all() == []
    assert audit_actions() == []


@pytest.mark.parametrize(
    ("text", "domain"),
    [
        ("art.example", "art.example"),
        ("ART.example:8443", "art.example:8443"),
        ("https://art.example/@mira", "art.example"),
        ("http://127.0.0.1:5001", "127.0.0.1:5001"),
        ("art example", None),
        ("mailto:x@art.example", None),
        ("https://user:pw@art.example", None),
        ("", None),
    ],
)
def test_parse_domain(text, domain):
    from cara.federation import instances

    assert instances.parse_domain(text) == domain
