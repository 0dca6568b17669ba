"""The expected outcome of every route of `app.url_map` for every role and subject state.

tests/web/test_authorization_matrix.py walks ROUTES: each (rule, method) of the app is
requested as each role, once per subject state, and its status (and, for lists, which states'
markers the page shows) is compared with what this table says. A rule of the app without an
entry here fails the test, so a new route must be classified (docs/moderation.md says how).

Roles are viewers; states are what the subject of the URL is in. "owner" is the subject's own
author, so it is a different account per state (the private account's, the deleted one's...).
A suspended or deleted account has no session: its requests are logged out ones.
"""

from dataclasses import dataclass, field, replace

ROLES = ("anon", "mem", "own", "fol", "pend", "blkd", "mod", "adm", "susp")
ROLE_NAMES = {
    "anon": "anonymous",
    "mem": "member (no relation)",
    "own": "owner (the subject's author)",
    "fol": "follower of the author",
    "pend": "pending follower",
    "blkd": "blocked by the author",
    "mod": "moderator",
    "adm": "admin",
    "susp": "suspended member",
}
STATES = (
    "public",
    "followers",
    "private",
    "draft",
    "processing",
    "held",
    "rejected",
    "removed",
    "deleted",
    "suspended",
)
# Which subjects exist in which states (a job has no draft; an account is public, private,
# deleted or suspended). Other states of a rule of that subject are "not applicable".
ACCOUNT_STATES = ("public", "private", "deleted", "suspended")
SUBJECT_STATES = {
    None: STATES,
    "post": STATES,
    "media": STATES,
    "comment": STATES,
    "report": STATES,
    "job": ("public", "private", "removed", "deleted", "suspended"),
    "user": ACCOUNT_STATES,
    "export": ACCOUNT_STATES,
    "session": ACCOUNT_STATES,
    # A post of a remote actor (federation): public, or to its followers only.
    "remote": ("public", "followers"),
    # A public reply from a remote actor on the post of that state.
    "remote_comment": STATES,
}


def _cell(text: str) -> bool | int:
    return int(text) if text.isdigit() else text == "y"


def grid(text: str) -> dict[str, dict[str, bool | int]]:
    """`state  y . 403 ...` rows (one column per role, in ROLES order) -> {state: {role: cell}}:
    y allowed, . refused (a 404, or false for a list), a number: that status."""
    rows = {}
    for line in text.strip().splitlines()[1:]:
        state, *cells = line.split()
        assert len(cells) == len(ROLES), line
        rows[state] = {role: _cell(c) for role, c in zip(ROLES, cells, strict=True)}
    return rows


# Who may open a post in each state, and its images (y: allowed, .: refused, a 404).
POST = grid("""
state       anon mem own fol pend blkd mod adm susp
public      y    y   y   y   y    .    y   y   y
followers   .    .   y   y   .    .    y   y   .
private     .    .   y   y   .    .    y   y   .
draft       .    .   y   .   .    .    .   .   .
processing  .    .   y   .   .    .    .   .   .
held        .    .   y   .   .    .    y   y   .
rejected    .    .   y   .   .    .    y   y   .
removed     .    .   y   .   .    .    y   y   .
deleted     .    .   .   .   .    .    .   .   .
suspended   .    .   .   .   .    .    y   y   .
""")

# Who may like, bookmark and comment: the post is published and seen, the viewer may act,
# and its artist is not suspended.
INTERACT = grid("""
state       anon mem own fol pend blkd mod adm susp
public      .    y   y   y   y    .    y   y   .
followers   .    .   y   y   .    .    y   y   .
private     .    .   y   y   .    .    y   y   .
draft       .    .   .   .   .    .    .   .   .
processing  .    .   .   .   .    .    .   .   .
held        .    .   .   .   .    .    .   .   .
rejected    .    .   .   .   .    .    .   .   .
removed     .    .   .   .   .    .    .   .   .
deleted     .    .   .   .   .    .    .   .   .
suspended   .    .   .   .   .    .    .   .   .
""")

# A comment (by a third person) on the post of that state; "removed": removed by a moderator,
# seen by its writer and moderators only (not by the artist whose post it is on).
COMMENT = {**POST, "removed": {**POST["removed"], "own": False}}
# A public reply from elsewhere on the post of that state; "removed": removed by a moderator,
# seen by nobody (its writer is not here).
REMOTE_COMMENT = {**POST, "removed": {r: False for r in ROLES}}

