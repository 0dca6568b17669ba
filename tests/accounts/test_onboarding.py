"""The welcome after sign-up: where logging in leads, the profile step (Settings' own rules),
the suggested artists, following from the list with and without htmx, Done and Skip."""

import io
from datetime import timedelta

from sqlalchemy import select

from cara.accounts import onboarding
from cara.core.extensions import db
from cara.core.models import Block, Follow, Media, Mute, User, utcnow
from tests.factories import GOOD, hx, image_bytes, login, person


def signed_up(client, smtp, username="newt"):
    """An account made through the sign-up form, its address confirmed by the mailed link."""
    data = {"username": username, "email": f"{username}@example.com", "password": GOOD}
    assert client.post("/signup", data=data).status_code == 303
    link = smtp.link(f"{username}@example.com", "/verify/")
    return link.removeprefix("http://cara.test")


def user(username: str) -> User:
    return db.session.scalar(select(User).where(User.username == username))


def follow(a: User, b: User, pending=False) -> None:
    db.session.add(Follow(follower_id=a.id, followee_id=b.id, pending=pending))
    db.session.commit()


def test_a_new_account_lands_on_the_welcome_once_its_address_is_confirmed(app, client, smtp):
    verify = signed_up(client, smtp)
    # Not confirmed yet: the account cannot follow anyone, so no welcome.
    assert login(client, "newt").headers["Location"] == "/"
    assert client.get("/welcome").headers["Location"] == "/"
    # Confirming while logged in leads to it; so does logging in later.
    assert client.get(verify).headers["Location"] == "/welcome"
    client.post("/logout")
    assert login(client, "newt").headers["Location"] == "/welcome"
    page = client.get("/welcome").get_data(as_text=True)
    assert "Set up your profile" in page and 'name="display_name"' in page


def test_accounts_made_before_the_welcome_or_by_the_cli_never_see_it(client, make_user):
    make_user("ana")
    assert login(client, "ana").headers["Location"] == "/"
    assert client.get("/welcome").headers["Location"] == "/"
    assert client.get("/welcome/artists").headers["Location"] == "/"


def test_the_profile_step_uses_the_settings_rules_and_processes_the_avatar(app, client, smtp):
    client.get(signed_up(client, smtp))
    login(client, "newt")
    bad = client.post("/welcome", data={"display_name": "Newt", "links": "ftp://x"})
    assert bad.status_code == 422
    assert "is not a web address" in bad.get_data(as_text=True)
    assert user("newt").display_name == "newt"  # nothing saved
    data = {
        "display_name": "Newt Ink",
        "bio": "Inks and washes.",
        "links": "https://newt.example",
        "open_to_work": "y",
        "avatar": (io.BytesIO(image_bytes(size=(200, 200))), "me.png"),
    }
    saved = client.post("/welcome", data=data, content_type="multipart/form-data")
    assert saved.headers["Location"] == "/welcome/artists"
    newt = user("newt")
    assert (newt.display_name, newt.bio, newt.links) == (
        "Newt Ink",
        "Inks and washes.",
        ["https://newt.example"],
    )
    assert newt.open_to_work and newt.welcome_pending  # the second step is still to come
    avatar = db.session.get(Media, newt.avatar_media_id)
    assert avatar.renditions and any(r.get("sq") for r in avatar.renditions)


