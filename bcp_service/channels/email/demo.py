"""The demo's e-mail: its settings, the mail sink process, and families reached only by e-mail.

``bcp-service demo`` (``cli/demo_sending.py``) puts the sender on the sink (``env``), starts it
(``start_sink``) and gives the first patients of a municipality an e-mail-only family
(``add_email_families``): their family step goes out by e-mail, the link in the mail answers, and the
sink's page (``/_mail``) shows each mail. The last of them has a ``.invalid`` address: its mail bounces
and the address is marked.
"""

from __future__ import annotations

import subprocess
import sys
import time

import httpx
from sqlalchemy import Engine
from sqlmodel import Session, col, select

from bcp_service.models import ContactAddress, Municipality, Patient, PatientContact

DEMO_DOMAIN = "demo.example"  # RFC 2606: reserved, never a real mailbox
SMTP_OFFSET, PAGE_OFFSET = 3, 2  # the sink's ports, from the Twilio simulator's (8099: page 8101, SMTP 8102)


def ports(sim_port: int) -> tuple[int, int]:
    """(SMTP port, page port) of the demo's mail sink."""
    return sim_port + SMTP_OFFSET, sim_port + PAGE_OFFSET


def env(sim_port: int) -> dict[str, str]:
    smtp_port, _ = ports(sim_port)
    return {
        "BCP_SMTP_HOST": "127.0.0.1",
        "BCP_SMTP_PORT": str(smtp_port),
        "BCP_SMTP_STARTTLS": "false",
        "BCP_SMTP_SENDER": f"anpi@{DEMO_DOMAIN}",
    }


def page_url(sim_port: int) -> str:
    return f"http://127.0.0.1:{ports(sim_port)[1]}/_mail"


def start_sink(smtp_port: int, page_port: int, spawn) -> subprocess.Popen:
    """The sink as a child process (``spawn``: the demo's, which ties it to the demo's life). Not waited
    for: the first mail goes out minutes later (a family step), and a failed send is retried."""
    return spawn(
        [
            sys.executable,
            "-m",
            "bcp_service.channels.email.sink",
            "--smtp-port",
            str(smtp_port),
            "--page-port",
            str(page_port),
        ]
    )


def wait_for_sink(page_port: int, process: subprocess.Popen, timeout: float = 120) -> None:
    """Until the sink's page answers (tests), or its process has exited."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and process.poll() is None:
        try:
            httpx.get(f"http://127.0.0.1:{page_port}/_mail/messages", timeout=1)
            return
        except httpx.HTTPError:
            time.sleep(0.2)
    raise RuntimeError("the mail sink did not start")


def add_email_families(engine: Engine, *, municipality_code: str = "121002", count: int = 30) -> list[int]:
    """Make the family of the first ``count`` patients (own phone first, then family) of the municipality
    reachable only by e-mail; returns their patient ids. Idempotent: patients done before are skipped."""
    done: list[int] = []
    with Session(engine) as session:
        municipality_id = session.exec(select(Municipality.id).where(Municipality.code == municipality_code)).first()
        if municipality_id is None:
            return done
        patient_ids = session.exec(
            select(Patient.id).where(Patient.municipality_id == municipality_id).order_by(Patient.id)
        ).all()
        for patient_id in patient_ids:
            contacts = session.exec(
                select(PatientContact).where(PatientContact.patient_id == patient_id).order_by(PatientContact.position)
            ).all()
            family = [c for c in contacts[1:] if c.kind != "self"]
            if not contacts or contacts[0].kind != "self" or not family or any(c.phone is None for c in contacts):
                continue
            last = len(done) == count - 1
            for n, contact in enumerate(family):
                domain = "bounce.invalid" if last else DEMO_DOMAIN
                contact.phone = None
                contact.preferred_channel = "email"
                session.add(contact)
                session.add(
                    ContactAddress(contact_id=contact.id, kind="email", address=f"family{n + 1}-{patient_id}@{domain}")
                )
            done.append(patient_id)
            if len(done) >= count:
                break
        session.commit()
    return done


def email_only_family(session: Session, patient_id: int) -> list[str]:
    """The e-mail addresses of a patient's family who have no phone (the demo's page and tests)."""
    return list(
        session.exec(
            select(ContactAddress.address)
            .join(PatientContact, col(PatientContact.id) == ContactAddress.contact_id)
            .where(
                PatientContact.patient_id == patient_id,
                col(PatientContact.phone).is_(None),
                ContactAddress.kind == "email",
            )
        ).all()
    )
