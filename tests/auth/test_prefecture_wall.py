"""The prefecture is a wall (issue 23): every write route, tried by every scoped account of three
prefectures with ids from the next prefecture, is refused and changes nothing; reads show nothing
of another prefecture.

The write routes come from the application's own route table: a new write route fails
``test_every_write_route_has_a_cross_border_case`` until it gets a case below (or a reason in
``NAMES_NOTHING``).
"""

from __future__ import annotations

import hashlib
import re

from fastapi.routing import APIRoute
from sqlmodel import SQLModel

from bcp_service.registry.page_forms import patient_values
from bcp_service.routing import iter_api_routes
from tests.auth.test_route_matrix import access_rules
from tests.world import Account, Land, World, world3  # noqa: F401 (fixture)

# Rows a refused request may add or touch: its own audit record, the caller's token and session use.
VOLATILE = {
    "audit_event",
    "audit_event_patient",
    "api_token",
    "web_session",
    "login_throttle",
    "service_heartbeat",
    "send_rate",
}
# Write routes that name no row of any prefecture, with why.
NAMES_NOTHING = {
    ("POST", "/logout"): "ends the caller's own session",
    ("POST", "/api/v1/auth/api-tokens"): "mints the caller's own token",
    # The caller's own account (issue 23.2): password, second factor, its own tokens. A token id of another
    # prefecture's user is still swept (``/account/tokens/{token_id}/revoke``).
    ("POST", "/account/password"): "changes the caller's own password",
    ("POST", "/account/two-factor"): "enrols the caller's own second factor",
    ("POST", "/account/two-factor/recovery-codes"): "renews the caller's own recovery codes",
    ("POST", "/account/two-factor/disable"): "turns off the caller's own second factor",
    ("POST", "/account/tokens"): "mints the caller's own token",
    # Admin only (paused sending lanes, issue 26.1): names a lane (sms, voice), no row of a prefecture.
    ("POST", "/system/lanes/{lane}/resume"): "resumes a sending lane of the whole service (admin only)",
}
PATIENT = {
    "name": "越境 太郎",
    "name_kana": "エッキョウ タロウ",
    "sex": "male",
    "uses_oxygen": True,
    "oxygen_source": "cylinders",
    "cylinder_hours": 4,
    "contacts": [{"kind": "self", "phone": "+819011112222"}],
}


def write_routes(app) -> list[tuple[str, APIRoute]]:
    found = []
    for route in iter_api_routes(app):
        (rule,) = access_rules(route)
        for method in sorted(route.methods - {"GET", "HEAD"}):
            if rule.public or (method, route.path) in NAMES_NOTHING:
                continue
            found.append((method, route, rule))
    return found


def csv_file(header: str, row: str) -> dict:
    return {"files": {"file": ("w.csv", (header + "\n" + row + "\n").encode("utf-8"), "text/csv")}}


def foreign_ids(o: Land) -> dict[str, int]:
    """A path id of each kind, taken from the other prefecture ``o``."""
    return {
        "region_id": o.regions[0].id,
        "municipality_id": o.municipalities[0].id,
        "institution_id": o.clinics[0].id,
        "patient_id": o.patients[0].id,
        "contact_id": o.contact_id,
        "designation_id": o.designation_id,
        "round_id": o.round_id,
        "check_id": o.check_id,
        "record_id": o.record_id,
        "schedule_id": o.schedule_id,
        "draft_id": o.draft_id,
        "reply_id": o.reply_id,
        "token_id": o.token_id,
        "user_id": o.nurse_user_id,
        "prefecture_id": o.prefecture.id,
        "change_id": o.change_id,
    }


PLAN_PDF = b"%PDF-1.4\n%%EOF\n"


