"""A BCP draft read by someone who may not see some of its patients shows no trace of them: not their
names, nor the backup hospital or the equipment supplier only they named (issue 23 item 6)."""

from __future__ import annotations

import io
import zipfile

from tests.auth.test_scope_matrix import accounts, world  # noqa: F401 (fixtures)
from tests.factories import create_institution, create_patient


def test_left_out_patients_leave_no_supplier_or_backup_hospital(world, accounts, client, session):
    w, a = world, accounts
    hidden_hospital = create_institution(session, w["a2"], kind="backup_hospital", name="秘匿後方支援病院")
    shared_hospital = create_institution(session, w["a1"], kind="backup_hospital", name="共有後方支援病院")
    create_patient(
        session,
        w["a2"],
        name="圏外 三郎",
        active_institution_id=w["clinic1"].id,
        backup_hospital_id=hidden_hospital.id,
        equipment_supplier="秘匿酸素株式会社",
        uses_ventilator=True,
    )
    create_patient(
        session,
        w["a1"],
        name="圏内 四郎",
        active_institution_id=w["clinic1"].id,
        backup_hospital_id=shared_hospital.id,
        equipment_supplier="共有医療機器",
    )
    session.flush()
    draft = client.post(f"/api/v1/institutions/{w['clinic1'].id}/bcp-drafts").json()
    whole = zipfile.ZipFile(io.BytesIO(client.get(f"/api/v1/bcp-drafts/{draft['id']}.docx").content))
    everything = whole.read("word/document.xml").decode()
    assert "秘匿後方支援病院" in everything and "秘匿酸素株式会社" in everything  # the control: the admin sees them
    as_hub = a["hub1"].get(f"/api/v1/bcp-drafts/{draft['id']}").json()
    assert as_hub["patients_left_out"] == 1
    page = a["hub1"].get(f"/bcp/drafts/{draft['id']}").text
    docx = zipfile.ZipFile(io.BytesIO(a["hub1"].get(f"/api/v1/bcp-drafts/{draft['id']}.docx").content))
    document = docx.read("word/document.xml").decode()
    for shown in (page, document, str(as_hub)):
        for trace in ("圏外 三郎", "秘匿後方支援病院", "秘匿酸素株式会社"):
            assert trace not in shown, trace
    assert "共有後方支援病院" in page and "共有医療機器" in page
