"""Where the project's shared reference data lives: ``../shared/data`` beside the clone (CI lays a copy
of ``shared/`` there); ``BCP_SHARED_DATA`` points elsewhere."""

from __future__ import annotations

import os
from pathlib import Path

SHARED_DATA = Path(os.environ.get("BCP_SHARED_DATA") or Path(__file__).resolve().parents[1].parent / "shared" / "data")
