"""The registry, import/export, account and audit pages, in one list for the app to include."""

from bcp_service.audit.pages import router as audit_pages
from bcp_service.auth.pages import router as account_pages
from bcp_service.imports.pages import router as import_pages
from bcp_service.registry.area_pages import router as area_pages
from bcp_service.registry.pages import router as patient_pages

PAGE_ROUTERS = (patient_pages, area_pages, import_pages, account_pages, audit_pages)
