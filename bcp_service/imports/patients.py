"""Patient rows: resolve references, validate with ``PatientCreate``, upsert by external id in bulk."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable
from enum import Enum

from pydantic import ValidationError
from sqlalchemy import bindparam, delete, select
from sqlmodel import Session, col

from bcp_service.auth import wall
from bcp_service.auth.principal import Principal, patient_scope
from bcp_service.auth.roles import Role
from bcp_service.imports.columns import (
    ADDRESS_FIELD,
    CONTACT_FIELD,
    CONTACT_KEY,
    CONTACT_KEY_OF_FIELD,
    MAX_CONTACTS,
    PATIENT_COLUMNS,
    Column,
)
from bcp_service.imports.lookups import (
    Lookups,
    allowed_municipalities,
    bulk_insert,
    chunks,
    insert_with_ids,
    internal_id,
    rows_by,
)
from bcp_service.imports.service import BatchOutcome, Candidate, RowIssues
from bcp_service.models import ContactAddress, Patient, PatientContact
from bcp_service.models.base import utcnow
from bcp_service.models.enums import INSTITUTION_KIND_JA
from bcp_service.registry.external_ids import owner_of, release
from bcp_service.registry.patient_links import PatientLinks
from bcp_service.registry.references import HOSPITAL_KINDS, NURSE_STATION_KINDS
from bcp_service.registry.risk import RiskInputs, derive_risk_tier
from bcp_service.registry.schemas import PatientCreate
from bcp_service.registry.validation import field_errors
from bcp_service.search_text import search_key

REFERENCE_KINDS = {"visiting_nurse_station_id": NURSE_STATION_KINDS, "backup_hospital_id": HOSPITAL_KINDS}
CONTACT_ORDER = ("kind", "name", "relation", "phone", "preferred_channel")
OUT_OF_SCOPE = "担当範囲外の患者になります。市町村コードや担当施設を確認してください (outside your scope)"
AMBIGUOUS = (
    "この外部IDは担当範囲の複数の患者に使われています。外部IDの代わりに #患者番号 "
    "(患者ページのアドレスの番号) で指定してください (several patients have this id)"
)


def plain(values: dict) -> dict:
    """Enum members to their stored strings, so comparisons and drivers see plain values."""
    return {k: (v.value if isinstance(v, Enum) else v) for k, v in values.items()}


def contact_tuple(contact: dict) -> tuple:
    return (*(contact.get(k) for k in CONTACT_ORDER), tuple(sorted((contact.get("addresses") or {}).items())))


def risk_tier(values: dict) -> str:
    return derive_risk_tier(RiskInputs(**{k: values[k] for k in RiskInputs.__dataclass_fields__})).value


class PatientImport:
    kind = "patients"
    columns: tuple[Column, ...] = PATIENT_COLUMNS

    def __init__(self, session: Session, principal: Principal | None) -> None:
        self.session = session
        self.principal = principal
        self.lookups = Lookups(session)
        self.allowed = allowed_municipalities(session, principal)
        self.links = PatientLinks(session, wall.home_prefecture(session, principal) if principal is not None else None)
        self.table = Patient.__table__
        self.contact_table = PatientContact.__table__
        self.by_key = {c.key: c for c in self.columns}
        self.key_of_field = {c.field: c.key for c in self.columns if not CONTACT_KEY.match(c.key)}
        self.contact_keys = frozenset(c.key for c in self.columns if CONTACT_KEY.match(c.key))
        self.slot_keys = [
            (slot, tuple((f"contact{slot}_{key}", schema_field) for key, schema_field in CONTACT_FIELD.items()))
            for slot in range(1, MAX_CONTACTS + 1)
        ]
        self.shapes: dict[frozenset[str], tuple[frozenset[str], list]] = {}
        t = self.table
        self.owner = owner_of(principal)
        scope = patient_scope(principal) if self.allowed is not None else []
        # External ids of the patients the caller sees, with whose register each came from. Patients
        # out of scope are not here: a row naming one of their ids creates a patient, as if the id
        # were unused (registry/external_ids.py).
        self.known: dict[str, list[tuple[int, str | None]]] = defaultdict(list)
        for external_id, patient_id, owner in session.execute(
            select(t.c.external_id, t.c.id, t.c.external_id_owner).where(t.c.external_id.is_not(None), *scope)
        ):
            self.known[external_id].append((patient_id, owner))
        # Patients the caller may already see (``#123`` rows); None when there is no limit.
        self.visible: set[int] | None = None
        if self.allowed is not None:
            self.visible = set(session.execute(select(t.c.id).where(*scope)).scalars())
        self.written: dict[int, int] = {}  # patient id -> line of the row that wrote it
        self.touched: set[int] = set()  # patients already matched by an earlier row, in any batch

    def shape(self, present: frozenset[str]) -> tuple[frozenset[str], list]:
        """For the file's columns: the table fields they set, and the contact slots they have."""
        if present not in self.shapes:
            fields = frozenset(
                self.by_key[k].field for k in present - self.contact_keys if not self.by_key[k].export_only
            )
            slots = [(slot, [(k, f) for k, f in keys if k in present]) for slot, keys in self.slot_keys]
            self.shapes[present] = (
                fields,
                [(slot, keys) for slot, keys in slots if keys] if present & self.contact_keys else None,
            )
        return self.shapes[present]

    def build(self, row: RowIssues, cells: dict[str, object], present: frozenset[str]) -> Candidate | None:
        had_errors = bool(row)
        fields, slot_keys = self.shape(present)
        key = cells.get("external_id")
        target = internal_id(key) if isinstance(key, str) else None
        payload: dict[str, object] = {} if target is not None else {"external_id": key}
        for column_key, value in cells.items():
            column = self.by_key[column_key]
            if value is None or column.kind == "key" or column_key in self.contact_keys:
                continue
            if column.kind == "code":
                value = self.lookups.municipality_by_code.get(value)
                if value is not None and self.links.outside("municipality_id", value):
                    value = None  # another prefecture's code reads as unknown (issue 23)
                if value is None:
                    row.add(column_key, "この市町村コードの市町村は登録されていません (unknown municipality code)")
                    continue
            elif column.kind == "ref":
                value = self._institution(row, column, value)
                if value is None:
                    continue
            payload[column.field] = value
        slots = self._contacts(cells, slot_keys, payload)
        try:
            model = PatientCreate.model_validate(payload)
        except ValidationError as exc:
            self._report(row, exc, slots, had_errors)
            return None
        if row:
            return None
        values = plain(model.model_dump(exclude={"contacts"}))
        if target is not None:
            values["id"] = target
            fields = fields - {"external_id"}
        contacts = None
        if "contacts" in payload:
            contacts = [plain(c.model_dump(include={*CONTACT_ORDER, "addresses"})) for c in model.contacts]
        return Candidate(row.line, str(key), values, fields, contacts)

    def _institution(self, row: RowIssues, column: Column, ref: str) -> int | None:
        found = self.lookups.institution(ref)
        if found is None:
            row.add(
                column.key, "この外部IDの施設は登録されていません。先に施設を取り込んでください (no such institution)"
            )
            return None
        institution_id, kind = found
        if self.links.outside(column.field, institution_id):  # behind the wall: as if unknown (issue 23)
            row.add(
                column.key, "この外部IDの施設は登録されていません。先に施設を取り込んでください (no such institution)"
            )
            return None
        kinds = REFERENCE_KINDS.get(column.field)
        if kinds and kind not in kinds:
            wanted = "・".join(INSTITUTION_KIND_JA[k] for k in sorted(kinds))
            row.add(
                column.key,
                f"この施設は{INSTITUTION_KIND_JA.get(kind, kind)}です。{wanted}を指定してください (wrong institution kind)",
            )
            return None
        return institution_id

    def _contacts(self, cells: dict[str, object], slot_keys: list | None, payload: dict) -> list[int]:
        """Put the filled contact slots into the payload; returns the slot number of each."""
        if slot_keys is None:
            return []
        slots, contacts = [], []
        for slot, keys in slot_keys:
            contact = {schema_field: cells[key] for key, schema_field in keys if cells.get(key) is not None}
            if not contact:
                continue
            addresses = {
                field.removeprefix(ADDRESS_FIELD): contact.pop(field)
                for field in list(contact)
                if field.startswith(ADDRESS_FIELD)
            }
            if addresses:
                contact["addresses"] = addresses
            contact.setdefault("kind", "self" if slot == 1 else "family")
            slots.append(slot)
            contacts.append(contact)
        payload["contacts"] = contacts
        return slots

    def _report(self, row: RowIssues, exc: ValidationError, slots: list[int], had_errors: bool) -> None:
        for loc, reason, model_rule in field_errors(exc):
            if model_rule and had_errors:
                continue  # a cell that failed to parse was left out, so the rule may be judging a default
            if len(loc) >= 3 and loc[0] == "contacts" and isinstance(loc[1], int) and loc[1] < len(slots):
                key = f"contact{slots[loc[1]]}_{CONTACT_KEY_OF_FIELD.get(str(loc[2]), loc[2])}"
            elif loc:
                key = self.key_of_field.get(str(loc[0]), str(loc[0]))
            else:
                key = None
            if key is None or key not in row.reported:
                row.add(key, reason)

    def apply(self, batch: list[Candidate], *, write: bool, issues: Callable[[Candidate], RowIssues]) -> BatchOutcome:
        existing, ambiguous = self._existing(batch)
        old_contacts = self._old_contacts([row["id"] for row in existing.values()])
        outcome = BatchOutcome()
        creates: list[tuple[Candidate, dict]] = []
        updates: list[tuple[Candidate, dict, bool]] = []
        for candidate in batch:
            old = existing.get(candidate.key)
            if candidate.key in ambiguous:
                issues(candidate).add("external_id", AMBIGUOUS)
                continue
            if old is None:
                if "id" in candidate.values:
                    issues(candidate).add(
                        "external_id", f"{candidate.key} の患者は登録されていません (no such patient)"
                    )
                    continue
                new = dict(candidate.values, risk_tier=risk_tier(candidate.values), external_id_owner=self.owner)
                new["hub_pinned"] = bool(new.get("hub_pinned"))
                if new.get("hub_id") is None:  # no hub named: the municipality's (issue 27.2)
                    new["hub_id"] = self.links.followed_hub(new.get("municipality_id"), None)
                if not self._in_scope(new):
                    issues(candidate).add(self._scope_column(), OUT_OF_SCOPE)
                    continue
                if self._breaks_link_rules(candidate, new, None, issues):
                    continue
                creates.append((candidate, new))
                continue
            if old["id"] in self.touched:
                issues(candidate).add("external_id", "同じ患者が別の行にもあります (the same patient appears twice)")
                continue
            self.touched.add(old["id"])
            merged = {**old, **{f: candidate.values[f] for f in candidate.present}}
            merged["risk_tier"] = risk_tier(merged)
            if not self._in_scope(merged):
                issues(candidate).add(self._scope_column(), OUT_OF_SCOPE)
                continue
            moved = {f for f in candidate.present if merged[f] != old[f]}
            # A patient who moves takes the new municipality's hub unless pinned or named in the row (issue 27.2).
            follows = "municipality_id" in moved and "hub_id" not in candidate.present and not old.get("hub_pinned")
            if follows:
                merged["hub_id"] = self.links.followed_hub(merged["municipality_id"], old["hub_id"])
                moved |= {"hub_id"} if merged["hub_id"] != old["hub_id"] else set()
            if self._breaks_link_rules(candidate, merged, moved, issues):
                continue
            changed = any(merged[f] != old[f] for f in (*candidate.present, "risk_tier", "hub_id"))
            new_contacts = candidate.contacts is not None and (
                [contact_tuple(c) for c in candidate.contacts] != old_contacts.get(old["id"], [])
            )
            if changed or new_contacts:
                update = {f: merged[f] for f in (*candidate.present, "risk_tier", "hub_id")} | {"id": old["id"]}
                update["name_search"] = search_key(merged["name"], merged["name_kana"])
                updates.append((candidate, update, new_contacts))
            else:
                outcome.unchanged += 1
        outcome.created, outcome.updated = len(creates), len(updates)
        if write and not any(issues(c) for c in batch):
            outcome.ids = self._write(creates, updates)
        return outcome

    def finish(self, add_error: Callable[[int, str, str], None]) -> None:
        """Check every written row with ``patient_scope`` itself, in SQL, before anything is kept:
        should ``_in_scope`` ever drift from it, the import is still refused."""
        if self.visible is None or not self.written:
            return
        visible = set(self.session.execute(select(self.table.c.id).where(*patient_scope(self.principal))).scalars())
        for patient_id in sorted(set(self.written) - visible):
            add_error(self.written[patient_id], self._scope_column(), OUT_OF_SCOPE)

    def _existing(self, batch: list[Candidate]) -> tuple[dict[str, dict], set[str]]:
        """Rows the batch's keys name among the patients the caller sees, read by primary key, and the
        keys that name several of them. Which keys exist comes from the map loaded once: an
        ``external_id IN (...)`` per batch goes to a sequential scan while the freshly filled table
        has no statistics, and the import turns quadratic."""
        wanted, ambiguous = {}, set()
        for candidate in batch:
            if "id" in candidate.values:
                patient_id = candidate.values["id"]
                if self.visible is not None and patient_id not in self.visible:
                    continue  # reported as "no such patient", like an id never used
            else:
                holders = self.known.get(candidate.key, [])
                own = [pid for pid, owner in holders if owner == self.owner]
                if len(holders) > 1 and not own:
                    ambiguous.add(candidate.key)
                    continue
                patient_id = own[0] if own else holders[0][0] if holders else None
            if patient_id is not None:
                wanted[patient_id] = candidate.key
        existing = {wanted[row["id"]]: row for row in rows_by(self.session, self.table, "id", list(wanted))}
        return existing, ambiguous

    def _old_contacts(self, patient_ids: list[int]) -> dict[int, list[tuple]]:
        grouped: dict[int, list[tuple]] = defaultdict(list)
        t = self.contact_table
        for part in chunks(patient_ids):
            addresses: dict[int, list[tuple[str, str]]] = defaultdict(list)
            for contact_id, kind, address in self.session.execute(
                select(ContactAddress.contact_id, ContactAddress.kind, ContactAddress.address)
                .join(PatientContact, col(PatientContact.id) == ContactAddress.contact_id)
                .where(col(PatientContact.patient_id).in_(part), col(ContactAddress.address).is_not(None))
            ):
                addresses[contact_id].append((kind, address))
            query = select(t.c.patient_id, t.c.id, *(t.c[k] for k in CONTACT_ORDER)).where(t.c.patient_id.in_(part))
            for row in self.session.execute(query.order_by(t.c.patient_id, t.c.position)):
                grouped[row[0]].append((*row[2:], tuple(sorted(addresses.get(row[1], ())))))
        return grouped

    def _in_scope(self, values: dict) -> bool:
        """The rule of ``patient_scope`` applied to values not yet written, so that a dry run reports
        it row by row; ``finish`` checks the written rows with the SQL rule itself."""
        if self.visible is None:
            return True
        sid = self.principal.scope_id
        if self.principal.role == Role.institution:
            return sid in (
                values["active_institution_id"],
                values["visiting_nurse_station_id"],
                values["backup_hospital_id"],
            )
        if self.principal.role == Role.hub and values["hub_id"] == sid:
            return True
        return values["municipality_id"] in self.allowed

    def _breaks_link_rules(self, candidate: Candidate, values: dict, moved: set[str] | None, issues) -> bool:
        """The hub and active-institution rules of the registry's forms and API (``registry.patient_links``)."""
        problems = self.links.rule_problems(values, moved)
        for field, message in problems:
            issues(candidate).add(self.key_of_field.get(field, field), message)
        return bool(problems)

    def _scope_column(self) -> str:
        return "active_institution_external_id" if self.principal.role == Role.institution else "municipality_code"

    def _write(self, creates: list[tuple[Candidate, dict]], updates: list[tuple[Candidate, dict, bool]]) -> list[int]:
        now = utcnow()
        ids: list[int] = []
        contact_rows: list[dict] = []
        replaced: list[int] = []
        if creates:
            rows = [
                dict(
                    new, created_at=now, updated_at=None, name_search=search_key(new.get("name"), new.get("name_kana"))
                )
                for _c, new in creates
            ]
            release(self.session, self.principal, [new["external_id"] for new in rows])
            new_ids = insert_with_ids(
                self.session, self.table, rows, "external_id", within={"external_id_owner": self.owner}
            )
            for (candidate, new), patient_id in zip(creates, new_ids, strict=True):
                self.known[new["external_id"]].append((patient_id, self.owner))
                self.written[patient_id] = candidate.line
                ids.append(patient_id)
                contact_rows.extend(self._contact_rows(patient_id, candidate.contacts or []))
        groups: dict[tuple, list[dict]] = defaultdict(list)
        for candidate, changes, new_contacts in updates:
            params = {k: v for k, v in changes.items() if k != "id"} | {"_pid": changes["id"], "updated_at": now}
            groups[tuple(sorted(params))].append(params)
            self.written[changes["id"]] = candidate.line
            ids.append(changes["id"])
            if new_contacts:
                replaced.append(changes["id"])
                contact_rows.extend(self._contact_rows(changes["id"], candidate.contacts or []))
        statement = self.table.update().where(self.table.c.id == bindparam("_pid"))
        for params in groups.values():
            self.session.execute(statement, params)
        for part in chunks(replaced):
            self.session.execute(delete(self.contact_table).where(self.contact_table.c.patient_id.in_(part)))
        bulk_insert(
            self.session,
            self.contact_table,
            [{k: v for k, v in row.items() if k != "_addresses"} for row in contact_rows],
        )
        self._write_addresses(contact_rows)
        return ids

    def _write_addresses(self, contact_rows: list[dict]) -> None:
        """The channels' own addresses (e-mail) of the contacts just written, as ``contact_address`` rows."""
        wanted = {(row["patient_id"], row["position"]): row["_addresses"] for row in contact_rows if row["_addresses"]}
        if not wanted:
            return
        t = self.contact_table
        rows = []
        for part in chunks(sorted({patient_id for patient_id, _ in wanted})):
            for contact_id, patient_id, position in self.session.execute(
                select(t.c.id, t.c.patient_id, t.c.position).where(t.c.patient_id.in_(part))
            ):
                for kind, address in (wanted.get((patient_id, position)) or {}).items():
                    rows.append({"contact_id": contact_id, "kind": kind, "address": address, "refused_since": None})
        bulk_insert(self.session, ContactAddress.__table__, rows)

    def _contact_rows(self, patient_id: int, contacts: list[dict]) -> list[dict]:
        return [
            {
                "patient_id": patient_id,
                "position": position,
                "bad_since": None,
                "bad_reason": None,
                **{k: contact.get(k) for k in CONTACT_ORDER},
                "_addresses": contact.get("addresses") or {},
            }
            for position, contact in enumerate(contacts, start=1)
        ]
