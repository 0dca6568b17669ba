"""The jobs board: post, browse and filter with keyset paging, edit, close, reopen."""

import re

import pytest
from sqlalchemy import select

from cara import board
from cara.core.extensions import db
from cara.core.models import Job
from tests.factories import hx, login, person

GOOD_JOB = {
    "title": "Background painter",
    "studio": "Moth Studio",
    "location": "Lisbon",
    "remote": "1",
    "kind": "full-time",
    "description": "Paint <b>skies</b>.",
    "apply_url": "https://moth.example/jobs/1",
}


def job_ids(html: str) -> list[int]:
    return [int(i) for i in re.findall(r'<li class="job" id="job-(\d+)"', html)]


def test_post_an_opening(client):
    person("ana")
    assert client.get("/jobs/new").status_code == 302
    login(client, "ana")
    form = client.get("/jobs/new").get_data(as_text=True)
    for label in ("Title", "Studio", "Location", "Remote", "Description", "Apply URL"):
        assert f">{label}</label>" in form
    response = client.post("/jobs/new", data=GOOD_JOB)
    job = db.session.scalar(select(Job))
    assert response.status_code == 303 and response.headers["Location"] == f"/jobs/{job.id}"
    html = client.get(f"/jobs/{job.id}").get_data(as_text=True)
    assert 'href="https://moth.example/jobs/1"' in html and "Paint &lt;b&gt;skies" in html
    assert "Full-time" in html and "Remote, Lisbon" in html


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("title", "", "Give the opening a title."),
        ("title", "x" * 121, "at most 120"),
        ("kind", "internship", "Choose full-time, freelance or commission."),
        ("apply_url", "javascript:alert(1)", "starting with https://"),
        ("apply_url", "ftp://moth.example/", "starting with https://"),
        ("apply_url", "https://", "starting with https://"),
    ],
)
def test_bad_openings_are_refused_with_a_message(client, field, value, message):
    person("ana")
    login(client, "ana")
    response = client.post("/jobs/new", data={**GOOD_JOB, field: value})
    html = response.get_data(as_text=True)
    assert response.status_code == 422 and message in html and 'aria-invalid="true"' in html
    assert db.session.scalar(select(Job)) is None


def test_location_or_remote_is_required():
    data, errors = board.clean({**GOOD_JOB, "remote": "", "location": ""})
    assert "location" in errors
    assert not board.clean({**GOOD_JOB, "location": ""})[1]


def test_browse_filter_and_page(client):
    ana = person("ana")
    for i in range(30):
        kind = ("full-time", "freelance", "commission")[i % 3]
        board.create(ana, {**GOOD_JOB, "title": f"Job {i}", "kind": kind, "remote": i % 2 and "1"})
    html = client.get("/jobs").get_data(as_text=True)
    assert len(job_ids(html)) == 24 and '<label for="job-kind">Kind</label>' in html
    next_url = re.search(r'id="jobs-more">\s*<a href="([^"]+)"', html).group(1)
    more = client.get(next_url.replace("&amp;", "&"), headers=hx("jobs-more"))
    assert "<html" not in more.get_data(as_text=True)
    assert len(job_ids(more.get_data(as_text=True))) == 6
    freelance = job_ids(client.get("/jobs?kind=freelance").get_data(as_text=True))
    assert len(freelance) == 10
    assert all(db.session.get(Job, i).kind == "freelance" for i in freelance)
    remote_commissions = job_ids(
        client.get("/jobs?kind=commission&remote=1").get_data(as_text=True)
    )
    assert len(remote_commissions) == 5
    assert all(db.session.get(Job, i).remote for i in remote_commissions)
    assert client.get("/jobs?kind=nonsense").status_code == 400


def test_owner_edits_closes_and_reopens(client):
    ana = person("ana")
    person("bob")
    job, _ = board.create(ana, GOOD_JOB)
    login(client, "bob")
    assert client.get(f"/jobs/{job.id}/edit").status_code == 403
    assert client.post(f"/jobs/{job.id}/close").status_code == 403
    assert "Report this opening" in client.get(f"/jobs/{job.id}").get_data(as_text=True)
    client.post("/logout")
    login(client, "ana")
    edit = client.get(f"/jobs/{job.id}/edit").get_data(as_text=True)
    assert 'value="Background painter"' in edit
    bad = client.post(f"/jobs/{job.id}/edit", data={**GOOD_JOB, "apply_url": "nope"})
    assert bad.status_code == 422
    response = client.post(f"/jobs/{job.id}/edit", data={**GOOD_JOB, "title": "Lead painter"})
    assert response.status_code == 303 and db.session.get(Job, job.id).title == "Lead painter"
    assert client.post(f"/jobs/{job.id}/close").status_code == 303
    assert job_ids(client.get("/jobs").get_data(as_text=True)) == []
    assert job_ids(client.get("/jobs?mine=1").get_data(as_text=True)) == [job.id]
    closed = client.get(f"/jobs/{job.id}").get_data(as_text=True)
    assert "This opening is closed." in closed and "moth.example" not in closed
    client.post(f"/jobs/{job.id}/reopen")
    assert job_ids(client.get("/jobs").get_data(as_text=True)) == [job.id]
    assert client.get("/jobs/999999").status_code == 404