# What feeds, tag pages and search list: published posts of the viewer's audience, for
# moderators too (they open held posts from the queue, they do not browse them).
LISTED = grid("""
state       anon mem own fol pend blkd mod adm susp
public      y    y   y   y   y    .    y   y   y
followers   .    .   y   y   .    .    .   .   .
private     .    .   y   y   .    .    .   .   .
draft       .    .   .   .   .    .    .   .   .
processing  .    .   .   .   .    .    .   .   .
held        .    .   .   .   .    .    .   .   .
rejected    .    .   .   .   .    .    .   .   .
removed     .    .   .   .   .    .    .   .   .
deleted     .    .   .   .   .    .    .   .   .
suspended   .    .   .   .   .    .    .   .   .
""")

# Atom feeds are documents for anyone: what a logged-out visitor sees, whoever fetches them.
ATOM = {state: dict.fromkeys(ROLES, LISTED[state]["anon"]) for state in STATES}

# An artist's timeline (/@name/posts): their published posts as the viewer may see them; the
# artist sees all their own, moderators every audience and a suspended account's.
TIMELINE = grid("""
state       anon mem own fol pend blkd mod adm susp
public      y    y   y   y   y    .    y   y   y
followers   .    .   y   y   .    .    y   y   .
private     .    .   y   y   .    .    y   y   .
draft       .    .   .   .   .    .    .   .   .
processing  .    .   .   .   .    .    .   .   .
held        .    .   .   .   .    .    .   .   .
rejected    .    .   .   .   .    .    .   .   .
removed     .    .   y   .   .    .    .   .   .
deleted     .    .   .   .   .    .    .   .   .
suspended   .    .   .   .   .    .    y   y   .
""")

# Who may open an account's pages (a private account's profile is seen; its posts are not).
ACCOUNT = grid("""
state       anon mem own fol pend blkd mod adm susp
public      y    y   y   y   y    .    y   y   y
private     y    y   y   y   y    .    y   y   y
deleted     .    .   .   .   .    .    .   .   .
suspended   y    y   y   y   y    .    y   y   y
""")

# A job opening by the author of that state.
JOB = grid("""
state       anon mem own fol pend blkd mod adm susp
public      y    y   y   y   y    .    y   y   y
private     y    y   y   y   y    .    y   y   y
removed     .    .   y   .   .    .    y   y   .
deleted     .    .   .   .   .    .    .   .   .
suspended   .    .   .   .   .    .    y   y   .
""")

# Only the account itself (its export archive, its sessions).
SELF = {state: {role: role == "own" for role in ROLES} for state in ACCOUNT_STATES}
SELF["deleted"] = SELF["suspended"] = dict.fromkeys(ROLES, False)  # no session any more

# A private account's follower lists: its approved followers, itself and moderators (the
# others are told why: a 403).
LISTS = {
    **ACCOUNT,
    "private": {**ACCOUNT["private"], **dict.fromkeys(("anon", "mem", "pend", "susp"), 403)},
}


def signed_in(role: str, state: str) -> bool:
    """Whether the role's request carries a live session (the owner of a deleted or suspended
    account is logged out by it)."""
    if role in ("anon", "susp"):
        return False
    return not (role == "own" and state in ("deleted", "suspended"))


# The owner's "Drafts & review" tab: the artist alone (anyone else who sees the account: 403).
DRAFTS = {
    state: {
        role: (role == "own" and signed_in(role, state)) or 403 if cell is True else cell
        for role, cell in cells.items()
    }
    for state, cells in ACCOUNT.items()
}

# Federation documents are for anyone (a server fetches them logged out): a post's Note is
# served when a logged-out visitor may see the post; an actor (and its collections) while the
# account is neither deleted nor suspended, private ones included (they approve followers).
# What was served and is gone (a deleted account's public post, its actor) answers 410 with
# a Tombstone; its collections are simply not found.
GONE = dict.fromkeys(ROLES, 410)
NOTE = {state: dict.fromkeys(ROLES, POST[state]["anon"]) for state in STATES} | {"deleted": GONE}
ACTOR = {state: dict.fromkeys(ROLES, state in ("public", "private")) for state in ACCOUNT_STATES}
# A remote post, for the signed-in people here: public ones to all, followers-only ones to
# those who follow its author (fol; pend waits). Logged-out visitors are sent to log in.
REMOTE = grid("""
state       anon mem own fol pend blkd mod adm susp
public      y    y   y   y   y    y    y   y   y
followers   .    .   .   y   .    .    .   .   .
""")
# Liking or replying to a remote post (sent to its server): who sees it, if able to act.
REMOTE_ACT = grid("""
state       anon mem own fol pend blkd mod adm susp
public      y    y   y   y   y    y    y   y   403
followers   .    .   .   y   .    .    .   .   .
""")
# Reposting one: public posts only.
REMOTE_REPOST = grid("""
state       anon mem own fol pend blkd mod adm susp
public      y    y   y   y   y    y    y   y   403
followers   .    .   .   403 .    .    .   .   .
""")
# The artist's reply to each remote post: its id serves its Note to anyone when the post is
# public; only its writer edits or deletes it.
SENT_PUBLIC = {"public": dict.fromkeys(ROLES, True), "followers": dict.fromkeys(ROLES, False)}
SENT_BY = {state: {role: role == "own" for role in ROLES} for state in REMOTE}
PAINTER = {"username": "painter", "domain": "127.0.0.1:9"}  # the world's remote actor
# What /federation lists: the posts of the remote actors one follows.
REMOTE_LISTED = {state: {r: r == "fol" for r in ROLES} for state in REMOTE}


