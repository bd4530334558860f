"""botocore's service models parsed once per test process instead of once per boto3 Session.

Every Session gets a Loader of its own, which parses the JSON models and endpoint rules again for each
client it makes (about 80 ms a client). The tests make a fresh session for each moto account, each
function runtime and many helper reads, so parsing was a third of the integration tier's time. The
files are the same for every session, so sharing what was parsed changes nothing but the time: entries
are keyed by the loader's search paths as well, as a Loader's own cache is by its instance.
"""

from __future__ import annotations

from collections.abc import Hashable
from typing import Any

import botocore.loaders
import botocore.session

_PARSED: dict[tuple[tuple[str, ...], Hashable], Any] = {}


class _SharedCache:
    """A Loader's ``_cache`` (all its ``instance_cache`` methods use) backed by the process-wide one."""

    def __init__(self, loader: botocore.loaders.Loader):
        self._loader = loader

    def _key(self, key: Hashable) -> tuple[tuple[str, ...], Hashable]:
        return tuple(self._loader.search_paths), key

    def __contains__(self, key: Hashable) -> bool:
        return self._key(key) in _PARSED

    def __getitem__(self, key: Hashable) -> Any:
        return _PARSED[self._key(key)]

    def __setitem__(self, key: Hashable, value: Any) -> None:
        _PARSED[self._key(key)] = value


def share_parsed_models() -> None:
    """From now on every botocore Session's loader reads parsed models from one cache (idempotent)."""
    create_loader = botocore.session.create_loader
    if getattr(create_loader, "shares_parsed_models", False):
        return

    def sharing_loader(search_path_string: str | None = None) -> botocore.loaders.Loader:
        loader = create_loader(search_path_string)
        loader._cache = _SharedCache(loader)  # type: ignore[attr-defined]  # botocore's instance_cache
        return loader

    sharing_loader.shares_parsed_models = True  # type: ignore[attr-defined]
    botocore.session.create_loader = sharing_loader