def cases(method: str, path: str, me: Account, mine: Land, o: Land) -> list[tuple[str, dict]]:
    """(concrete path, request keywords) tries of one route by one account: the path with the other
    prefecture's ids, and for routes that name rows in a body, the caller's own row with the other's ids."""
    own_institution = me.scope_id if me.role in ("hub", "institution", "nurse") else mine.clinics[0].id
    own_hub = me.scope_id if me.role == "hub" else mine.hubs[0].id
    foreign = foreign_ids(o)
    there = re.sub(r"\{([^}]+)\}", lambda m: str(foreign[m.group(1)]), path)
    page = not path.startswith("/api/")
    form = {"csrf_token": me.csrf}
    m0, m_other = mine.municipalities[0].id, o.municipalities[0].id
    p0 = mine.patients[0].id
    key = (method, path)
    by_route: dict[tuple[str, str], list[tuple[str, dict]]] = {
        ("POST", "/settings/quiet-hours"): [
            (path, {"data": {**form, "prefecture_id": str(o.prefecture.id), "start": "22:00", "end": "06:00"}})
        ],
        ("POST", "/api/v1/regions"): [
            (path, {"json": {"prefecture_id": o.prefecture.id, "name": "越境圏域", "municipality_ids": [m_other]}}),
            (
                path,
                {"json": {"prefecture_id": mine.prefecture.id, "name": "越境圏域", "municipality_ids": [m0, m_other]}},
            ),
        ],
        ("PATCH", "/api/v1/regions/{region_id}"): [
            (there, {"json": {"name": "越境圏域"}}),
            (f"/api/v1/regions/{mine.regions[0].id}", {"json": {"municipality_ids": [m0, m_other]}}),
        ],
        ("POST", "/api/v1/municipalities"): [
            (
                path,
                {"json": {"code": municipality_code(o.code), "name": "越境町", "prefecture_id": mine.prefecture.id}},
            ),
            (path, {"json": {"code": municipality_code(o.code), "name": "越境町", "prefecture_id": o.prefecture.id}}),
        ],
        ("PATCH", "/api/v1/municipalities/{municipality_id}"): [(there, {"json": {"name": "越境町"}})],
        ("POST", "/api/v1/institutions"): [
            (path, {"json": {"name": "越境診療所", "kind": "clinic", "municipality_id": m_other}})
        ],
        ("PATCH", "/api/v1/institutions/{institution_id}"): [
            (there, {"json": {"name": "越境診療所"}}),
            (f"/api/v1/institutions/{own_institution}", {"json": {"municipality_id": m_other}}),
        ],
        ("PUT", "/api/v1/institutions/{institution_id}/designations"): [
            (there, {"json": {"designations": []}}),
            (
                f"/api/v1/institutions/{own_hub}/designations",
                {"json": {"designations": [{"region_id": o.regions[0].id, "kind": "hub"}]}},
            ),
        ],
        ("PUT", "/api/v1/institutions/{institution_id}/hub-municipalities"): [
            (there, {"json": {"hub_municipality_ids": []}}),
            (f"/api/v1/institutions/{own_hub}/hub-municipalities", {"json": {"hub_municipality_ids": [m0, m_other]}}),
        ],
        ("POST", "/api/v1/patients"): [
            (path, {"json": {**PATIENT, "municipality_id": m_other, "hub_id": o.hubs[0].id}}),
            (path, {"json": {**PATIENT, "municipality_id": m0, "hub_id": o.hubs[0].id}}),
            (
                path,
                {
                    "json": {
                        **PATIENT,
                        "municipality_id": m0,
                        "active_institution_id": o.clinics[0].id,
                        "visiting_nurse_station_id": o.stations[0].id,
                        "backup_hospital_id": o.backup.id,
                    }
                },
            ),
        ],
        ("PATCH", "/api/v1/patients/{patient_id}"): [
            (there, {"json": {"name": "越境 太郎"}}),
            (f"/api/v1/patients/{p0}", {"json": {"municipality_id": m_other}}),
            (f"/api/v1/patients/{p0}", {"json": {"backup_hospital_id": o.backup.id}}),
            (f"/api/v1/patients/{p0}", {"json": {"hub_id": o.hubs[0].id}}),
        ],
        ("POST", "/api/v1/patients/{patient_id}/contacts"): [
            (there, {"json": {"kind": "family", "phone": "+819011112222"}})
        ],
        ("PUT", "/api/v1/patients/{patient_id}/contacts/{contact_id}"): [
            (there, {"json": {"kind": "family", "phone": "+819011112222"}})
        ],
        ("POST", "/api/v1/imports/patients"): [
            (
                path,
                csv_file(
                    "external_id,name,municipality_code,hub_external_id",
                    f"W-NEW-1,越境 太郎,{o.municipalities[0].code},{o.hubs[0].external_id}",
                ),
            )
        ],
        ("POST", "/api/v1/imports/institutions"): [
            (
                path,
                csv_file(
                    "external_id,name,kind,municipality_code", f"W-NEW-I,越境診療所,clinic,{o.municipalities[0].code}"
                ),
            )
        ],
        ("POST", "/api/v1/bcp-drafts/{draft_id}/review"): [(there, {"json": {"comment": "越境"}})],
        ("POST", "/api/v1/rounds"): [
            (path, {"json": {"reason": "disaster", "drill": True, "target": {"municipality_ids": [m_other]}}})
        ],
        ("POST", "/api/v1/schedules"): [
            (
                path,
                {
                    "json": {
                        "name": "越境定期",
                        "interval_minutes": 600,
                        "drill": True,
                        "target": {"municipality_ids": [m_other]},
                    }
                },
            )
        ],
        ("PATCH", "/api/v1/schedules/{schedule_id}"): [(there, {"json": {"name": "越境定期"}})],
        ("POST", "/api/v1/unmatched-replies/{reply_id}/resolve"): [
            (there, {"json": {"resolution": "answered", "check_id": o.check_id, "state": "safe"}})
        ],
        ("POST", "/api/v1/rounds/{round_id}/checks/{check_id}/assign"): [
            (there, {"json": {"user_id": None}}),
            (
                f"/api/v1/rounds/{mine.round_id}/checks/{mine.own_check_id}/assign",
                {"json": {"user_id": o.nurse_user_id}},
            ),
        ],
        ("POST", "/api/v1/nurse/results"): [
            (
                path,
                {"json": {"client_id": "wall-client-0001", "check_id": o.check_id, "state": "safe", "method": "phone"}},
            )
        ],
        ("POST", "/registry/patients/new"): [
            (path, {"data": {**form, "name": "越境 太郎", "municipality_id": m_other, "contact_phone": "09011112222"}}),
            (
                path,
                {
                    "data": {
                        **form,
                        "name": "越境 太郎",
                        "municipality_id": m0,
                        "hub_id": o.hubs[0].id,
                        "contact_phone": "09011112222",
                    }
                },
            ),
        ],
        ("POST", "/registry/patients/{patient_id}"): [
            (there, {"data": {**form, "name": "越境 太郎", "municipality_id": o.municipalities[0].id}}),
            (
                f"/registry/patients/{p0}",
                {"data": {**form, **patient_values(mine.patients[0]), "backup_hospital_id": o.backup.id}},
            ),
            (
                f"/registry/patients/{p0}",
                {"data": {**form, **patient_values(mine.patients[0]), "municipality_id": m_other}},
            ),
        ],
        ("POST", "/registry/patients/{patient_id}/status"): [
            (there, {"data": {**form, "status": "moved", "status_reason": "越境"}})
        ],
        ("POST", "/registry/patients/{patient_id}/contacts"): [(there, {"data": {**form, "phone": "09011112222"}})],
        ("POST", "/registry/patients/{patient_id}/contacts/{contact_id}"): [
            (there, {"data": {**form, "phone": "09011112222"}})
        ],
        ("POST", "/registry/institutions/{institution_id}"): [
            (there, {"data": {**form, "name": "越境診療所", "kind": "clinic"}})
        ],
        ("POST", "/registry/institutions/{institution_id}/designations"): [
            (there, {"data": {**form, "region_id": mine.regions[0].id, "kind": "hub"}}),
            (
                f"/registry/institutions/{own_hub}/designations",
                {"data": {**form, "region_id": o.regions[0].id, "kind": "hub"}},
            ),
        ],
        ("POST", "/imports"): [
            (
                path,
                {
                    "data": {**form, "kind": "patients", "step": "import"},
                    **csv_file("external_id,name,municipality_code", f"W-NEW-2,越境 太郎,{o.municipalities[0].code}"),
                },
            )
        ],
        ("POST", "/bcp/drafts/{draft_id}/review"): [(there, {"data": {**form, "comment": "越境"}})],
        # plans (issue 27.8): a finished plan for another prefecture's institution, or naming its draft.
        ("POST", "/bcp/institutions/{institution_id}/plans"): [
            (there, {"data": form, "files": {"file": ("p.pdf", PLAN_PDF)}}),
            (
                f"/bcp/institutions/{own_institution}/plans",
                {"data": {**form, "draft_id": str(o.draft_id)}, "files": {"file": ("p.pdf", PLAN_PDF)}},
            ),
        ],
        ("POST", "/api/v1/institutions/{institution_id}/bcp-plans"): [
            (there, {"files": {"file": ("p.pdf", PLAN_PDF)}}),
            (
                f"/api/v1/institutions/{own_institution}/bcp-plans",
                {"data": {"draft_id": str(o.draft_id)}, "files": {"file": ("p.pdf", PLAN_PDF)}},
            ),
        ],
        ("POST", "/rounds"): [
            (
                path,
                {
                    "data": {
                        **form,
                        "idempotency_key": "wall",
                        "prefecture_id": o.prefecture.id,
                        "region_id": [o.regions[0].id],
                        "drill": "1",
                    }
                },
            )
        ],
        ("POST", "/review/{reply_id}/resolve"): [(there, {"data": {**form, "check_id": o.check_id, "state": "safe"}})],
        ("POST", "/schedules"): [
            (
                path,
                {
                    "data": {
                        **form,
                        "name": "越境定期",
                        "kind": "interval",
                        "interval_hours": "6",
                        "prefecture_id": o.prefecture.id,
                        "region_id": [o.regions[0].id],
                    }
                },
            )
        ],
        ("POST", "/nurse/checks/{check_id}/result"): [(there, {"data": {**form, "state": "safe"}})],
        # Regions redrawn on pages (issue 27.1): another prefecture's municipality or region is not found.
        ("POST", "/registry/regions/redraw"): [
            (path, {"data": {**form, "kind": "move", "municipality_id": m_other, "to_region_id": mine.regions[0].id}}),
            (path, {"data": {**form, "kind": "move", "municipality_id": m0, "to_region_id": o.regions[0].id}}),
            (path, {"data": {**form, "kind": "create", "name": "越境圏域", "municipality_ids": [m0, m_other]}}),
            (path, {"data": {**form, "kind": "rename", "region_id": o.regions[0].id, "name": "越境圏域"}}),
            (
                path,
                {"data": {**form, "kind": "merge", "region_id": o.regions[0].id, "into_region_id": mine.regions[0].id}},
            ),
            (
                path,
                {
                    "data": {
                        **form,
                        "kind": "split",
                        "region_id": o.regions[0].id,
                        "name": "越境圏域",
                        "municipality_ids": [m_other],
                    }
                },
            ),
            (
                path,
                {
                    "data": {
                        **form,
                        "kind": "move",
                        "municipality_id": m0,
                        "to_region_id": mine.regions[0].id,
                        "prefecture_id": o.prefecture.id,
                    }
                },
            ),
        ],
    }
    if key in by_route:
        return by_route[key]
    return [(there, {"data": form} if page else {"json": {}})]


