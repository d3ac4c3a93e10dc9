"""The factories of tests/gateway (a live gateway, partners, people, media) serve these tests too."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "gateway"))
