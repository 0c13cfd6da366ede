"""The role × route matrix, built from the application's own route table.

Every route must declare exactly one ``Access`` rule; a new route without one fails here. Each role
is then tried on each route: roles outside the rule get 403, no token gets 401, and roles inside the
rule get past the gate (whatever the handler then says about the made-up ids).
"""

from __future__ import annotations

import re

from fastapi.routing import APIRoute

from bcp_service.auth.deps import Access
from bcp_service.auth.roles import Role
from bcp_service.routing import iter_api_routes


def access_rules(route: APIRoute) -> list[Access]:
    found: list[Access] = []

    def walk(dependant) -> None:
        for dep in dependant.dependencies:
            if isinstance(dep.call, Access):
                found.append(dep.call)
            walk(dep)

    walk(route.dependant)
    return found


def concrete_path(path: str) -> str:
    return re.sub(r"\{[^}]+\}", "999999", path)


def all_routes(app) -> list[tuple[str, APIRoute]]:
    return [(method, route) for route in iter_api_routes(app) for method in sorted(route.methods - {"HEAD"})]


def test_every_route_declares_exactly_one_access_rule(app):
    missing = [f"{m} {r.path}" for m, r in all_routes(app) if len(access_rules(r)) != 1]
    assert missing == [], f"routes without exactly one Access rule: {missing}"


def test_role_route_matrix(app, session, client_as, anon_client):
    clients = {role: client_as(role, scope_id=1) for role in Role}
    failures = []
    matrix_rows = 0
    for method, route in all_routes(app):
        (rule,) = access_rules(route)
        if rule.public:
            continue
        path = concrete_path(route.path)
        anonymous = anon_client.request(method, path, json={}, follow_redirects=False)
        if anonymous.status_code != 401 and not (
            anonymous.status_code == 303 and "/login" in anonymous.headers.get("location", "")
        ):
            failures.append(f"anonymous {method} {path}: {anonymous.status_code}")
        for role, role_client in clients.items():
            response = role_client.request(method, path, json={}, follow_redirects=False)
            allowed = role in rule.roles
            matrix_rows += 1
            if allowed and response.status_code in (401, 403):
                failures.append(f"{role} {method} {path}: {response.status_code} but the rule admits it")
            if not allowed and response.status_code != 403:
                failures.append(f"{role} {method} {path}: {response.status_code}, expected 403")
            if response.status_code >= 500:
                failures.append(f"{role} {method} {path}: server error")
    assert matrix_rows > 50
    assert failures == []
