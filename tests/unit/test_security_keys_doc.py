"""docs/security.md's Keys table names every KMS key of the resource spec, so a key cannot be added
without the page saying what it does, who may use it and how it rotates."""

from __future__ import annotations

from infrastructure.resource_spec import SPEC
from tests.support.docs import table_after


def test_every_key_of_the_spec_has_one_row_on_the_security_page():
    # Given the page's Keys table
    rows = table_after("docs/security.md", "## Keys")
    named = [row[0].strip("`") for row in rows]
    # Then each key of the spec is named in exactly one row, and a symmetric key's row says KMS rotates it
    for key in SPEC.keys:
        assert named.count(key.id) == 1, key.id
        if key.key_spec == "SYMMETRIC_DEFAULT":
            assert rows[named.index(key.id)][-1] == "yearly, by KMS", key.id