# --- the outcome rules ----------------------------------------------------------------------

LOGIN = 302  # login_required: to /login?next=...
HIDDEN = 404  # not found, or not advertised (the moderation and admin areas)
NEEDS_LOGIN = {"login", "login_see", "owner", "change", "interact"}


@dataclass(frozen=True)
class Rule:
    """How a route answers: `kind` names the rule, `ok` the status when allowed.

    `grid` says who sees the subject (y: allowed, .: 404, a number: that status); `acts` who may
    act on it (interact, change: seen but not allowed is a 403); `lists`, for a page listing
    subjects, in which cells the page shows the subject's marker word `word` + state.
    `overrides` change the status of allowed cells only ({(role or "*", state or "*"): status}:
    a 400 for doing it to yourself, a 409 for a state the action does not apply to).
    """

    kind: str
    ok: int = 200
    grid: dict | None = None
    acts: dict | None = None
    lists: dict | None = None
    word: str = "mark"
    private_cache: bool = False  # when allowed: Cache-Control private, no-store
    media_cache: bool = False  # when allowed: a public cache only for public images
    overrides: dict = field(default_factory=dict)

    def expect(self, role: str, state: str) -> int:
        if self.kind in NEEDS_LOGIN and not signed_in(role, state):
            return LOGIN
        status = KINDS[self.kind](self, role, state)
        if status != self.ok:
            return status
        for key in ((role, state), ("*", state), (role, "*")):
            if key in self.overrides:
                return self.overrides[key]
        return status


def _seen(rule, role, state) -> int:
    cell = rule.grid[state][role]
    return rule.ok if cell is True else HIDDEN if cell is False else cell


def _open(rule, role, state):
    return rule.ok


def _anonymous(rule, role, state):
    """Pages for logged-out visitors (log in, sign up): a signed-in one is sent on (302)."""
    return LOGIN if signed_in(role, state) else rule.ok


def _moderators(rule, role, state):
    return rule.ok if role in ("mod", "adm") else HIDDEN


def _admins(rule, role, state):
    return rule.ok if role == "adm" else HIDDEN


def _acting(rule, role, state):
    """Seen and allowed to act; seen but not allowed: 403."""
    seen = _seen(rule, role, state)
    if seen != rule.ok:
        return seen
    return rule.ok if rule.acts[state][role] else 403


KINDS = {
    "open": _open,
    "login": _open,
    "see": _seen,
    "login_see": _seen,
    "owner": lambda rule, role, state: _seen(rule, role, state) if role == "own" else HIDDEN,
    "change": _acting,
    "interact": _acting,
    "anonymous": _anonymous,
    "moderators": _moderators,
    "admins": _admins,
    "off": lambda rule, role, state: HIDDEN,
}


@dataclass(frozen=True)
class Route:
    """One request of the matrix: the subject its URL arguments come from, fixed arguments,
    the form, headers and query it is sent with, and the rule of its answer."""

    rule: Rule
    subject: str | None = None
    args: dict = field(default_factory=dict)
    query: dict = field(default_factory=dict)
    form: dict = field(default_factory=dict)
    headers: dict = field(default_factory=dict)
    variant: str = ""  # what this request of a rule is, when a rule has several
    federation: bool = False  # sent with federation on (the test app has it off)


def open_(ok=200, **kw):
    return Rule("open", ok, **kw)


def login(ok=200, **kw):
    return Rule("login", ok, **kw)


def see(grid_, ok=200, **kw):
    return Rule("see", ok, grid=grid_, **kw)


def login_see(grid_, ok=200, **kw):
    return Rule("login_see", ok, grid=grid_, **kw)


def owner(grid_, ok=303, **kw):
    """The author's own: everyone else gets a 404, whether they see the subject or not."""
    return Rule("owner", ok, grid=grid_, **kw)


def change(grid_, acts, ok=303, **kw):
    return Rule("change", ok, grid=grid_, acts=acts, **kw)


def interact(acts=INTERACT, ok=303, **kw):
    return Rule("interact", ok, grid=POST, acts=acts, **kw)


def anonymous(ok=200, **kw):
    return Rule("anonymous", ok, **kw)


def moderators(ok=200, **kw):
    return Rule("moderators", ok, **kw)


