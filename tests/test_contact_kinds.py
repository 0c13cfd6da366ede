"""Everything that names a contact kind (self, family, carer) reads the one table, ``labels.CONTACT_KIND_LABELS``,
and a contact's channels come from ``channels.CHANNELS``. If this fails, a label was written somewhere by hand:
read it from the table instead."""

import re
from pathlib import Path

import bcp_service
from bcp_service.channels import CHANNELS, own_address_channels
from bcp_service.imports import columns
from bcp_service.labels import ANSWERED_BY_LABELS, CONTACT_KIND_LABELS
from bcp_service.models.enums import ContactKind
from bcp_service.registry import code_labels, page_forms

ROOT = Path(bcp_service.__file__).parent
# A label of the kind "self" written out ("self": "本人…") anywhere but the table (an escalation step is also
# called "family", so that key alone does not say it is a contact kind).
HAND_WRITTEN = re.compile(r"""["']self["']\s*:\s*["'][^"']*[\u3040-\u30ff\u4e00-\u9fff]""")


def test_every_kind_has_one_label():
    assert set(CONTACT_KIND_LABELS) == {kind.value for kind in ContactKind}
    assert len(set(CONTACT_KIND_LABELS.values())) == len(CONTACT_KIND_LABELS)


def test_every_consumer_reads_the_table():
    assert code_labels.CONTACT_KIND is CONTACT_KIND_LABELS  # registry forms and the CSV columns
    assert page_forms.CONTACT_KIND_LABELS is CONTACT_KIND_LABELS
    assert columns.CONTACT_KIND.labels is CONTACT_KIND_LABELS
    assert {kind: ANSWERED_BY_LABELS[kind] for kind in CONTACT_KIND_LABELS} == CONTACT_KIND_LABELS  # board, audit


def test_no_label_of_a_kind_is_written_by_hand():
    found = []
    for path in [*ROOT.rglob("*.py"), *ROOT.rglob("*.html")]:
        if path == ROOT / "labels.py":
            continue
        found += [
            f"{path.relative_to(ROOT)}: {m.group(0)}" for m in HAND_WRITTEN.finditer(path.read_text(encoding="utf-8"))
        ]
    assert found == []


def test_the_contact_forms_offer_every_channel():
    assert set(code_labels.CHANNEL) == set(CHANNELS)
    assert set(page_forms.ADDRESS_FIELDS) == {f"address_{name}" for name in own_address_channels()}
