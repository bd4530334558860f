"""What every generated, committed file does the same way: write it, or check that it is current.

The generators (scripts.openapi, scripts.architecture_tables) build the text; this writes it, or with
``check`` compares it with the committed file and, when they differ, shows the start of the difference
and the command that brings the file up to date.
"""

from __future__ import annotations

import difflib
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DIFF_LINES_SHOWN = 60


def shown(path: Path) -> Path:
    """The path as a reader of the output finds it: relative to the project when inside it."""
    return path.relative_to(ROOT) if path.is_relative_to(ROOT) else path


def write_or_check(path: Path, generated: str, *, check: bool, source: str, command: str) -> int:
    """Write ``generated`` to ``path`` (exit status 0), or with ``check`` return 0 if the committed file
    is the same and 1, after explaining, if not. ``source`` names what the file is generated from;
    ``command`` is how to regenerate it."""
    current = path.read_text(encoding="utf-8") if path.exists() else ""
    if check:
        if current == generated:
            print(f"{shown(path)} is up to date")
            return 0
        diff = difflib.unified_diff(current.splitlines(), generated.splitlines(),
                                    f"{shown(path)} (committed)", f"{shown(path)} (from {source})",
                                    lineterm="", n=1)
        print("\n".join(list(diff)[:DIFF_LINES_SHOWN]), file=sys.stderr)
        print(f"\n{shown(path)} is stale: {source} changed. Run `{command}` and commit the result.",
              file=sys.stderr)
        return 1
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(generated, encoding="utf-8")
    print(f"wrote {shown(path)}" if generated != current else f"{shown(path)} was up to date")
    return 0
