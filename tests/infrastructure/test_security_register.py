"""docs/security.md's register of cdk-nag acknowledgements is the synthesized stacks': every rule acknowledged
anywhere in dev or prod has its row, and no row names a rule that nothing acknowledges any more."""

from __future__ import annotations

from infrastructure.compliance import acknowledgements
from tests.support.docs import table_after

REGISTER = "## cdk-nag acknowledgements"


def test_the_register_is_the_rules_the_stacks_acknowledge(dev, prod):
    acknowledged = {ack.rule_id.split("[", 1)[0] for synthesized in (dev, prod)
                    for ack in acknowledgements(synthesized.app)}
    documented = {rule.strip("`") for rule, *_ in table_after("docs/security.md", REGISTER)}
    assert documented == acknowledged
