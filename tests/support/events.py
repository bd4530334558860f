"""The sample events in events/, as the tests start from them."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

EVENTS = Path(__file__).resolve().parents[2] / "events"


def load_event(name: str) -> dict[str, Any]:
    """A sample event by its path under events/, e.g. ``devices/register_device.json``."""
    return json.loads((EVENTS / name).read_text(encoding="utf-8"))