def municipality_code(prefecture_code: str) -> str:
    from tests.world import municipality_code as make

    return make(prefecture_code)


def snapshot(session) -> dict[str, str]:
    """A digest of every table a refused write must leave as it was."""
    session.expire_all()
    digests = {}
    for table in SQLModel.metadata.sorted_tables:
        if table.name in VOLATILE:
            continue
        rows = sorted(repr(tuple(row)) for row in session.execute(table.select()))
        digests[table.name] = hashlib.sha256("\n".join(rows).encode()).hexdigest()
    return digests


def test_every_write_route_has_a_cross_border_case(app):
    """New write routes are swept too: each one names its path ids (derived) or has a body case."""
    known_params = {
        "region_id",
        "municipality_id",
        "institution_id",
        "patient_id",
        "contact_id",
        "designation_id",
        "round_id",
        "check_id",
        "record_id",
        "schedule_id",
        "draft_id",
        "reply_id",
        "token_id",
        "user_id",
        "prefecture_id",
        "change_id",
    }
    missing = []
    for method, route, _rule in write_routes(app):
        params = set(re.findall(r"\{([^}]+)\}", route.path))
        if params - known_params:
            missing.append(f"{method} {route.path}: path ids {params - known_params} unknown to tests/world.py")
    assert missing == []


