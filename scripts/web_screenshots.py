"""Regenerate the clinician web app's screenshots in docs/images/ from the demo's data.

    make web && .venv/bin/python -m scripts.web_screenshots

Starts the embedded mode on free ports (its state in a temporary directory), runs the demo scenario, signs
in as the municipality's nurse in headless Chromium (the browser tests' one: $TELEHUB_CHROMIUM or Debian's
/usr/bin/chromium) and writes the worklist and the citizen's SpO2 chart, a small viewport each, as PNG.
"""

from __future__ import annotations

import logging
import sys
import tempfile
from dataclasses import replace
from pathlib import Path

from playwright.sync_api import Locator, Page, ViewportSize

from embedded.cli import demo_for
from embedded.local import LocalOptions, LocalSystem
from embedded.organisations import NURSES_SOR
from scripts.generated_files import ROOT
from tests.support.browser import chromium, sign_in

IMAGES = ROOT / "docs" / "images"
WORKLIST_IMAGE = IMAGES / "web-worklist.png"
CHART_IMAGE = IMAGES / "web-chart.png"
# Small enough for a docs page and its diff, large enough to read: the app's layout at a laptop's width.
VIEWPORT: ViewportSize = {"width": 1100, "height": 640}
MARGIN = 16  # pixels below the last element shown
CHART_TYPE = "spo2"  # the demo's RED measurement is an SpO2


def main() -> int:
    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # moto's server logs every request
    with tempfile.TemporaryDirectory(prefix="telehub-screenshots-") as state_dir, LocalSystem(
            LocalOptions(port=0, moto_port=0, state_dir=Path(state_dir))) as system:
        said: list[str] = []
        if not replace(demo_for(system), say=said.append).run():
            print("\n".join(said), file=sys.stderr)
            print("The demo failed, so there is nothing to photograph.", file=sys.stderr)
            return 1
        with chromium() as browser:
            page = browser.new_context(viewport=VIEWPORT).new_page()
            sign_in(page, system.web_url, NURSES_SOR)
            first_row = page.get_by_test_id("worklist-row").first
            first_row.wait_for()
            IMAGES.mkdir(parents=True, exist_ok=True)
            photograph_down_to(page, page.get_by_test_id("worklist"), WORKLIST_IMAGE)
            first_row.get_by_test_id("open-episode").click()
            chart = page.locator(f'[data-testid="chart"][data-type="{CHART_TYPE}"]')
            chart.locator("canvas").first.wait_for()
            photograph_down_to(page, chart, CHART_IMAGE)
    for image in (WORKLIST_IMAGE, CHART_IMAGE):
        print(f"wrote {image.relative_to(ROOT)} ({image.stat().st_size // 1024} KiB)")
    return 0


def photograph_down_to(page: Page, last: Locator, path: Path) -> None:
    """The page from its top down to the bottom of ``last``, once every request (the citizens' names among
    them) has been answered."""
    page.wait_for_load_state("networkidle")
    box = last.bounding_box()
    assert box is not None, "the element is not shown"
    page.screenshot(path=str(path), full_page=True, clip={
        "x": 0, "y": 0, "width": VIEWPORT["width"], "height": box["y"] + box["height"] + MARGIN})


if __name__ == "__main__":
    sys.exit(main())
