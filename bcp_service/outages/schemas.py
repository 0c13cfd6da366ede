"""The outage format (JSON or CSV) a source posts to ``/api/v1/outages``; docs/outages.md."""

from __future__ import annotations

import csv
import io
from datetime import datetime
from typing import Annotated, Any

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, field_validator, model_validator

from bcp_service.triggers.codes import normalise_municipality_code

MAX_ITEMS = 5000
CSV_COLUMNS = (
    "id",
    "municipality",
    "district",
    "started_at",
    "expected_restoration_at",
    "restored_at",
    "households",
    "planned",
)


class OutageItem(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    id: str = Field(min_length=1, max_length=100, description="the source's own id for this outage area")
    municipality: str = Field(description="6-digit 全国地方公共団体コード (or its first 5 digits)")
    district: str | None = Field(default=None, max_length=100, description="町丁目 or district, when known")
    started_at: AwareDatetime
    expected_restoration_at: AwareDatetime | None = None
    restored_at: AwareDatetime | None = Field(default=None, description="set when power is back")
    households: Annotated[int, Field(ge=0)] | None = None
    planned: bool = Field(default=False, description="a planned shutoff announced ahead of started_at")

    @field_validator("municipality", mode="before")
    @classmethod
    def _code(cls, value: Any) -> str:
        return normalise_municipality_code(value)

    @model_validator(mode="after")
    def _order(self) -> OutageItem:
        for name in ("expected_restoration_at", "restored_at"):
            value = getattr(self, name)
            if value is not None and value < self.started_at:
                raise ValueError(f"{name} is before started_at (復旧時刻が停電開始より前です)")
        return self


class OutageBatch(BaseModel):
    """What a source posts: its name and the outages it knows of (new, changed or restored)."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    source: str = Field(
        min_length=1,
        max_length=40,
        pattern=r"^[A-Za-z0-9_.:\-]+$",
        description="who reports (e.g. tepco-pg); ids are unique per source",
    )
    outages: list[OutageItem] = Field(max_length=MAX_ITEMS)


def read_csv(text: str, source: str) -> OutageBatch:
    """CSV with the header ``id,municipality,district,started_at,expected_restoration_at,restored_at,households,planned``.

    Raises pydantic's ValidationError (rows numbered from 1) or ValueError for a bad header.
    """
    reader = csv.DictReader(io.StringIO(text.lstrip("\ufeff")))
    header = [h.strip() for h in (reader.fieldnames or [])]
    missing = [c for c in ("id", "municipality", "started_at") if c not in header]
    unknown = [c for c in header if c not in CSV_COLUMNS]
    if missing or unknown:
        raise ValueError(f"CSV header must use {', '.join(CSV_COLUMNS)}; missing {missing}, unknown {unknown}")
    rows: list[dict[str, Any]] = []
    for row in reader:
        item = {k.strip(): (v.strip() if isinstance(v, str) else v) for k, v in row.items() if k}
        item = {k: v for k, v in item.items() if v not in ("", None)}
        if "planned" in item:
            item["planned"] = item["planned"].lower() in ("1", "true", "yes", "計画")
        rows.append(item)
    return OutageBatch.model_validate({"source": source, "outages": rows})


class OutageSummary(BaseModel):
    source: str
    stored: int = Field(description="outages new or changed")
    open: int = Field(description="outages of this source still open")
    restored: int = Field(description="outages of this source marked restored in this post")
    unmatched_municipalities: list[str] = Field(description="codes that are not ours (outside the registry)")
    power_out_municipalities: list[str] = Field(description="our municipalities with an open outage (any source)")
    ventilator_users_affected: int = Field(description="active ventilator users in those municipalities")
    decisions: list[dict] = Field(default_factory=list, description="trigger decisions the post led to (round rule)")


class OutagePublic(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    source: str
    external_id: str
    municipality_code: str
    municipality_name: str
    district: str | None
    started_at: datetime
    expected_restoration_at: datetime | None
    restored_at: datetime | None
    households: int | None
    planned: bool
