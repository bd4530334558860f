"""(a) Cold-start proxy: whole-process import time of each handler module against bare ``import boto3``.

Each probe is a fresh interpreter (``python -c "import <module>"``), so the time includes interpreter
start-up and every import the module pulls in, as a Lambda cold start's init phase does. Probes are
interleaved (boto3, handler 1, handler 2, ... per round) so machine noise hits all alike, and the
median of the rounds is compared. Lambda's runtime imports boto3 anyway in most functions; a handler
that costs at most 2.5x a bare boto3 import is lean.

It also inspects the Lambda asset the CDK stack bundles under .build/: Lambda's /var/task is
read-only, so bytecode not shipped in the asset is recompiled on every cold start. Hash-based .pyc
(PEP 552, flags bit 0 in bytes 4-8 of the header) stay valid whatever the files' timestamps are.
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from benchmarks.report import Figure, heading, show
from infrastructure.resource_spec import SPEC

ROOT = Path(__file__).resolve().parent.parent
BUILD = ROOT / ".build"
BUDGET_RATIO = 2.5
BASELINE = "boto3"
# Bytecode magic numbers (first two bytes, little endian) of the CPython versions Lambda offers.
MAGIC_VERSIONS = {3495: "3.11", 3531: "3.12", 3571: "3.13"}
# PEP 552 flags: bit 0 = hash-based, bit 1 = check the source's hash on import.
_PYC_KINDS = {0b00: "timestamp", 0b10: "timestamp", 0b01: "hash-based unchecked", 0b11: "hash-based checked"}


def _environment() -> dict[str, str]:
    """The probe's environment: no AWS or Powertools settings, as importing must not need them."""
    return {name: value for name, value in os.environ.items() if not name.startswith(("AWS_", "POWERTOOLS_"))}


def _import_seconds(module: str) -> float:
    started = time.perf_counter()
    subprocess.run([sys.executable, "-c", f"import {module}"], cwd=ROOT, env=_environment(), check=True)
    return time.perf_counter() - started


def heaviest_packages(module: str, count: int = 5) -> list[tuple[str, float]]:
    """The packages whose own module bodies cost the most in ``module``'s import (``-X importtime``
    self times summed per top-level package, so nothing is counted twice)."""
    result = subprocess.run(
        [sys.executable, "-X", "importtime", "-c", f"import {module}"],
        cwd=ROOT, env=_environment(), capture_output=True, text=True, check=True,
    )
    per_package: Counter = Counter()
    for line in result.stderr.splitlines():
        if line.startswith("import time:") and "cumulative" not in line:
            self_us, _, name = line.removeprefix("import time:").split("|")
            per_package[name.strip().split(".")[0]] += int(self_us) / 1000
    return per_package.most_common(count)


def measure_imports(rounds: int) -> list[Figure]:
    modules = sorted({function.module for function in SPEC.functions})
    functions = {module: [f.id for f in SPEC.functions if f.module == module] for module in modules}
    targets = [BASELINE, *modules]
    for target in targets:  # warm-up: compile bytecode caches, load files into the page cache
        _import_seconds(target)
    samples: dict[str, list[float]] = {target: [] for target in targets}
    for _ in range(rounds):
        for target in targets:
            samples[target].append(_import_seconds(target))
    baseline = statistics.median(samples[BASELINE])
    print(f"  bare `import {BASELINE}`: median {baseline * 1000:.1f} ms over {rounds} fresh processes")
    figures = []
    for module in modules:
        median = statistics.median(samples[module])
        print(f"  {module} ({', '.join(functions[module])}): median {median * 1000:.1f} ms")
        heavy = ", ".join(f"{name} {ms:.0f} ms" for name, ms in heaviest_packages(module))
        print(f"      heaviest packages (import self time): {heavy}")
        figures.append(show(Figure(f"import {module} / import boto3", median / baseline, "x", BUDGET_RATIO)))
    return figures


@dataclass(frozen=True)
class BytecodeReport:
    asset: Path
    sources: int
    compiled: Counter  # (python version, kind) -> count
    sources_without_bytecode: int


def inspect_asset(asset: Path) -> BytecodeReport:
    compiled: Counter = Counter()
    for pyc in asset.rglob("*.pyc"):
        header = pyc.read_bytes()[:8]
        magic = int.from_bytes(header[:2], "little")
        flags = int.from_bytes(header[4:8], "little")
        kind = _PYC_KINDS[flags & 0b11]
        compiled[(MAGIC_VERSIONS.get(magic, f"magic {magic}"), kind)] += 1
    sources = list(asset.rglob("*.py"))
    uncovered = sum(
        1 for source in sources if not any((source.parent / "__pycache__").glob(f"{source.stem}.*.pyc"))
    )
    return BytecodeReport(asset, len(sources), compiled, uncovered)


def lambda_assets() -> list[Path]:
    """Directories under .build/ that hold Telehub's function code (a ``functions`` package)."""
    if not BUILD.is_dir():
        return []
    return sorted({init.parent.parent for init in BUILD.rglob("functions/__init__.py")})


def report_assets() -> Figure | None:
    assets = lambda_assets()
    if not assets:
        print(f"  no Lambda asset under {BUILD.relative_to(ROOT)}/: run `make synth` (it bundles the code), "
              "then run this again")
        return None
    figure = None
    for asset in assets:
        report = inspect_asset(asset)
        print(f"  asset {asset.relative_to(ROOT)}: {report.sources} .py files, "
              f"{sum(report.compiled.values())} .pyc, {report.sources_without_bytecode} .py without a .pyc")
        for (version, kind), count in sorted(report.compiled.items()):
            print(f"      {count:>6} x Python {version} {kind}")
        hash_based = sum(count for (_, kind), count in report.compiled.items() if kind.startswith("hash"))
        share = hash_based / max(1, sum(report.compiled.values()))
        figure = show(Figure(f"{asset.name}: .pyc that are hash-based", share * 100, "%", 100, at_least=True))
    return figure


def run(rounds: int = 7) -> list[Figure]:
    heading(f"(a) cold-start proxy: whole-process import time, median of {rounds} rounds")
    figures = measure_imports(rounds)
    heading("(a) Lambda asset bytecode")
    asset_figure = report_assets()
    return figures + ([asset_figure] if asset_figure else [])


if __name__ == "__main__":
    run()
