"""Hazards and escalation actions have one label table each (bcp_service.labels), like check states
(every hazard labelled: tests/triggers/test_pages.py).

If this fails, a code has no Japanese label (a raw code would show on a page or in a CSV) or a module
wrote its own copy of a table: add the label to labels.py, or read it from there.
"""

import re
from pathlib import Path

import bcp_service
from bcp_service import check_states as states
from bcp_service import labels
from bcp_service.escalation.policy import EscalationAction

ROOT = Path(bcp_service.__file__).parent
# CheckEvent actions written beside the policy's steps: a nurse assigned (rounds), the on-call page (escalation/oncall).
EVENT_ACTIONS = {"assign", "page"}


def test_every_escalation_action_has_a_label():
    assert set(labels.ESCALATION_ACTION_LABELS) == {a.value for a in EscalationAction} | EVENT_ACTIONS
    assert labels.ESCALATION_ACTION_LABELS["unreachable"].startswith(states.label("unreachable"))
    # The escalation CSV splits its history on spaces: a label is one word.
    assert not any(" " in label for label in labels.ESCALATION_ACTION_LABELS.values())


def _python_sources():
    for path in ROOT.rglob("*.py"):
        if path.name != "labels.py" and "twilio_sim" not in path.parts:
            yield path, path.read_text(encoding="utf-8")


def test_no_module_writes_its_own_hazard_or_action_labels():
    # Two codes of one table mapped to Japanese in one module: the table written again. (One alone may be
    # another vocabulary's word: "family" is also a contact kind, "other" a registry code.)
    copies = []
    for table in (labels.HAZARD_LABELS, labels.ESCALATION_ACTION_LABELS):
        pattern = re.compile(
            r'"({})"\s*:\s*f?"[^"]*[\u3040-\u30ff\u4e00-\u9fff]'.format("|".join(map(re.escape, table)))
        )
        for path, text in _python_sources():
            if len(found := {m.group(1) for m in pattern.finditer(text)}) > 1:
                copies.append(f"{path.relative_to(ROOT)}: {sorted(found)}")
    assert copies == []
