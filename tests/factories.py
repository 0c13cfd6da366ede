"""Plain helpers that create rows with sensible defaults; pass overrides as keywords."""

from __future__ import annotations

import itertools

from sqlmodel import Session

from bcp_service.auth.secrets import new_token, token_hash
from bcp_service.models import (
    ApiToken,
    Designation,
    HomeCareRegion,
    HomeCareRegionMunicipality,
    HubMunicipality,
    Institution,
    Municipality,
    Patient,
    PatientContact,
    Prefecture,
    User,
)
from bcp_service.registry.risk import RiskInputs, derive_risk_tier
from bcp_service.registry.schemas import check_digit

_counter = itertools.count(1)


def create_prefecture(session: Session, **overrides) -> Prefecture:
    n = next(_counter)
    # 13-99: never Chiba ("12"), whose designation rules differ (registry.designation_rules).
    prefecture = Prefecture(**{"code": f"{(n % 87) + 13}", "name": f"テスト県{n}", **overrides})
    session.add(prefecture)
    session.flush()
    return prefecture


def create_municipality(session: Session, prefecture: Prefecture, **overrides) -> Municipality:
    n = next(_counter)
    five = f"{prefecture.code}{(n % 900) + 100}"
    municipality = Municipality(
        **{"code": five + check_digit(five), "name": f"テスト市{n}", "prefecture_id": prefecture.id, **overrides}
    )
    session.add(municipality)
    session.flush()
    return municipality


def create_region(
    session: Session, prefecture: Prefecture, municipalities: list[Municipality], **overrides
) -> HomeCareRegion:
    region = HomeCareRegion(**{"prefecture_id": prefecture.id, "name": f"テスト圏域{next(_counter)}", **overrides})
    session.add(region)
    session.flush()
    for municipality in municipalities:
        session.add(HomeCareRegionMunicipality(region_id=region.id, municipality_id=municipality.id))
    session.flush()
    return region


def create_institution(session: Session, municipality: Municipality, **overrides) -> Institution:
    institution = Institution(
        **{
            "name": f"テスト診療所{next(_counter)}",
            "kind": "home_care_support_clinic",
            "municipality_id": municipality.id,
            **overrides,
        }
    )
    session.add(institution)
    session.flush()
    return institution


def designate(
    session: Session, institution: Institution, region: HomeCareRegion, kind: str, covers: list[Municipality] = ()
) -> None:
    session.add(Designation(institution_id=institution.id, region_id=region.id, kind=kind))
    for municipality in covers:
        session.add(HubMunicipality(institution_id=institution.id, municipality_id=municipality.id))
    session.flush()


def create_patient(
    session: Session, municipality: Municipality, *, phones: list[str] = ("+819012345678",), **overrides
) -> Patient:
    n = next(_counter)
    values = {
        "name": f"試験 患者{n}",
        "name_kana": f"シケン カンジャ{n}",
        "municipality_id": municipality.id,
        "uses_oxygen": True,
        "oxygen_source": "concentrator",
        "cylinder_hours": 4.0,
        **overrides,
    }
    patient = Patient(**values)
    patient.risk_tier = derive_risk_tier(
        RiskInputs(**{k: getattr(patient, k) for k in RiskInputs.__dataclass_fields__})
    )
    session.add(patient)
    session.flush()
    for position, phone in enumerate(phones, start=1):
        session.add(
            PatientContact(
                patient_id=patient.id, position=position, kind="self" if position == 1 else "family", phone=phone
            )
        )
    session.flush()
    return patient


_FAST_HASH = None


def create_user(session: Session, role: str, scope_id: int | None = None, **overrides) -> User:
    """A user with a pre-computed password hash (argon2 is slow by design); the password is "correct horse battery"."""
    global _FAST_HASH
    if _FAST_HASH is None:
        from bcp_service.auth.secrets import hash_password

        _FAST_HASH = hash_password("correct horse battery")
    user = User(
        **{
            "username": f"{role}-{next(_counter)}",
            "password_hash": _FAST_HASH,
            "role": role,
            "scope_id": scope_id,
            **overrides,
        }
    )
    session.add(user)
    session.flush()
    return user


def bearer(session: Session, user: User) -> dict[str, str]:
    token = new_token()
    session.add(ApiToken(user_id=user.id, kind="access", token_hash=token_hash(token), prefix=token[:12]))
    session.flush()
    return {"Authorization": f"Bearer {token}"}


def refuse(session: Session, contact_id: int, *channels: str) -> None:
    """Record that ``channels`` refused this contact for good (its ``contact_address`` rows)."""
    from bcp_service.contacts import mark_refused
    from bcp_service.models.base import utcnow

    for channel in channels:
        mark_refused(session=session, contact_id=contact_id, channel=channel, now=utcnow())


def refused_channels(session: Session, contact_id: int) -> set[str]:
    """The channels that refused this contact for good."""
    from sqlmodel import col, select

    from bcp_service.models import ContactAddress

    return set(
        session.exec(
            select(ContactAddress.kind).where(
                ContactAddress.contact_id == contact_id, col(ContactAddress.refused_since).is_not(None)
            )
        ).all()
    )
