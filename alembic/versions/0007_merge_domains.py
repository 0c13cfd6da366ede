"""Merge the BCP, schedules/triggers and board branches into one history.

They were developed side by side from the registry and rounds revisions; none depends on another.

Revision ID: 0007
Revises: 0004, 0005, 0006
Create Date: 2026-11-22
"""

revision = "0007"
down_revision = ("0004", "0005", "0006")
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
