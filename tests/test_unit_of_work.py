"""The request is the unit of work, and its commit comes before the answer."""

from collections.abc import Iterator

from fastapi.testclient import TestClient
from sqlalchemy.exc import OperationalError
from sqlmodel import Session

from bcp_service.db import get_session
from bcp_service.routing import iter_api_routes
from tests.factories import bearer


def test_a_failed_commit_answers_an_error_not_success(app, session: Session, admin_user):
    # A client (or Twilio) told 200 would never send again what was then lost.
    def failing_commit() -> Iterator[Session]:
        yield session
        raise OperationalError("COMMIT", {}, Exception("the database went away"))

    app.dependency_overrides[get_session] = failing_commit
    with TestClient(app, headers=bearer(session, admin_user), raise_server_exceptions=False) as client:
        response = client.get("/api/v1/regions")
    # The database went away: 503, say so (issue 28), never a success.
    assert response.status_code == 503


def test_every_route_commits_before_it_answers(app):
    scopes = set()

    def walk(dependant) -> None:
        for dependency in dependant.dependencies:
            if dependency.call is get_session:
                scopes.add(dependency.scope)
            walk(dependency)

    for route in iter_api_routes(app):
        walk(route.dependant)
    assert scopes == {"function"}
