"""One way to print a benchmark figure: value, budget, PASS or OVER."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Figure:
    name: str
    value: float
    unit: str
    budget: float | None = None  # None = reported only
    at_least: bool = False  # the budget is a floor, not a ceiling

    @property
    def verdict(self) -> str:
        if self.budget is None:
            return "INFO"
        if self.at_least:
            return "PASS" if self.value >= self.budget else "UNDER"
        return "PASS" if self.value <= self.budget else "OVER"

    def line(self) -> str:
        bound = ">=" if self.at_least else "<="
        budget = f"budget {bound} {self.budget:g}{self.unit}" if self.budget is not None else ""
        return f"  {self.name:<62} {self.value:>9.3f}{self.unit:<4} {budget:<20} {self.verdict}"


def heading(title: str) -> None:
    print(f"\n== {title}")


def show(figure: Figure) -> Figure:
    print(figure.line())
    return figure