def test_every_write_route_is_walled(world3: World, app, session):
    """Every scoped account × every write route its role may call × ids of the next prefecture: refused
    (4xx, or a page form shown again), never 5xx, and no table changed, on both engines."""
    w = world3
    failures: list[str] = []
    tried = 0
    for method, route, rule in write_routes(app):
        before = snapshot(session)
        callers = [a for a in w.accounts if a.role in {str(r) for r in rule.roles}]
        if not callers:
            continue  # admin or system only: no wall to hold
        for me in callers:
            mine, other = w.lands[me.prefecture], w.other(me.prefecture)
            for path, kwargs in cases(method, route.path, me, mine, other):
                client = me.api if path.startswith("/api/") else me.page
                response = client.request(method, path, follow_redirects=False, **kwargs)
                tried += 1
                # A page may show its form again (200) or go back with a notice (303); the tables say it wrote nothing.
                ok = 400 <= response.status_code < 500 or (
                    not path.startswith("/api/") and response.status_code in (200, 303)
                )
                if not ok:
                    failures.append(
                        f"{me.role}@{me.prefecture} {method} {path} {kwargs.get('json') or ''}: "
                        f"{response.status_code} {response.text[:200]}"
                    )
        after = snapshot(session)
        changed = sorted(t for t in before if before[t] != after[t])
        if changed:
            failures.append(f"{method} {route.path}: tables changed by refused writes: {changed}")
    assert tried > 300
    assert not failures, "\n".join(failures)


