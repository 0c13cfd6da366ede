"""Name search as people type it, through the API's ``q`` (SQLite and PostgreSQL, the bigram index there)."""

import pytest

from bcp_service.search_text import normalise_name, search_key
from tests.factories import create_municipality, create_patient, create_prefecture


@pytest.mark.parametrize(
    ("typed", "stored"),
    [
        ("林花子", "林 花子"),
        ("林　花子", "林 花子"),
        ("はやし", "ハヤシ"),
        ("ﾊﾔｼ ﾊﾅｺ", "ハヤシ ハナコ"),
        ("高橋", "髙橋"),
        ("髙橋", "高橋"),
        ("山崎", "山﨑"),
        ("斎藤", "齋藤"),
        ("ＡＢＣ", "abc"),
        ("ハヤシ・ハナコ", "はやしはなこ"),
    ],
)
def test_both_sides_fold_to_the_same_form(typed, stored):
    assert normalise_name(typed) in normalise_name(stored)


def test_search_key_keeps_name_and_kana_apart():
    assert search_key("林 花子", "ハヤシ ハナコ") == "林花子 はやしはなこ"
    assert search_key("林", None) == "林"


@pytest.fixture
def people(session):
    city = create_municipality(session, create_prefecture(session))
    return {
        "hayashi": create_patient(session, city, name="林 花子", name_kana="ハヤシ ハナコ"),
        "takahashi": create_patient(session, city, name="髙橋 一郎", name_kana="タカハシ イチロウ"),
        "saito": create_patient(session, city, name="齋藤 次郎", name_kana="ｻｲﾄｳ ｼﾞﾛｳ"),
        "yamazaki": create_patient(session, city, name="山﨑 三郎", name_kana="ヤマザキ サブロウ"),
    }


@pytest.mark.parametrize(
    ("q", "who"),
    [
        ("林花子", "hayashi"),
        ("林　花子", "hayashi"),
        ("はやし はなこ", "hayashi"),
        ("ﾊﾔｼ", "hayashi"),
        ("高橋", "takahashi"),
        ("たかはし", "takahashi"),
        ("斎藤", "saito"),
        ("さいとう", "saito"),
        ("サイトウ ジロウ", "saito"),
        ("山崎", "yamazaki"),
        ("崎", "yamazaki"),
    ],
)
def test_api_q_finds_what_people_type(client, people, q, who):
    response = client.get("/api/v1/patients", params={"q": q})
    assert response.status_code == 200, response.text
    assert [p["id"] for p in response.json()["items"]] == [people[who].id]


def test_api_q_is_still_exact_and_escaped(client, people):
    assert client.get("/api/v1/patients", params={"q": "花林"}).json()["total"] == 0
    assert client.get("/api/v1/patients", params={"q": "%"}).json()["total"] == 0
    assert client.get("/api/v1/patients", params={"q": "　"}).json()["total"] == 4  # blank: no name condition


def test_an_update_keeps_the_search_form_in_step(client, people):
    pid = people["hayashi"].id
    assert (
        client.patch(f"/api/v1/patients/{pid}", json={"name": "森 花子", "name_kana": "モリ ハナコ"}).status_code == 200
    )
    assert [p["id"] for p in client.get("/api/v1/patients", params={"q": "もり"}).json()["items"]] == [pid]
    assert client.get("/api/v1/patients", params={"q": "はやし"}).json()["total"] == 0


def test_a_status_change_keeps_its_reason(client, people):
    pid = people["hayashi"].id
    body = client.patch(f"/api/v1/patients/{pid}", json={"status": "admitted", "status_reason": "肺炎で入院"}).json()
    assert body["status"] == "admitted" and body["status_reason"] == "肺炎で入院" and body["status_changed_at"]


def test_one_contact_is_corrected_added_and_removed_without_losing_the_others(client, session, people):
    pid = people["hayashi"].id
    first = client.post(
        f"/api/v1/patients/{pid}/contacts",
        json={"kind": "family", "phone": "03-1234-5678", "preferred_channel": "voice"},
    )
    assert first.status_code == 201, first.text
    rows = first.json()["contacts"]
    assert [c["position"] for c in rows] == [1, 2]
    fixed = client.put(
        f"/api/v1/patients/{pid}/contacts/{rows[0]['id']}", json={"kind": "self", "phone": "080-1111-2222"}
    )
    assert fixed.status_code == 200
    assert [c["phone"] for c in fixed.json()["contacts"]] == ["+818011112222", "+81312345678"]
    assert client.put(f"/api/v1/patients/{pid}/contacts/{rows[0]['id']}", json={"phone": "12"}).status_code == 422
    removed = client.delete(f"/api/v1/patients/{pid}/contacts/{rows[0]['id']}").json()["contacts"]
    assert [(c["position"], c["phone"]) for c in removed] == [(1, "+81312345678")]
    assert client.delete(f"/api/v1/patients/{pid}/contacts/999999").status_code == 404