def test_suggestions_are_the_most_followed_recently_active_artists_others_left_out(app, make_post):
    me = person("newt", welcome_pending=True)
    popular, quiet, idle = person("popular"), person("quiet"), person("idle")
    fans = [person(f"fan{i}") for i in range(3)]
    for fan in fans:
        follow(fan, popular)
    follow(fans[0], quiet)
    for artist in (popular, quiet):
        make_post(artist, images=1)
    make_post(idle, images=1, age=timedelta(days=40))  # not active in the last 30 days
    # Each of these posted today, but must not be suggested.
    blocker, blocked, muted, followed, asked = (
        person(n) for n in ("blocker", "blocked", "muted", "followed", "asked")
    )
    suspended = person("suspended", suspended_at=utcnow())
    deleted = person("deleted", deleted_at=utcnow())
    for artist in (blocker, blocked, muted, followed, asked, suspended, deleted, me):
        make_post(artist, images=1)
    db.session.add_all(
        [
            Block(blocker_id=blocker.id, blocked_id=me.id),
            Block(blocker_id=me.id, blocked_id=blocked.id),
            Mute(muter_id=me.id, muted_id=muted.id),
        ]
    )
    db.session.commit()
    follow(me, followed)
    follow(me, asked, pending=True)
    shown = onboarding.suggestions(me)
    assert [s.user.username for s in shown] == ["popular", "quiet"]
    assert [s.followers for s in shown] == [3, 1]
    assert all(s.cover is not None for s in shown)  # their newest post's first image
    # Followed from the list itself: kept, marked as followed.
    follow(me, quiet)
    kept = onboarding.suggestions(me, keep=[quiet.id])
    assert [(s.user.username, s.following) for s in kept] == [("popular", False), ("quiet", True)]


def test_following_from_the_list_with_and_without_htmx_then_done(app, client, make_post):
    person("newt", welcome_pending=True)
    for name in ("mira", "ola"):
        make_post(person(name), images=1)
    login(client, "newt")
    page = client.get("/welcome/artists").get_data(as_text=True)
    assert 'id="suggest-mira"' in page and 'action="/welcome/artists/mira/follow"' in page
    # Without JavaScript: back to the list, where Mira stays, followed.
    plain = client.post("/welcome/artists/mira/follow")
    assert plain.headers["Location"] == "/welcome/artists#suggest-mira"
    page = client.get("/welcome/artists").get_data(as_text=True)
    assert 'action="/welcome/artists/mira/unfollow"' in page and "Following" in page
    # With htmx: only the item comes back, to be swapped in place.
    swapped = client.post("/welcome/artists/ola/follow", headers=hx("suggest-ola"))
    html = swapped.get_data(as_text=True)
    assert swapped.status_code == 200 and html.lstrip().startswith('<li class="suggestion"')
    assert 'action="/welcome/artists/ola/unfollow"' in html and "<html" not in html
    newt = user("newt")
    assert {u.username for u in (user("mira"), user("ola")) if newt.follows(u)} == {"mira", "ola"}
    # Unfollowing from the list works too.
    client.post("/welcome/artists/ola/unfollow", headers=hx("suggest-ola"))
    assert not user("newt").follows(user("ola"))
    done = client.post("/welcome/finish", data={"choice": "done"})
    assert done.headers["Location"] == "/following"
    assert not user("newt").welcome_pending
    assert client.get("/welcome").headers["Location"] == "/"  # shown once
    client.post("/logout")
    assert login(client, "newt").headers["Location"] == "/"


def test_skip_ends_the_welcome_on_latest(client):
    person("newt", welcome_pending=True)
    login(client, "newt")
    assert client.get("/welcome").status_code == 200
    skipped = client.post("/welcome/finish", data={"choice": "skip"})
    assert skipped.headers["Location"] == "/latest"
    assert not user("newt").welcome_pending
    assert client.get("/welcome/artists").headers["Location"] == "/"


def test_an_empty_instance_says_so_and_offers_latest(client):
    person("newt", welcome_pending=True)
    login(client, "newt")
    page = client.get("/welcome/artists").get_data(as_text=True)
    assert 'id="no-suggestions"' in page and 'href="/latest"' in page
    assert 'class="suggestions"' not in page


def test_one_cannot_follow_oneself_or_a_blocker_from_the_list(client, make_post):
    newt = person("newt", welcome_pending=True)
    blocker = person("blocker")
    db.session.add(Block(blocker_id=blocker.id, blocked_id=newt.id))
    db.session.commit()
    login(client, "newt")
    assert client.post("/welcome/artists/newt/follow").status_code == 400
    assert client.post("/welcome/artists/blocker/follow").status_code == 404
