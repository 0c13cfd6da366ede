"""Every page router outside the board and nurse pages, in one list for the app to include."""

from bcp_service.answers.review_pages import router as review_pages
from bcp_service.audit.pages import router as audit_pages
from bcp_service.auth.account_pages import router as own_account_pages
from bcp_service.auth.pages import router as account_pages
from bcp_service.escalation.pages import router as round_detail_page
from bcp_service.imports.pages import router as import_pages
from bcp_service.outbox.pages import router as lane_pages  # chan (issue 26.1)
from bcp_service.registry.area_pages import router as area_pages
from bcp_service.registry.pages import router as patient_pages
from bcp_service.registry.prefecture_pages import router as prefecture_pages  # wall (issue 23)
from bcp_service.registry.quiet_pages import router as quiet_pages  # issue 25.4
from bcp_service.registry.region_pages import router as region_pages  # regions redrawn (issue 27.1)
from bcp_service.rounds.pages import router as round_pages
from bcp_service.schedules.pages import router as schedule_pages
from bcp_service.triggers.pages import router as trigger_pages

PAGE_ROUTERS = (
    patient_pages,
    area_pages,
    import_pages,
    account_pages,
    audit_pages,
    round_pages,
    round_detail_page,
    review_pages,
    schedule_pages,
    trigger_pages,
    own_account_pages,  # issue 23.2: password, second factor and own API tokens
    lane_pages,  # chan (issue 26.1)
    prefecture_pages,
    quiet_pages,  # issue 25.4: quiet hours per prefecture
    region_pages,  # regions redrawn on pages (issue 27.1)
)
