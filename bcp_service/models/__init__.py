"""All table models, imported together so Alembic and the metadata see every table."""

from bcp_service.models.geo import (
    HomeCareRegion,
    HomeCareRegionMunicipality,
    LocalMedicalAssociation,
    Municipality,
    Prefecture,
    PublicHealthCenterDistrict,
    SecondaryMedicalArea,
)
from bcp_service.models.institution import Designation, HubMunicipality, Institution, InstitutionContact
from bcp_service.models.patient import Patient, PatientContact

__all__ = [
    "Designation",
    "HomeCareRegion",
    "HomeCareRegionMunicipality",
    "HubMunicipality",
    "Institution",
    "InstitutionContact",
    "LocalMedicalAssociation",
    "Municipality",
    "Patient",
    "PatientContact",
    "Prefecture",
    "PublicHealthCenterDistrict",
    "SecondaryMedicalArea",
]
