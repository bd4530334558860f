"""The CDK app: one Telehub stack for the stage chosen with ``-c stage=<name>`` (default dev)."""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from aws_cdk import App, Environment

from infrastructure.compliance import apply_compliance_checks
from infrastructure.config import load_stage_config
from infrastructure.stack import TelehubStack

PROJECT_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_STAGE = "dev"


def feature_flags() -> dict[str, Any]:
    """cdk.json's context (the CDK feature flags), so ``python app.py`` and the tests build exactly
    what ``cdk synth`` builds (the CLI passes the same values again; they agree)."""
    flags: dict[str, Any] = json.loads((PROJECT_ROOT / "cdk.json").read_text()).get("context", {})
    return flags


def build_app(context: Mapping[str, Any] | None = None, outdir: str | None = None) -> App:
    app = App(context={**feature_flags(), **(context or {})}, outdir=outdir)
    stage = app.node.try_get_context("stage") or DEFAULT_STAGE
    config = load_stage_config(stage)
    TelehubStack(
        app, f"Telehub-{stage}",
        config=config,
        env=Environment(account=config.account, region=config.region),
        description=f"Telehub {stage}: central collection point for telemedical home measurements",
    )
    apply_compliance_checks(app)
    return app


def stack_of(app: App) -> TelehubStack:
    return next(child for child in app.node.children if isinstance(child, TelehubStack))
