"""The factories of tests/gateway (a live gateway, partners, people, media) serve these tests too, and the
partner service on a clock the test moves."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "gateway"))

from partner_factories import clock, service  # noqa: F401  (fixtures)