def admins(ok=200, **kw):
    return Rule("admins", ok, **kw)


def off() -> Rule:
    """A federation route while federation is off (the default): 404 for everyone."""
    return Rule("off", HIDDEN)


def federated(*routes: Route) -> list[Route]:
    """A federation route: 404 for all with federation off; `routes` are sent with it on."""
    on = [replace(r, federation=True, variant=r.variant or "on") for r in routes]
    return [replace(routes[0], rule=off(), variant="off"), *on]


AP_ACCEPT = {"Accept": "application/activity+json"}


def hx(target: str) -> dict:
    return {"HX-Request": "true", "HX-Target": target}


NO_ONE = {state: dict.fromkeys(ROLES, False) for state in STATES}


def _only(grid_: dict, *roles: str) -> dict:
    return {state: {r: v and r in roles for r, v in row.items()} for state, row in grid_.items()}


def _account(state: str) -> str:
    return state if state in ACCOUNT_STATES else "public"


# The account of a post's author, for pages about the post's author reached from a post.
AUTHOR = {state: ACCOUNT[_account(state)] for state in STATES}
# An account's Atom feed exists when the account is public and not deleted.
ATOM_FEED = {
    state: dict.fromkeys(ROLES, _account(state) in ("public", "suspended")) for state in STATES
}
# The actor of a post's author (an outbox reached from a post).
ACTOR_OF_POST = {state: ACTOR[_account(state)] for state in STATES}
ACTOR_DOC = {**ACTOR_OF_POST, "deleted": GONE}  # the actor itself, gone with its account
OWN_OR_MODS = _only(POST, "own", "mod", "adm")  # deleting a comment: the post's artist, mods
# Reposting: public posts of public accounts, not one's own (the artist is refused, a 403).
REPOST = {**NO_ONE, "public": {**INTERACT["public"], "own": False}}
FOLLOWING = _only(LISTED, "own", "fol")  # the Following feed: whom one follows, and oneself
LATEST = {**NO_ONE, "public": LISTED["public"]}  # public posts only
HOME = {s: {**LATEST[s], "fol": LISTED[s]["fol"]} for s in STATES}  # Following when one follows
PORTFOLIO = {**POST, "draft": NO_ONE["draft"]}  # what the viewer may open of it
COMMENTS = {  # comments are shown under published posts only
    s: COMMENT[s] if s in ("public", "followers", "private", "suspended") else NO_ONE[s]
    for s in STATES
}
JOBS = {**JOB, "removed": NO_ONE["removed"], "suspended": NO_ONE["suspended"]}  # the board
OWNS_JOB = _only(JOB, "own")
FOLLOW_REFUSALS = {("own", "*"): 400, ("*", "suspended"): 403}  # oneself; a suspended account
# An account may be reported across a block (by the person it blocks), not once deleted.
REPORTABLE = {
    **ACCOUNT,
    **{s: {**ACCOUNT[s], "blkd": True} for s in ("public", "private", "suspended")},
}

REASON = {"reason": "Breaks the rules: spam."}
# Deciding on a post not waiting for (or refused by) review: 409.
NOT_UNDER_REVIEW = {("*", s): 409 for s in ("draft", "processing", "removed")}

