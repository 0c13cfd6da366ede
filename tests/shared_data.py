"""Where the project's shared reference data lives: ``../shared/data`` beside the clone (CI lays a copy
of ``shared/`` there); ``BCP_SHARED_DATA`` points elsewhere.

A fresh clone has nothing beside it, so every path is tested first on the project's own fixtures
(``tests/triggers/bulletins``, feeds written by the tests); a test that *also* replays the recorded
reference data is marked ``requires_shared`` and skips, saying why, when the folder is absent.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

SHARED_DATA = Path(os.environ.get("BCP_SHARED_DATA") or Path(__file__).resolve().parents[1].parent / "shared" / "data")

requires_shared = pytest.mark.skipif(
    not (SHARED_DATA / "jma").is_dir(),
    reason=f"the recorded JMA reference data is not at {SHARED_DATA} (only CI lays ../shared beside the clone; "
    "the same paths are tested on the project's own bulletins)",
)
