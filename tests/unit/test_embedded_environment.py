"""Environment variables set for a block and put back afterwards (embedded/environment.py)."""

from __future__ import annotations

import os

import pytest

from embedded.environment import environment


def test_variables_are_set_or_removed_for_the_block_and_restored_after(monkeypatch):
    # Given one variable set and one absent
    monkeypatch.setenv("TELEHUB_TEST_SET", "before")
    monkeypatch.delenv("TELEHUB_TEST_ABSENT", raising=False)
    # When a block sets the absent one and removes the set one, even if it fails
    changes = {"TELEHUB_TEST_SET": None, "TELEHUB_TEST_ABSENT": "during"}
    with pytest.raises(RuntimeError), environment(changes):
        assert "TELEHUB_TEST_SET" not in os.environ and os.environ["TELEHUB_TEST_ABSENT"] == "during"
        raise RuntimeError("the block failed")
    # Then both are as they were
    assert os.environ["TELEHUB_TEST_SET"] == "before" and "TELEHUB_TEST_ABSENT" not in os.environ
