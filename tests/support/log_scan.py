"""What the in-process functions write to logs and metrics, captured, and scanned for a test citizen's
personal and health data (DESIGN §6: no CPR, name or measurement value in logs, traces or metrics).

``FunctionLogs`` captures, while open, every record of the functions' Powertools logger at DEBUG, formatted
as Powertools formats it for CloudWatch (extra fields, appended keys and exceptions included), and the
embedded mode's own loggers (the gateway's request lines, a function's failure). The EMF metric documents
are the lines ``metrics.flush_metrics`` prints on stdout: the test captures stdout itself.

``PersonalDataScan`` finds in such text any CPR-shaped string (a CPR number Telehub would accept: ten
digits or six and four with a dash, between word boundaries, starting with a valid birth date, so that
timestamps, epoch milliseconds, SOR codes and hexadecimal ids are not taken for one), the test citizen's
name and each part of it, the phone number however its digits are spaced, the measured values as numbers,
and a questionnaire's answer.
"""

from __future__ import annotations

import io
import logging
import re
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass

from functions.shared.identifiers import InvalidIdentifier, normalise_cpr
from functions.shared.observability import logger

EMBEDDED_LOGGER = "telehub"  # the embedded mode's own loggers: telehub.gateway, .pollers, .functions
_CPR_SHAPED = re.compile(r"\b[0-9]{6}-?[0-9]{4}\b")


@dataclass(frozen=True)
class Leak:
    what: str  # which kind of data: "CPR-shaped string", "name", "phone number", ...
    found: str  # the text that matched
    line: str  # the whole captured line it is in

    def __str__(self) -> str:
        return f"{self.what} {self.found!r} in: {self.line[:300]}"


@dataclass(frozen=True)
class PersonalDataScan:
    """The test citizen's data as sent to Telehub; ``leaks`` finds any of it, or any CPR number, in text."""

    name: str
    phone: str
    measured_values: Sequence[str]  # decimals as sent, e.g. "83.417"; matched as whole numbers only
    question_ids: Sequence[str]  # the questions the citizen answered

    def leaks(self, text: str) -> list[Leak]:
        return [leak for line in text.splitlines() for leak in self._leaks_in(line)]

    def _leaks_in(self, line: str) -> Iterator[Leak]:
        for match in _CPR_SHAPED.finditer(line):
            if _is_cpr(match.group()):
                yield Leak("CPR-shaped string", match.group(), line)
        for what, pattern in self._patterns():
            for match in pattern.finditer(line):
                yield Leak(what, match.group(), line)

    def _patterns(self) -> Iterator[tuple[str, re.Pattern[str]]]:
        parts = [re.escape(part) for part in re.split(r"[\s-]+", self.name) if part]
        yield "name", re.compile(rf"\b(?:{'|'.join(parts)})\b", re.IGNORECASE)
        # The subscriber number's digits in any spacing, with or without the country code.
        subscriber = [digit for digit in self.phone.removeprefix("+45") if digit.isdigit()]
        yield "phone number", re.compile(r"(?<![0-9])" + r"[\s.-]?".join(subscriber) + r"(?![0-9])")
        for value in self.measured_values:
            yield "measured value", re.compile(rf"(?<![0-9.]){re.escape(value)}0*(?![0-9])")
        questions = "|".join(re.escape(question) for question in self.question_ids)
        yield "questionnaire answer", re.compile(rf"\b(?:{questions})\b\W{{1,12}}(?:yes|no)\b|\"answer\"\s*:")


def _is_cpr(text: str) -> bool:
    try:
        normalise_cpr(text)
    except InvalidIdentifier:
        return False
    return True


class FunctionLogs:
    """The lines captured so far, as CloudWatch would hold them."""

    def __init__(self) -> None:
        self._buffer = io.StringIO()

    @property
    def text(self) -> str:
        return self._buffer.getvalue()

    def handler(self, formatter: logging.Formatter | None) -> logging.Handler:
        handler = logging.StreamHandler(self._buffer)
        handler.setLevel(logging.DEBUG)
        if formatter is not None:
            handler.setFormatter(formatter)
        return handler


@contextmanager
def function_logs_at_debug() -> Iterator[FunctionLogs]:
    """Capture the functions' logger at DEBUG (the level a stage's POWERTOOLS_LOG_LEVEL may set; the
    logger is built once per process, so its level is set here rather than by the environment) and the
    embedded mode's loggers; both levels are restored afterwards."""
    captured = FunctionLogs()
    targets = [
        (logging.getLogger(logger.name), captured.handler(logger.registered_formatter)),
        (logging.getLogger(EMBEDDED_LOGGER), captured.handler(logging.Formatter("%(name)s %(message)s"))),
    ]
    levels = [target.level for target, _ in targets]
    for target, handler in targets:
        target.addHandler(handler)
        target.setLevel(logging.DEBUG)
    try:
        yield captured
    finally:
        for (target, handler), level in zip(targets, levels, strict=True):
            target.removeHandler(handler)
            target.setLevel(level)
