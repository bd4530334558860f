"""The integration tier's one way to call a function: through the embedded mode's runtime, with
exactly the function's own environment from the resource spec, as Lambda gives it.

So a table, queue or key the spec forgot to grant one function fails in this tier, not only in AWS.
The ``resources`` fixture makes a runtime current for its test; ``invoke`` and the pollers use it.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from embedded.lambda_runtime import FunctionEnvironments, FunctionRuntime
from infrastructure.resource_spec import SPEC, FunctionSpec, PlatformSettings, ResourceNames

STAGE = "test"
REGION = "eu-west-1"
PLATFORM = PlatformSettings(
    stage=STAGE,
    token_issuer="https://idp.test.telehub.dk/",
    token_audience="telehub-test",
    jwks_uri="https://idp.test.telehub.dk/.well-known/jwks.json",
    device_credential_issuer="https://telehub.test/device-credentials",
)


@dataclasses.dataclass
class IsolatedFunctions:
    """A runtime that runs each function with its own environment, and the environments it uses."""

    runtime: FunctionRuntime
    environments: FunctionEnvironments

    def use_platform(self, **changes: Any) -> None:
        """Run the functions with other platform settings from now on (another JWKS URI, say)."""
        self.environments = dataclasses.replace(
            self.environments, platform=dataclasses.replace(self.environments.platform, **changes)
        )
        self.runtime.isolate(self.environments)


_current: IsolatedFunctions | None = None


@contextmanager
def isolated_functions(names: ResourceNames) -> Iterator[IsolatedFunctions]:
    """Make a fresh isolated runtime current while the block runs (each test's functions start cold)."""
    global _current
    functions = IsolatedFunctions(FunctionRuntime(STAGE, REGION), FunctionEnvironments(names, PLATFORM))
    functions.runtime.isolate(functions.environments)
    _current = functions
    try:
        yield functions
    finally:
        _current = None


def current() -> IsolatedFunctions:
    assert _current is not None, "functions run inside the resources fixture"
    return _current


def invoke(function: str | FunctionSpec, event: dict[str, Any]) -> Any:
    """Invoke a function of the spec (by id) or a variant of one, as its event source would."""
    spec = SPEC.function(function) if isinstance(function, str) else function
    return current().runtime.invoke(spec, event)