# Every rule of the app, by "METHOD rule": its Rule (no subject), a Route, or a list of Routes.
ROUTES: dict[str, Rule | Route | list[Route]] = {
    # --- feeds, tags, search: lists of posts --------------------------------------------------
    "GET /": open_(lists=HOME),
    "GET /latest": [
        Route(open_(lists=LATEST)),
        Route(open_(lists=LATEST), headers=hx("feed-more"), variant="htmx"),
    ],
    "GET /following": login(lists=FOLLOWING),
    "GET /trending": open_(),
    "GET /tags/<tag>": Route(open_(lists=LISTED), args={"tag": "matrix"}),
    "GET /tags/<tag>/feed.atom": Route(open_(lists=ATOM), args={"tag": "matrix"}),
    "GET /search": [
        Route(open_(lists=LISTED), query={"q": "study"}, variant="captions"),
        Route(open_(lists=LISTED, word="matrix"), query={"q": "matrix"}, variant="tags"),
    ],
    "GET /bookmarks": login(),
    # --- posts ------------------------------------------------------------------------------
    "GET /posts/<int:post_id>": [
        Route(see(POST), "post"),
        Route(see(POST), "post", headers=hx("post-{post_id}-status"), variant="htmx status"),
    ],
    "GET /posts/<int:post_id>/images/<int:n>": Route(see(POST), "post", args={"n": 1}),
    "GET /media/<int:media_id>/<name>": Route(see(POST, media_cache=True), "media"),
    "GET /posts/new": login(),
    "POST /posts/new": login(422),
    "GET /posts/<int:post_id>/edit": Route(owner(POST, 200), "post"),
    "POST /posts/<int:post_id>/edit": Route(owner(POST, 422), "post"),  # an empty form
    "POST /posts/<int:post_id>/images": Route(
        owner(POST, 409, overrides={("own", "draft"): 303}), "post"
    ),
    "POST /posts/<int:post_id>/images/<int:media_id>/remove": Route(
        owner(POST, 404, overrides={("own", "draft"): 303}), "post"
    ),
    "POST /posts/<int:post_id>/delete": Route(owner(POST), "post"),
    "POST /posts/<int:post_id>/retry": Route(owner(POST), "post"),
    "POST /posts/<int:post_id>/pin": Route(owner(POST), "post"),
    "POST /posts/<int:post_id>/unpin": Route(owner(POST), "post"),
    "POST /posts/<int:post_id>/move": Route(owner(POST), "post", form={"direction": "earlier"}),
    "GET /posts/<int:post_id>/appeal": Route(owner(POST, 200), "post"),
    "POST /posts/<int:post_id>/appeal": Route(owner(POST, 422), "post"),
    # --- social actions on posts -----------------------------------------------------------
    "POST /posts/<int:post_id>/like": [
        Route(interact(), "post"),
        Route(interact(ok=200), "post", headers=hx("post-{post_id}-actions"), variant="htmx"),
    ],
    "POST /posts/<int:post_id>/unlike": Route(interact(), "post"),
    "POST /posts/<int:post_id>/bookmark": Route(interact(), "post"),
    "POST /posts/<int:post_id>/unbookmark": Route(interact(), "post"),
    "POST /posts/<int:post_id>/repost": Route(interact(REPOST), "post"),
    "POST /posts/<int:post_id>/unrepost": Route(interact(), "post"),
    "GET /posts/<int:post_id>/likes": Route(see(POST), "post"),
    "GET /posts/<int:post_id>/reposts": Route(see(POST), "post"),
    "GET /posts/<int:post_id>/comments": [
        Route(see(POST, lists=COMMENTS, word="note"), "post"),
        Route(
            see(POST, lists=COMMENTS, word="note"),
            "post",
            headers=hx("post-{post_id}-comments"),
            variant="htmx",
        ),
    ],
    "POST /posts/<int:post_id>/comments": [
        Route(interact(), "post", form={"body": "Lovely."}),
        Route(
            interact(ok=200),
            "post",
            form={"body": "Lovely."},
            headers=hx("post-{post_id}-comments"),
            variant="htmx",
        ),
    ],
    "POST /comments/<int:comment_id>/delete": Route(change(COMMENT, OWN_OR_MODS), "comment"),
    # The artist hides a reply from elsewhere; a moderator removes it with a reason.
    "POST /remote-comments/<int:comment_id>/delete": Route(
        change(REMOTE_COMMENT, OWN_OR_MODS), "remote_comment", form=REASON
    ),
    # --- reports ----------------------------------------------------------------------------
    "GET /posts/<int:subject_id>/report": Route(login_see(POST), "post"),
    "POST /posts/<int:subject_id>/report": Route(login_see(POST, 422), "post"),
    "GET /comments/<int:subject_id>/report": Route(login_see(COMMENT), "comment"),
    "POST /comments/<int:subject_id>/report": Route(login_see(COMMENT, 422), "comment"),
    "GET /remote-comments/<int:subject_id>/report": Route(
        login_see(REMOTE_COMMENT), "remote_comment"
    ),
    "POST /remote-comments/<int:subject_id>/report": Route(
        login_see(REMOTE_COMMENT, 422), "remote_comment"
    ),
    "GET /jobs/<int:subject_id>/report": Route(login_see(JOB), "job"),
    "POST /jobs/<int:subject_id>/report": Route(login_see(JOB, 422), "job"),
    "GET /@<username>/report": Route(login_see(REPORTABLE), "user"),
    "POST /@<username>/report": Route(login_see(REPORTABLE, 422), "user"),
    "GET /report": Route(login(303), query={"username": "artist"}),
    # --- profiles and people ---------------------------------------------------------------
    "GET /@<username>": [
        Route(see(AUTHOR, lists=PORTFOLIO, word="alt"), "post"),
        # Asking for the actor: the page while federation is off, the Person once it is on.
        Route(see(AUTHOR), "post", headers=AP_ACCEPT, variant="actor, off"),
        Route(see(ACTOR_DOC), "post", headers=AP_ACCEPT, federation=True, variant="actor"),
    ],
    "GET /@<username>/posts": [
        Route(see(AUTHOR, lists=TIMELINE), "post"),
        Route(see(AUTHOR, lists=TIMELINE), "post", headers=hx("feed-more"), variant="htmx"),
    ],
    "GET /@<username>/feed.atom": Route(see(ATOM_FEED, lists=ATOM), "post"),
    "GET /@<username>/followers": Route(see(LISTS), "user"),
    "GET /@<username>/following": Route(see(LISTS), "user"),
    "GET /@<username>/drafts": Route(see(DRAFTS), "user"),
    "POST /@<username>/follow": [
        Route(login_see(ACCOUNT, ok, overrides=FOLLOW_REFUSALS), "user", headers=h, variant=v)
        for ok, h, v in ((303, {}, ""), (200, hx("profile-actions"), "htmx"))
    ],
    "POST /@<username>/unfollow": Route(
        login_see(ACCOUNT, 303, overrides={("own", "*"): 400}), "user"
    ),
    "POST /@<username>/mute": Route(login_see(ACCOUNT, 303, overrides={("own", "*"): 400}), "user"),
    "POST /@<username>/unmute": Route(login(303, overrides={("own", "*"): 400}), "user"),
    "POST /@<username>/block": Route(
        login_see(ACCOUNT, 303, overrides={("own", "*"): 400}), "user"
    ),
    "POST /@<username>/unblock": Route(login(303), "user"),  # undoing: always allowed
    "GET /blocks": login(),
    "GET /follow-requests": login(),
    "POST /follow-requests/<username>/<any(approve, deny):answer>": Route(
        login(303), args={"username": "pend", "answer": "deny"}
    ),
    # --- notifications ----------------------------------------------------------------------
    "GET /notifications": [
        Route(login(lists=POST), variant="captions"),
        Route(login(lists=COMMENT, word="note"), variant="comments"),
        Route(login(lists=COMMENT, word="note"), headers=hx("notifications"), variant="htmx"),
    ],
    "POST /notifications/read": login(303),
    # --- jobs -------------------------------------------------------------------------------
    "GET /jobs": open_(lists=JOBS),
    "GET /jobs/new": login(),
    "POST /jobs/new": login(422),
    "GET /jobs/<int:job_id>": Route(see(JOB), "job"),
    "GET /jobs/<int:job_id>/edit": Route(change(JOB, OWNS_JOB, 200), "job"),
    "POST /jobs/<int:job_id>/edit": Route(change(JOB, OWNS_JOB, 422), "job"),
    "POST /jobs/<int:job_id>/close": Route(change(JOB, OWNS_JOB), "job"),
    "POST /jobs/<int:job_id>/reopen": Route(change(JOB, OWNS_JOB), "job"),
    # --- accounts ---------------------------------------------------------------------------
    "GET /signup": anonymous(),
    "POST /signup": anonymous(422),
    "GET /verify/<token>": Route(open_(303), args={"token": "nope"}),
    "POST /verify/resend": login(303),
    "GET /login": anonymous(),
    "POST /login": anonymous(422),
    "GET /login/code": open_(303),  # without a password checked first: back to /login
    "POST /login/code": open_(303),
    "POST /logout": login(303),
    "POST /logout/everywhere": login(303),
    "GET /password/reset": open_(),
    "POST /password/reset": open_(422),
    "GET /password/reset/<token>": Route(open_(303), args={"token": "nope"}),
    "POST /password/reset/<token>": Route(open_(303), args={"token": "nope"}),
    # The welcome after sign-up: these accounts have had theirs, so its pages send them home
    # (tests/accounts/test_onboarding.py covers a new account).
    "GET /welcome": login(303),
    "POST /welcome": login(303),
    "GET /welcome/artists": login(303),
    "POST /welcome/artists/<username>/follow": Route(
        login_see(ACCOUNT, 303, overrides=FOLLOW_REFUSALS), "user"
    ),
    "POST /welcome/artists/<username>/unfollow": Route(
        login_see(ACCOUNT, 303, overrides={("own", "*"): 400}), "user"
    ),
    "POST /welcome/finish": login(303),
    "GET /settings": login(),
    "POST /settings/profile": login(303),
    "POST /settings/banner/remove": login(303),
    "POST /settings/preferences": login(422),
    "POST /settings/password": login(422),
    "POST /settings/email": login(422),
    "POST /settings/email/cancel": login(303),
    "GET /settings/email/confirm/<token>": Route(open_(404), args={"token": "nope"}),
    "POST /settings/email/confirm/<token>": Route(open_(303), args={"token": "nope"}),
    "POST /settings/delete": login(422),
    "GET /settings/export": login(private_cache=True),
    "POST /settings/appearance": login(422),
    "POST /settings/export": login(303, overrides={("own", "*"): 429}),  # they have one
    "GET /settings/export/<token>": Route(owner(SELF, 200, private_cache=True), "export"),
    "POST /settings/sessions/<int:session_id>/end": Route(owner(SELF), "session"),
    "GET /settings/two-factor": login(),
    "POST /settings/two-factor/setup": login(303),
    "POST /settings/two-factor/confirm": login(422),
    "POST /settings/two-factor/disable": login(422),
    # --- moderation -------------------------------------------------------------------------
    "GET /moderation": moderators(),
    "POST /moderation/posts/<int:post_id>/confirm": Route(
        moderators(303, overrides=NOT_UNDER_REVIEW), "post", form=REASON
    ),
    "POST /moderation/posts/<int:post_id>/clear": Route(  # held or rejected posts only
        moderators(303, overrides={("*", s): 409 for s in STATES if s not in ("held", "rejected")}),
        "post",
        form=REASON,
    ),
    "POST /moderation/<any(posts, comments, jobs):kind>/<int:subject_id>/remove": [
        Route(
            moderators(303, overrides={("*", "removed"): 409}),  # removed already
            subject,
            args={"kind": f"{subject}s"},
            form=REASON,
            variant=subject,
        )
        for subject in ("post", "comment", "job")
    ],
    "POST /moderation/reports/<int:report_id>/close": Route(moderators(303), "report"),
    "GET /moderation/users/<username>": Route(moderators(), "user"),
    "POST /moderation/users/<username>/<any(warn, suspend, unsuspend):action>": [
        Route(moderators(303, overrides=o), "user", args={"action": a}, form=REASON, variant=a)
        for a, o in (
            ("warn", {}),
            ("suspend", {("*", "suspended"): 409}),  # already suspended
            ("unsuspend", {("*", s): 409 for s in ("public", "private", "deleted")}),
        )
    ],
    "POST /moderation/users/<username>/notes": Route(
        moderators(303), "user", form={"body": "Seen."}
    ),
    # An appeal's process image (the held post's artist sent a sketch): moderators only.
    "GET /moderation/appeals/<int:appeal_id>/images/<int:media_id>": moderators(private_cache=True),
    # A remote post's image the filter held, and the decisions on it (cara.federation.review).
    "GET /moderation/remote/<int:post_id>/<name>": Route(
        moderators(private_cache=True), "remote", args={"name": "1.jpg"}
    ),
    "POST /moderation/remote/<int:post_id>/confirm": Route(moderators(303), "remote", form=REASON),
    "POST /moderation/remote/<int:post_id>/clear": Route(moderators(303), "remote", form=REASON),
    "GET /moderation/hashes": admins(),
    "POST /moderation/hashes": admins(422),
    "GET /moderation/hashes/export": admins(),
    # --- admin ------------------------------------------------------------------------------
    "GET /admin/": admins(),
    "POST /admin/site": admins(422),
    "POST /admin/filter": admins(303),
    "GET /admin/filter/evaluate": admins(),
    "POST /admin/filter/evaluate": admins(422),
    "GET /admin/pages/<any(about, rules, terms, privacy, copyright):name>": Route(
        admins(), args={"name": "rules"}
    ),
    "POST /admin/pages/<any(about, rules, terms, privacy, copyright):name>": Route(
        admins(303), args={"name": "rules"}
    ),
    "GET /admin/invites": admins(),
    "POST /admin/invites": admins(201),  # the page with the new link
    "POST /admin/invites/<int:invite_id>/revoke": admins(303),
    "GET /admin/hash-lists": admins(),
    "POST /admin/hash-lists": admins(422),  # no address given
    "POST /admin/hash-lists/<int:subscription_id>/delete": admins(303),
    "POST /admin/hash-lists/<int:subscription_id>/trust": admins(303),
    "POST /admin/hash-lists/<int:subscription_id>/pull": admins(303),
    "GET /admin/federation": admins(),
    "POST /admin/federation": admins(400),  # on=0 or on=1 missing
    "POST /admin/federation/blocks": admins(422),  # no server given
    "POST /admin/federation/limits": admins(422),  # no server given
    "POST /admin/federation/<any(unblock, unlimit):action>": [
        Route(admins(303), args={"action": a}, variant=a) for a in ("unblock", "unlimit")
    ],
    "GET /admin/accounts": admins(),
    "POST /admin/accounts/role": admins(422),
    "POST /admin/accounts/<int:user_id>/<any(approve, reject):decision>": Route(
        admins(303), args={"decision": "approve"}
    ),
    "GET /admin/jobs": admins(),
    "POST /admin/jobs/posts/<int:post_id>/retry": Route(admins(303), "post"),
    # --- site and machines ------------------------------------------------------------------
    "GET /<any(about, rules, terms, privacy, copyright):name>": Route(
        open_(), args={"name": "rules"}
    ),
    "GET /about/ai": open_(),
    "GET /robots.txt": open_(),
    "GET /ai.txt": open_(),
    "GET /.well-known/tdmrep.json": open_(),
    "GET /.well-known/tdm-policy.json": open_(),
    "GET /healthz": open_(),
    "GET /metrics": admins(),  # or with its bearer token
    # --- federation (docs/federation.md): off by default, then documents and inboxes ---------
    "GET /.well-known/webfinger": federated(
        Route(see(ACTOR), "user", query={"resource": "acct:{username}@cara.test"}),
        Route(open_(400), variant="no resource"),
    ),
    "GET /.well-known/host-meta": federated(Route(open_())),
    "GET /.well-known/nodeinfo": federated(Route(open_())),
    "GET /nodeinfo/2.1": federated(Route(open_())),
    "GET /federation/hashes": federated(Route(open_())),
    "GET /federation/hashes/key": federated(Route(open_())),
    "GET /@<username>/outbox": federated(Route(see(ACTOR_OF_POST, lists=ATOM), "post")),
    "GET /@<username>/ap/followers": federated(Route(see(ACTOR), "user")),
    "GET /@<username>/ap/following": federated(Route(see(ACTOR), "user")),
    "GET /ap/posts/<int:post_id>": federated(Route(see(NOTE), "post")),
    # Unsigned activities: refused (401) before anything else, once the account exists.
    "POST /@<username>/inbox": federated(Route(see(ACTOR, 401), "user", form={"a": "b"})),
    "POST /inbox": federated(Route(open_(401), form={"a": "b"})),
    "GET /federation": federated(Route(login(lists=REMOTE_LISTED, word="far"), "remote")),
    "POST /federation/follow": federated(Route(login(400), form={"handle": "nobody"})),
    "GET /@<username>@<domain>": federated(
        Route(login(lists=REMOTE, word="far"), "remote", args=PAINTER, variant="remote profile")
    ),
    "GET /federation/media/<int:post_id>/<name>": federated(Route(login_see(REMOTE), "remote")),
    # A followers-only post's image for its followers' servers: without the capability of a
    # delivered Note (expiry and signature in the query), a 404 for everyone, in every state;
    # tests/federation/test_delivery.py checks the signed ones and the post's state.
    "GET /federation/files/<int:media_id>/<name>": federated(
        Route(open_(404), "media", query={"expires": "9999999999", "sig": "0" * 64})
    ),
    # A remote person's avatar: the world's remote actor has none (404 for all).
    "GET /federation/avatars/<int:actor_id>/<name>": federated(
        Route(open_(404), "remote", args={"name": "0-x.jpg"})
    ),
    "POST /federation/unfollow/<int:actor_id>": federated(Route(login(303), "remote")),
    # Liking, reposting and replying to a remote post, and taking a like or repost back.
    "POST /federation/posts/<int:post_id>/<any(like, unlike, repost, unrepost):action>": federated(
        Route(login_see(REMOTE_ACT, 303), "remote", args={"action": "like"}, variant="like"),
        Route(login_see(REMOTE, 303), "remote", args={"action": "unlike"}, variant="unlike"),
        Route(login_see(REMOTE_REPOST, 303), "remote", args={"action": "repost"}, variant="repost"),
        Route(login_see(REMOTE, 303), "remote", args={"action": "unrepost"}, variant="unrepost"),
    ),
    "POST /federation/posts/<int:post_id>/reply": federated(
        Route(login_see(REMOTE_ACT, 303), "remote", form={"body": "Lovely"})
    ),
    "GET /ap/interactions/<int:interaction_id>": federated(Route(see(SENT_PUBLIC), "remote")),
    # The instance actor (it signs forwarded reports) is for anyone, like the people's actors.
    "GET /actor": federated(Route(open_())),
    # Reporting a person elsewhere (a copy may be forwarded to their server): anyone signed in.
    "GET /federation/actors/<int:actor_id>/report": federated(Route(login(), "remote")),
    "POST /federation/actors/<int:actor_id>/report": federated(Route(login(422), "remote")),
    "POST /federation/replies/<int:interaction_id>/<any(edit, delete):action>": federated(
        Route(owner(SENT_BY), "remote", args={"action": "edit"}, form={"body": "Hello"}),
        Route(owner(SENT_BY), "remote", args={"action": "delete"}, variant="delete"),
    ),
    # Blocking or muting someone elsewhere: anyone signed in, back to their profile page.
    "POST /federation/actors/<int:actor_id>/<any(block, unblock, mute, unmute):action>": federated(
        *[
            Route(login(303), "remote", args={"action": a}, variant=a)
            for a in ("block", "unblock", "mute", "unmute")
        ]
    ),
    "POST /federation/requests/<int:follow_id>/<any(approve, reject):answer>": federated(
        *[Route(owner(SELF), "user", args={"answer": a}, variant=a) for a in ("approve", "reject")]
    ),
}
