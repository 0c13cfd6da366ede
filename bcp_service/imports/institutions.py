"""Institution rows: validated with ``InstitutionCreate``, upserted by external id.

Only the institution's own fields are imported; staff contacts, designations and hub coverage
are kept as they are (they are edited in the registry).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable

from pydantic import ValidationError
from sqlalchemy import bindparam
from sqlmodel import Session

from bcp_service.auth.principal import Principal
from bcp_service.imports.columns import INSTITUTION_COLUMNS, Column
from bcp_service.imports.lookups import Lookups, allowed_municipalities, insert_with_ids, internal_id, rows_by
from bcp_service.imports.patients import plain
from bcp_service.imports.service import BatchOutcome, Candidate, RowIssues
from bcp_service.models import Institution
from bcp_service.models.base import utcnow
from bcp_service.registry.schemas import InstitutionCreate
from bcp_service.registry.validation import field_errors

TABLE_FIELDS = ("external_id", "name", "kind", "enhanced", "open_24h", "address", "municipality_id", "phone")


class InstitutionImport:
    kind = "institutions"
    columns: tuple[Column, ...] = INSTITUTION_COLUMNS

    def __init__(self, session: Session, principal: Principal | None) -> None:
        self.session = session
        self.principal = principal
        self.lookups = Lookups(session)
        self.allowed = allowed_municipalities(session, principal)
        self.table = Institution.__table__
        self.by_key = {c.key: c for c in self.columns}
        self.key_of_field = {c.field: c.key for c in self.columns}
        self.touched: set[int] = set()

    def build(self, row: RowIssues, cells: dict[str, object], present: set[str]) -> Candidate | None:
        had_errors = bool(row)
        key = cells.get("external_id")
        target = internal_id(key) if isinstance(key, str) else None
        payload: dict[str, object] = {} if target is not None else {"external_id": key}
        for column_key, value in cells.items():
            column = self.by_key[column_key]
            if value is None or column.kind == "key":
                continue
            if column.kind == "code":
                value = self.lookups.municipality_by_code.get(value)
                if value is None:
                    row.add(column_key, "この市町村コードの市町村は登録されていません (unknown municipality code)")
                    continue
            payload[column.field] = value
        try:
            model = InstitutionCreate.model_validate(payload)
        except ValidationError as exc:
            for loc, reason, model_rule in field_errors(exc):
                column_key = self.key_of_field.get(str(loc[0]), str(loc[0])) if loc else None
                if not (model_rule and had_errors) and column_key not in row.reported:
                    row.add(column_key, reason)
            return None
        if row:
            return None
        values = plain(model.model_dump(include=set(TABLE_FIELDS)))
        fields = {self.by_key[k].field for k in present}
        if target is not None:
            values["id"] = target
            fields.discard("external_id")
        return Candidate(row.line, str(key), values, frozenset(fields))

    def apply(self, batch: list[Candidate], *, write: bool, issues: Callable[[Candidate], RowIssues]) -> BatchOutcome:
        wanted = {}
        for candidate in batch:
            institution_id = candidate.values.get("id") or self.lookups.institution_by_external.get(candidate.key)
            if institution_id is not None:
                wanted[institution_id] = candidate.key
        existing = {wanted[r["id"]]: r for r in rows_by(self.session, self.table, "id", list(wanted))}
        outcome = BatchOutcome()
        creates: list[tuple[Candidate, dict]] = []
        updates: list[tuple[Candidate, dict]] = []
        for candidate in batch:
            old = existing.get(candidate.key)
            if old is None:
                if "id" in candidate.values:
                    issues(candidate).add(
                        "external_id", f"{candidate.key} の施設は登録されていません (no such institution)"
                    )
                elif self._in_scope(candidate.values["municipality_id"]):
                    creates.append((candidate, candidate.values))
                else:
                    issues(candidate).add(
                        "municipality_code", "担当範囲外の市町村です (municipality outside your scope)"
                    )
                continue
            if old["id"] in self.touched:
                issues(candidate).add(
                    "external_id", "同じ施設が別の行にもあります (the same institution appears twice)"
                )
                continue
            self.touched.add(old["id"])
            if not self._in_scope(old["municipality_id"]):
                issues(candidate).add(
                    "external_id", "この外部IDの施設は担当範囲外のため更新できません (institution outside your scope)"
                )
                continue
            if not self._in_scope(candidate.values["municipality_id"]):
                issues(candidate).add("municipality_code", "担当範囲外の市町村です (municipality outside your scope)")
                continue
            changes = {f: candidate.values[f] for f in candidate.present}
            if any(changes[f] != old[f] for f in changes):
                updates.append((candidate, changes | {"id": old["id"]}))
            else:
                outcome.unchanged += 1
        outcome.created, outcome.updated = len(creates), len(updates)
        if write and not any(issues(c) for c in batch):
            outcome.ids = self._write(creates, updates)
        return outcome

    def finish(self, add_error: Callable[[int, str, str], None]) -> None:
        """Nothing to re-check: an institution's scope is its municipality, checked row by row."""

    def _in_scope(self, municipality_id: int) -> bool:
        return self.allowed is None or municipality_id in self.allowed

    def _write(self, creates: list[tuple[Candidate, dict]], updates: list[tuple[Candidate, dict]]) -> list[int]:
        now = utcnow()
        ids: list[int] = []
        if creates:
            rows = [
                {k: v for k, v in values.items() if k in TABLE_FIELDS} | {"created_at": now, "updated_at": None}
                for _c, values in creates
            ]
            ids.extend(insert_with_ids(self.session, self.table, rows, "external_id"))
        groups: dict[tuple, list[dict]] = defaultdict(list)
        for _candidate, changes in updates:
            params = {k: v for k, v in changes.items() if k != "id"} | {"_iid": changes["id"], "updated_at": now}
            groups[tuple(sorted(params))].append(params)
            ids.append(changes["id"])
        statement = self.table.update().where(self.table.c.id == bindparam("_iid"))
        for params in groups.values():
            self.session.execute(statement, params)
        return ids
