"""Headless Chromium for the clinician web app's browser tests and the docs' screenshots.

Playwright drives the distribution's Chromium (`make test` installs it; Playwright's own browser download
is never used). Each page keeps its console errors and uncaught exceptions (a Content-Security-Policy
refusal is a console error), axe-core checks a page's accessibility, and screenshots go to an artefact
directory a CI run can keep.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from playwright.sync_api import Browser, ConsoleMessage, Page, ViewportSize, sync_playwright

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM_VARIABLE = "TELEHUB_CHROMIUM"
DEBIAN_CHROMIUM = "/usr/bin/chromium"
AXE_SCRIPT = ROOT / "web" / "node_modules" / "axe-core" / "axe.min.js"
ARTEFACTS = ROOT / ".artifacts" / "web"
# axe-core's impacts a page must not have; "moderate" and "minor" ones are reported, not failed.
BLOCKING_IMPACTS = frozenset({"serious", "critical"})
VIEWPORT: ViewportSize = {"width": 1280, "height": 800}


class BrowserMissing(RuntimeError):
    pass


def chromium_executable() -> str:
    """The Chromium to drive: $TELEHUB_CHROMIUM, else Debian's."""
    path = os.environ.get(CHROMIUM_VARIABLE) or DEBIAN_CHROMIUM
    if not os.access(path, os.X_OK):
        raise BrowserMissing(
            f"No Chromium at {path}: `make test` installs it (as root: apt-get install -y chromium), "
            f"or set {CHROMIUM_VARIABLE} to a Chromium executable")
    return path


def missing_for_browser_tests(web_dist: Path) -> list[str]:
    """What `make test` prepares and a browser test run directly would lack, each with how to get it."""
    missing = []
    if not (web_dist / "index.html").exists():
        missing.append(f"the built web app in {web_dist}: make web")
    if not AXE_SCRIPT.exists():
        missing.append(f"axe-core at {AXE_SCRIPT}: make web (it installs web/node_modules)")
    try:
        chromium_executable()
    except BrowserMissing as error:
        missing.append(str(error))
    return missing


@contextmanager
def chromium() -> Iterator[Browser]:
    """One headless Chromium, closed after the block."""
    with sync_playwright() as playwright:
        # Chromium's sandbox refuses to start as root, which CI and these machines run as.
        browser = playwright.chromium.launch(executable_path=chromium_executable(), args=["--no-sandbox"])
        try:
            yield browser
        finally:
            browser.close()


@dataclass
class WatchedPage:
    """A page in a context of its own (its own in-memory tokens), and what went wrong in it so far."""

    page: Page
    problems: list[str] = field(default_factory=list)

    def take_problems(self) -> list[str]:
        """The console errors (CSP refusals among them) and uncaught exceptions since the last call."""
        problems, self.problems = self.problems, []
        return problems

    def _console(self, message: ConsoleMessage) -> None:
        if message.type == "error":
            self.problems.append(f"console error at {self.page.url}: {message.text}")

    def _uncaught(self, error: Exception) -> None:
        self.problems.append(f"uncaught exception at {self.page.url}: {error}")


def watched_page(browser: Browser) -> WatchedPage:
    context = browser.new_context(viewport=VIEWPORT)
    page = context.new_page()
    watched = WatchedPage(page)
    page.on("console", watched._console)
    page.on("pageerror", watched._uncaught)
    return watched


@dataclass(frozen=True)
class Violation:
    rule: str
    impact: str
    help: str
    targets: tuple[str, ...]

    def __str__(self) -> str:
        return f"{self.impact}: {self.rule} ({self.help}) at {', '.join(self.targets)}"


_RUN_AXE = """async () => {
  const results = await axe.run(document, {resultTypes: ['violations']});
  return results.violations.map(v => ({rule: v.id, impact: v.impact || 'unknown', help: v.help,
                                       targets: v.nodes.map(node => node.target.join(' '))}));
}"""


def accessibility_violations(page: Page) -> list[Violation]:
    """axe-core's WCAG violations on the page as it is now."""
    if not page.evaluate("() => typeof window.axe === 'object'"):
        # Evaluated through the DevTools protocol, which the page's CSP does not govern: an added <script>
        # it would refuse (and report as a console error).
        page.evaluate(AXE_SCRIPT.read_text())
    found: list[dict[str, Any]] = page.evaluate(_RUN_AXE)
    return [Violation(item["rule"], item["impact"], item["help"], tuple(item["targets"])) for item in found]


def screenshot(page: Page, name: str, directory: Path = ARTEFACTS, full_page: bool = True) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / f"{name}.png"
    page.screenshot(path=str(path), full_page=full_page)
    return path


def sign_in(page: Page, web_url: str, organisation: str) -> None:
    """Open the app, which sends the browser to the dev issuer's sign-in page; sign in there as a clinician
    of the organisation, and wait until the app, back with its token, names who is signed in."""
    page.goto(web_url)
    page.locator('input[name="role"][value="clinician"]').check()
    page.locator(f'input[name="organisation"][value="{organisation}"]').check()
    page.locator('form[action="/oauth2/authorize"] button[type="submit"]').click()
    page.get_by_test_id("signed-in-as").wait_for()
