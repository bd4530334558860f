"""Opaque page cursors: a position in a list (table keys only: ids, a type, instants, a rank; never a CPR
number or a measured value) with the scope of the list it belongs to, base64url-encoded. A cursor continues
only the list of its scope (the caller's and the filters'), so a cursor of another list is a 422."""

from __future__ import annotations

import base64
import binascii
import json

from functions.shared.errors import InvalidInput

CURSOR_PATTERN = r"^[A-Za-z0-9_-]{1,1024}$"
# The keys of the last item of a page (attribute name -> string value): where the next page starts.
Position = dict[str, str]


def invalid_cursor(field: str = "cursor") -> InvalidInput:
    return InvalidInput.for_field(field, "is no cursor of this list; ask for the first page again")


def encode_cursor(scope: str, position: Position | None) -> str | None:
    """The opaque cursor of a position in the list named by ``scope``; None for none (the last page)."""
    if position is None:
        return None
    text = json.dumps({"scope": scope, "after": position}, separators=(",", ":"), sort_keys=True)
    return base64.urlsafe_b64encode(text.encode()).decode().rstrip("=")


def decode_cursor(cursor: str | None, scope: str, field: str = "cursor") -> Position | None:
    """The position of a cursor of the list named by ``scope``; a 422 naming ``field`` for anything else, so a
    cursor of another organisation's list (or another episode's, or other filters') never reads it."""
    if cursor is None:
        return None
    try:
        decoded = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
    except (ValueError, binascii.Error):
        raise invalid_cursor(field) from None
    if not isinstance(decoded, dict) or decoded.get("scope") != scope:
        raise invalid_cursor(field)
    position = decoded.get("after")
    # DynamoDB refuses an empty key value (a 500 if it reached it), so a forged one is refused here.
    if not isinstance(position, dict) or not all(isinstance(value, str) and value
                                                 for value in position.values()):
        raise invalid_cursor(field)
    return position
