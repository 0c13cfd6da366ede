"""The channel table (issue 24.3): one rule per channel folder, read by the chooser, the preview, the worker."""

from __future__ import annotations

from bcp_service.channels import CHANNELS, for_action
from bcp_service.contacts import Contact, bad_scope, choose
from tests.board.conftest import browser_as, scene  # noqa: F401  (fixtures)
from tests.rounds.conftest import add_patient, area  # noqa: F401  (fixture)

MOBILE, LANDLINE = "+819012345678", "+81312345678"


def test_every_channel_is_a_folder_with_a_rule_and_an_outbound_side():
    assert list(CHANNELS) == ["sms", "voice", "email"]
    for name, channel in CHANNELS.items():
        assert channel.name == name and channel.label
        outbound = channel.outbound
        assert callable(outbound.render) and callable(outbound.send) and callable(outbound.cost)
    assert for_action("call") == "voice"


def test_reachability_comes_from_each_channels_rule():
    assert CHANNELS["sms"].reaches(MOBILE) and not CHANNELS["sms"].reaches(LANDLINE)
    assert CHANNELS["voice"].reaches(MOBILE) and CHANNELS["voice"].reaches(LANDLINE)
    assert Contact(1, MOBILE, "self").channels == ("sms", "voice")
    assert Contact(1, MOBILE, "self", preferred="voice").channels == ("voice", "sms")
    assert Contact(1, LANDLINE, "self").channels == ("voice",)
    assert Contact(1, MOBILE, "self", refused=frozenset({"sms"})).channels == ("voice",)
    assert choose([Contact(1, LANDLINE, "self"), Contact(2, MOBILE, "family")], "call")[0][1] == "voice"


def test_what_a_failure_rules_out_comes_from_the_notifiers_facts():
    assert bad_scope("sms", "21211") == "number"
    assert bad_scope("sms", "21614") == "sms"
    assert bad_scope("voice", "13225") == "voice"
    assert bad_scope("voice", "21614") is None
    assert bad_scope("sms", None, fact="not_this_channel") == "sms"
    assert bad_scope("sms", "20003") is None  # the account, not the number


def test_preview_counts_a_landline_only_patient_as_a_call(browser_as, session, area):
    add_patient(session, area.city)
    add_patient(session, area.city)
    add_patient(session, area.city, phones=[LANDLINE])  # the old rule counted this one as "no contact"
    add_patient(session, area.city, phones=[])
    officer = browser_as("prefecture", area.prefecture.id)
    html = officer.get(
        "/rounds/new",
        params={
            "preview": "1",
            "drill": "1",
            "reason": "manual",
            "region_id": str(area.region.id),
            "deadline_hours": "72",
        },
    ).text
    assert "4 人" in html.split('id="pv-people"')[1][:40]
    assert "3 通" in html.split('id="pv-messages"')[1][:40]
    assert "SMS 2通、電話 1通" in html.split('id="pv-messages"')[1][:200]
    assert "1 人" in html.split('id="pv-no-contact"')[1][:40]
    assert "計 4" in html.split('id="pv-segments"')[1][:60]  # segments count the texts only
