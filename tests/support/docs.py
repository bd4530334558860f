"""What the docs state, read by the tests that hold the code to them: a JSON example and a table under a
heading of a Markdown file in the repository."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]


def json_block_after(path: str, heading: str) -> Any:
    """The first ```json block after ``heading`` in ``path`` (relative to the repository), parsed."""
    text = (ROOT / path).read_text(encoding="utf-8")
    start = text.index("```json", text.index(heading)) + len("```json")
    return json.loads(text[start:text.index("\n```", start)])


def table_after(path: str, heading: str) -> list[list[str]]:
    """The rows of the first Markdown table after ``heading`` (header and rule left out), cells stripped."""
    lines = (ROOT / path).read_text(encoding="utf-8")[0:].split("\n")
    start = next(index for index, line in enumerate(lines) if line.startswith(heading))
    table = next(index for index in range(start, len(lines)) if lines[index].startswith("|"))
    rows = []
    for line in lines[table + 2:]:
        if not line.startswith("|"):
            break
        rows.append([cell.strip() for cell in line.strip("|").split(" | ")])
    return rows
