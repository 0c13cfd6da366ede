"""Registry commands."""

from __future__ import annotations

import typer
from rich.console import Console
from rich.table import Table

from bcp_service.config import get_settings
from bcp_service.db import make_engine, make_session_factory
from bcp_service.registry.coverage import find_coverage_gaps

console = Console()


def coverage_gaps(
    prefecture_id: int | None = typer.Option(None, help="only this prefecture"),
    all_regions: bool = typer.Option(False, "--all", help="list every region, not only the gaps"),
) -> None:
    """在宅医療圏ごとの積極的医療機関と拠点、空白圏域の一覧 (coverage gaps)."""
    factory = make_session_factory(make_engine(get_settings().database_url))
    with factory() as session:
        report = find_coverage_gaps(session=session, prefecture_id=prefecture_id)
    table = Table(title="在宅医療圏の指定状況" if all_regions else "空白圏域 (coverage gaps)")
    for column in ("圏域", "積極的医療機関", "連携拠点", "不足"):
        table.add_column(column)
    missing_ja = {"active_institution": "積極的医療機関", "hub": "連携拠点"}
    for region in report.regions if all_regions else report.gaps:
        table.add_row(
            region.region_name,
            str(len(region.active_institutions)),
            str(len(region.hubs)),
            "、".join(missing_ja[m] for m in region.missing) or "—",
        )
    console.print(table)
    console.print(f"{len(report.gaps)} / {len(report.regions)} 圏域が空白圏域です")
    if report.municipalities_without_hub:
        console.print(
            f"拠点のない市町村 ({len(report.municipalities_without_hub)}): "
            + "、".join(report.municipalities_without_hub),
            highlight=False,
        )
