"""(a) Cold-start proxy: whole-process import time of each handler module against bare ``import boto3``.

Each probe is a fresh interpreter (``python -c "import <module>"``), so the time includes interpreter
start-up and every import the module pulls in, as a Lambda cold start's init phase does. Probes are
interleaved (boto3, handler 1, handler 2, ... per round) so machine noise hits all alike, and the
median of the rounds is compared. Lambda's runtime imports boto3 anyway in most functions; a handler
that costs at most 2.5x a bare boto3 import is lean, and the handlers of issue 7 (the evaluator and its
outboxes, the invalidation, the worklist, the missed-measurement schedule, the pauses) and the sharing
publisher of issue 8 are held to 2.0x.

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
from collections import Counter, defaultdict
from dataclasses import dataclass
from pathlib import Path

from benchmarks.report import Figure, heading, show
from infrastructure.resource_spec import SPEC

ROOT = Path(__file__).resolve().parent.parent
BUILD = ROOT / ".build"
BUDGET_RATIO = 2.5
# Stricter for the handlers added with alarm evaluation: each must stay close to boto3's own import.
NEW_HANDLER_BUDGETS = {
    "functions.alarm_evaluation.handler": 2.0,
    "functions.alarm_evaluation.api": 2.0,
    "functions.worklist.handler": 2.0,
    "functions.missed_measurements.handler": 2.0,
    "functions.missed_measurements.api": 2.0,
    "functions.cross_sector_sharing.handler": 2.0,  # the sharing publisher (issue 8)
}
BASELINE = "boto3"
# Bytecode magic numbers (first two bytes, little endian) of the CPython versions Lambda offers.
MAGIC_VERSIONS = {3495: "3.11", 3531: "3.12", 3571: "3.13"}
# PEP 552 flags: bit 0 = hash-based, bit 1 = check the source's hash on import.
_PYC_KINDS = {0b00: "timestamp", 0b10: "timestamp", 0b01: "hash-based unchecked", 0b11: "hash-based checked"}


def _environment() -> dict[str, str]:
    """The probe's environment: no AWS or Powertools settings, as importing must not need them. Bytecode
    is written (a PYTHONDONTWRITEBYTECODE of the caller's shell dropped), so that after the warm-up the
    project's modules load from .pyc as the Lambda asset's do, instead of being compiled in every probe."""
    return {name: value for name, value in os.environ.items()
            if not name.startswith(("AWS_", "POWERTOOLS_")) and name != "PYTHONDONTWRITEBYTECODE"}


def _import_seconds(module: str) -> float:
    started = time.perf_counter()
    subprocess.run([sys.executable, "-c", f"import {module}"], cwd=ROOT, env=_environment(), check=True)
    return time.perf_counter() - started


@dataclass(frozen=True)
class ImportTimes:
    """One ``-X importtime`` run of a module's import: each module's self and cumulative time (ms) and
    its depth in the tree of first imports (1: imported by the module itself)."""

    entries: list[tuple[str, float, float, int]]  # (name, self ms, cumulative ms, depth)

    @classmethod
    def of(cls, module: str) -> ImportTimes:
        result = subprocess.run(
            [sys.executable, "-X", "importtime", "-c", f"import {module}"],
            cwd=ROOT, env=_environment(), capture_output=True, text=True, check=True,
        )
        entries = []
        for line in result.stderr.splitlines():
            if line.startswith("import time:") and "cumulative" not in line:
                self_us, cumulative_us, name = line.removeprefix("import time:").split("|")
                depth = (len(name) - len(name.lstrip(" ")) - 1) // 2  # two spaces a level, after one
                entries.append((name.strip(), int(self_us) / 1000, int(cumulative_us) / 1000, depth))
        return cls(entries)

    def heaviest_packages(self, count: int = 5) -> list[tuple[str, float]]:
        """The packages whose own module bodies cost the most (self times summed per top-level package,
        so nothing is counted twice)."""
        per_package: dict[str, float] = defaultdict(float)
        for name, self_ms, _, _ in self.entries:
            per_package[name.split(".")[0]] += self_ms
        return sorted(per_package.items(), key=lambda package: package[1], reverse=True)[:count]

    def heaviest_direct_imports(self, count: int = 5) -> list[tuple[str, float]]:
        """The module's own imports that cost the most, each with everything it pulled in first."""
        direct = [(name, cumulative) for name, _, cumulative, depth in self.entries if depth == 1]
        return sorted(direct, key=lambda entry: entry[1], reverse=True)[:count]


def measure_imports(rounds: int) -> list[Figure]:
    modules = sorted({function.module for function in SPEC.functions})
    missing = sorted(set(NEW_HANDLER_BUDGETS) - set(modules))
    assert not missing, f"no function of the spec has the handler module {', '.join(missing)}"
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
        times = ImportTimes.of(module)
        heavy = ", ".join(f"{name} {ms:.0f} ms" for name, ms in times.heaviest_packages())
        print(f"      heaviest packages (import self time): {heavy}")
        budget = NEW_HANDLER_BUDGETS.get(module, BUDGET_RATIO)
        figure = show(Figure(f"import {module} / import boto3", median / baseline, "x", budget))
        if figure.verdict == "OVER":
            heavy = ", ".join(f"{name} {ms:.0f} ms" for name, ms in times.heaviest_direct_imports())
            print(f"      over: its own heaviest imports (with what each pulled in first): {heavy}")
        figures.append(figure)
    return figures


@dataclass(frozen=True)
class BytecodeReport:
    sources: int  # .py files
    covered: int  # .py files with a hash-based .pyc for the runtime's Python beside them
    compiled: Counter[tuple[str, str]]  # (python version, kind) -> number of .pyc files


def _pyc_kind(pyc: Path) -> tuple[str, str]:
    header = pyc.read_bytes()[:8]
    magic = int.from_bytes(header[:2], "little")
    flags = int.from_bytes(header[4:8], "little")
    return MAGIC_VERSIONS.get(magic, f"magic {magic}"), _PYC_KINDS[flags & 0b11]


def inspect_asset(asset: Path, runtime: str) -> BytecodeReport:
    compiled = Counter(_pyc_kind(pyc) for pyc in asset.rglob("*.pyc"))
    sources = list(asset.rglob("*.py"))
    tag = f"cpython-{runtime.replace('.', '')}"
    covered = 0
    for source in sources:
        pyc = source.parent / "__pycache__" / f"{source.stem}.{tag}.pyc"
        if pyc.exists() and _pyc_kind(pyc)[1].startswith("hash-based"):
            covered += 1
    return BytecodeReport(len(sources), covered, compiled)


def lambda_assets() -> list[Path]:
    """The bundles CDK's local bundling leaves under .build/ (infrastructure/packaging.py): the
    code (``lambda-code/<hash>``) and the dependencies layer (``lambda-dependencies/<hash>``)."""
    if not BUILD.is_dir():
        return []
    return sorted(path for path in BUILD.glob("*/*") if path.is_dir() and (path / ".complete").exists())


def lambda_python_version() -> str:
    """The Python version of the stack's Lambda runtime (importing the CDK takes a few seconds)."""
    os.environ.setdefault("JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION", "20")  # as app.py does
    from infrastructure.packaging import LAMBDA_PYTHON_VERSION

    return LAMBDA_PYTHON_VERSION


def report_assets() -> list[Figure]:
    assets = lambda_assets()
    if not assets:
        print(f"  no Lambda asset under {BUILD.relative_to(ROOT)}/: run `make synth` (it bundles the code), "
              "then run this again")
        return []
    runtime = lambda_python_version()
    print(f"  the stack's Lambda runtime: Python {runtime}")
    figures = []
    for asset in assets:
        report = inspect_asset(asset, runtime)
        name = asset.relative_to(BUILD).as_posix()
        print(f"  {name}: {report.sources} .py files, {sum(report.compiled.values())} .pyc")
        for (version, kind), count in sorted(report.compiled.items()):
            print(f"      {count:>6} x Python {version} {kind}")
        share = 100 * report.covered / report.sources if report.sources else 0.0
        figures.append(show(Figure(f"{name.split('/')[0]}: .py with hash-based {runtime} .pyc", share, "%",
                                   100, at_least=True)))
    return figures


def run(rounds: int = 7) -> list[Figure]:
    heading(f"(a) cold-start proxy: whole-process import time, median of {rounds} rounds")
    figures = measure_imports(rounds)
    heading("(a) Lambda asset bytecode (.build/, from `make synth`)")
    return figures + report_assets()


if __name__ == "__main__":
    run()
