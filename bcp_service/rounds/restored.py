"""The restore marker of a round (``bcp-service db restore`` writes it, ops/restore.py): read by the round
page and the board, which sit below ``ops``."""

from __future__ import annotations

from sqlmodel import Session, col, select

from bcp_service.models.ops import RoundRestore


def latest_restore(session: Session, round_id: int) -> RoundRestore | None:
    """The round's most recent restore marker (the round page and the board show it)."""
    return session.exec(
        select(RoundRestore).where(RoundRestore.round_id == round_id).order_by(col(RoundRestore.id).desc())
    ).first()