def test_reads_show_nothing_of_another_prefecture(world3: World, app):
    """The read matrix on the three-prefecture world: lists hold only the caller's own prefecture's
    patients, and every patient read by id from another prefecture is 404."""
    w = world3
    names = {code: {p.name for p in land.patients} for code, land in w.lands.items()}
    failures = []
    for me in w.accounts:
        others = set().union(*(n for code, n in names.items() if code != me.prefecture))
        for path in (
            "/api/v1/patients?limit=500",
            "/api/v1/rounds?limit=500",
            "/api/v1/audit?limit=500",
            "/api/v1/bcp-drafts?limit=500",
        ):
            response = me.api.get(path)
            if response.status_code >= 500:
                failures.append(f"{me.role}@{me.prefecture} GET {path}: {response.status_code}")
            leaked = [n for n in others if n in response.text]
            if leaked:
                failures.append(f"{me.role}@{me.prefecture} GET {path} shows {leaked}")
        o = w.other(me.prefecture)
        for path in (
            f"/api/v1/patients/{o.patients[0].id}",
            f"/api/v1/rounds/{o.round_id}/checks",
            f"/registry/patients/{o.patients[0].id}",
        ):
            client = me.api if path.startswith("/api/") else me.page
            response = client.get(path)
            if response.status_code not in (403, 404) or o.patients[0].name in response.text:
                failures.append(f"{me.role}@{me.prefecture} GET {path}: {response.status_code}")
    assert not failures, "\n".join(failures)


def test_every_read_route_shows_nothing_of_another_prefecture(world3: World, app):
    """The read matrix on the three-prefecture world: every GET route of the app (streams aside), by the
    first account of each scoped role in each prefecture, with the next prefecture's ids: never a 5xx,
    never a name or phone number of another prefecture's patients."""
    w = world3
    secrets = {
        code: {p.name for p in land.patients} | {p.name_kana for p in land.patients} for code, land in w.lands.items()
    }
    readers = [
        a for a in w.accounts if a is next(b for b in w.accounts if (b.role, b.prefecture) == (a.role, a.prefecture))
    ]
    failures, tried = [], 0
    for route in iter_api_routes(app):
        (rule,) = access_rules(route)
        if "GET" not in route.methods or rule.public or route.path.endswith("/events"):
            continue
        for me in (r for r in readers if r.role in {str(x) for x in rule.roles}):
            foreign = foreign_ids(w.other(me.prefecture))
            path = re.sub(r"\{([^}]+)\}", lambda m, foreign=foreign: str(foreign.get(m.group(1), 999999)), route.path)
            client = me.api if path.startswith("/api/") else me.page
            response = client.get(path, follow_redirects=False)
            tried += 1
            body = response.text
            leaked = [n for code, names in secrets.items() if code != me.prefecture for n in names if n in body]
            if response.status_code >= 500 or leaked:
                failures.append(f"{me.role}@{me.prefecture} GET {path}: {response.status_code} {leaked}")
    assert tried > 200
    assert not failures, "\n".join(failures)
