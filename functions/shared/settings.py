"""Configuration as pydantic models, read from the environment once, at first use."""

from __future__ import annotations

import os
from typing import TypeVar

from pydantic import BaseModel, ConfigDict

ModelT = TypeVar("ModelT", bound="EnvironmentSettings")


class EnvironmentSettings(BaseModel):
    """Base for a function's settings: each field is read from the upper-cased env variable."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    @classmethod
    def from_environment(cls: type[ModelT]) -> ModelT:
        values = {name: os.environ[name.upper()] for name in cls.model_fields if name.upper() in os.environ}
        return cls.model_validate(values)
