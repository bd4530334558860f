"""Run the benchmarks: ``python -m benchmarks [cold_start|requests|cpu|worklist_latency|load ...]`` (all by
default)."""

from __future__ import annotations

import argparse
import importlib

from benchmarks.report import heading

BENCHMARKS = {
    "cold_start": "benchmarks.cold_start",
    "requests": "benchmarks.requests_per_measurement",
    "cpu": "benchmarks.cpu_per_measurement",
    "worklist_latency": "benchmarks.worklist_latency",
    "load": "benchmarks.load",
}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__)
    parser.add_argument("names", nargs="*", metavar="name", help=f"{', '.join(BENCHMARKS)} (default: all)")
    names = parser.parse_args(argv).names or list(BENCHMARKS)
    unknown = sorted(set(names) - set(BENCHMARKS))
    if unknown:
        parser.error(f"unknown benchmark {', '.join(unknown)}; choose from {', '.join(BENCHMARKS)}")
    figures = []
    for name in names:
        figures += importlib.import_module(BENCHMARKS[name]).run()
    heading("summary")
    for figure in figures:
        print(figure.line())
    over = [figure.name for figure in figures if figure.verdict not in ("PASS", "INFO")]
    print(f"\n  {len(figures) - len(over)} of {len(figures)} figures within budget" if over else
          f"\n  all {len(figures)} figures within budget")
    return 0  # informational: benchmarks are not part of CI's pass/fail


if __name__ == "__main__":
    raise SystemExit(main())
