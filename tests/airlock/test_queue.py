"""The checkers' queue summarises many requests in a few queries; its summary must say what
each request's own view says (who may vote, how many files have their votes)."""

from __future__ import annotations

from sqlmodel import Session, select

from spe.airlock.models import EgressRequest
from spe.airlock.views import queue_entries, request_view
from spe.domain.principal import Principal
from spe.domain.roles import Role
from spe.domain.users import User
from tests.airlock.conftest import FAIL_CSV, OK_CSV, file_named, read, submit, vote


def principal(engine, subject: str, *roles: Role) -> Principal:
    with Session(engine) as session:
        user = session.exec(select(User).where(User.subject == subject)).one()
    return Principal(user_id=user.id, subject=subject, roles=frozenset(roles), via="token")


def test_the_queue_says_what_each_request_view_says(engine, client, project, checkers):
    (one, one_token), (two, _), _ = checkers
    ids = []
    for files in ([("a.csv", OK_CSV)], [("a.csv", OK_CSV), ("b.csv", FAIL_CSV)],
                  [("a.csv", FAIL_CSV)]):
        response = submit(client, project.id, project.researcher_token, files,
                          descriptions=["Patients by region"] * len(files))
        assert response.status_code == 201, response.text
        ids.append(response.json()["id"])
    voted = read(client, one_token, ids[1])
    assert vote(client, one_token, voted, file_named(voted, "a.csv")).status_code == 201

    people = [principal(engine, one, Role.output_checker),
              principal(engine, two, Role.output_checker),
              # a member of the permit who is also a checker never reviews it
              principal(engine, project.colleague, Role.researcher, Role.output_checker),
              principal(engine, project.researcher, Role.researcher)]
    with Session(engine) as session:
        requests = [session.get(EgressRequest, i) for i in ids]
        for person in people:
            for entry, request in zip(queue_entries(session, requests, person), requests,
                                      strict=True):
                view = request_view(session, request, person)
                votable = [f for f in view.files if not f.checker_only]
                assert entry.files == len(votable)
                assert entry.waiting_for_me == any(f.can_vote for f in votable)
                if view.files and view.files[0].votes_complete is not None:
                    assert entry.complete == sum(f.votes_complete for f in votable)
    with Session(engine) as session:
        entries = queue_entries(session, requests, people[0])
    assert [e.waiting_for_me for e in entries] == [True, True, True]  # b.csv still needs him
    with Session(engine) as session:
        assert not any(e.waiting_for_me for e in queue_entries(session, requests, people[2]))
