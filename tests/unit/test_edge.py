"""The edge's pure parts: the pattern the web ACL compares Content-Length with, and its body limit."""

from __future__ import annotations

import re

import pytest

from functions.device_uploads.handler import MAX_UPLOAD_BYTES
from functions.shared.api import DEFAULT_MAX_BODY_BYTES
from infrastructure.edge import MAX_BODY_BYTES, decimal_above


@pytest.mark.parametrize("limit", [9, 10, 99, 100, 129, 999, MAX_BODY_BYTES, 1_048_576])
def test_the_pattern_matches_exactly_the_numbers_above_the_limit(limit):
    # Given the pattern for a limit
    pattern = re.compile(decimal_above(limit))
    # When numbers around it, far above it and with leading zeros are matched
    numbers = [*range(max(0, limit - 150), limit + 150), 0, limit * 10 + 7, 10 ** (len(str(limit)) + 3)]
    for number in numbers:
        for text in (str(number), f"00{number}"):
            # Then exactly those above the limit match
            assert bool(pattern.fullmatch(text)) is (number > limit), text
    # And nothing that is no number does
    assert not any(pattern.fullmatch(text) for text in ("", "abc", f"{limit + 1} ", f"-{limit + 1}"))


def test_the_edge_refuses_only_bodies_no_route_would_accept():
    # Given the largest body any route takes, Then the web ACL's limit is that, no less and no more
    assert max(DEFAULT_MAX_BODY_BYTES, MAX_UPLOAD_BYTES) == MAX_BODY_BYTES
