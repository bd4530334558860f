"""The clinician web app in a real browser (headless Chromium) against the embedded mode, which serves it:
the municipality's nurse signs in through the dev issuer's sign-in page, finds a citizen's RED row at the
top of her worklist, reads the chart against the thresholds and acknowledges the alarm; a nurse of another
organisation never sees the row; the UI switches to English; every page passes axe-core without a serious
or critical violation, and no page logs an error or has anything refused by its Content-Security-Policy.
Screenshots of each page are written to .artifacts/web/."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import pytest
from playwright.sync_api import Browser, Locator, Page, expect

from embedded.api_client import ApiReply, call
from embedded.local import LocalSystem
from embedded.organisations import GP_YDERNUMMER, HOSPITAL_SOR, LOGISTICS_CENTRE_SOR, NURSES_SOR
from tests.support.browser import (
    BLOCKING_IMPACTS,
    WatchedPage,
    accessibility_violations,
    chromium,
    missing_for_browser_tests,
    screenshot,
    sign_in,
    watched_page,
)

pytestmark = [pytest.mark.e2e, pytest.mark.browser]

# Test citizens of this module only.
RED_CITIZEN, RED_CITIZEN_NAME = "1212121218", "Inger Sørensen"
RED_SPO2, GREEN_SPO2S = 80, (96, 95, 97)
SPO2_LIMITS = ("88", "92")  # the COPD default: RED below 88 %, YELLOW below 92 %
WAIT_SECONDS = 30  # how long the evaluator behind the queue may take (a bound, not a measurement)
# How long an expectation about a page waits for it to hold: Playwright's 5 s default is tight on a 2-core
# machine running the other tiers at the same time (a bound, not a measurement).
EXPECT_MILLISECONDS = 15_000
BAND_PIXELS = 1000  # fewer reddish or yellowish pixels on the chart's canvas than this, and a band is missing
NOTE = "Ringet til borgeren: målt igen, 94 %."
READINGS_APART = timedelta(minutes=1)  # the last of the four 4 minutes after the referral: the API takes 10


@dataclass(frozen=True)
class RedEpisode:
    episode_id: str
    alarm_id: str


def as_org(system: LocalSystem, method: str, path: str, organisation: str, body: Any = None,
           role: str = "clinician") -> ApiReply:
    assert system.issuer is not None
    token = system.issuer.mint(role, organisation=organisation)
    return call(method, f"{system.gateway_url}{path}", token, body)


def worklist_rows(system: LocalSystem, organisation: str, holds: Callable[[list[dict[str, Any]]], bool]
                  ) -> list[dict[str, Any]]:
    """The organisation's worklist rows once ``holds`` is true of them (the evaluator works behind a queue),
    or as they are when the wait runs out."""
    deadline = time.monotonic() + WAIT_SECONDS
    while True:
        reply = as_org(system, "GET", "/v1/worklist?limit=100", organisation)
        assert reply.status == 200, reply.body
        if holds(reply.body["rows"]) or time.monotonic() > deadline:
            rows: list[dict[str, Any]] = reply.body["rows"]
            return rows
        time.sleep(0.2)


@pytest.fixture(scope="module")
def red_episode(local_system: LocalSystem) -> RedEpisode:
    """A COPD citizen monitored by the nurses, whose oximeter uploaded three GREEN SpO2 values and then a RED
    one, all evaluated: the RED alarm is on the nurses' worklist. (Measured since the referral: before its
    first threshold version a measurement has no colour, and the chart no band. A minute apart, by an
    oximeter whose clock runs a few minutes ahead, as the API allows: the chart still shows them, though the
    browser's clock says they are yet to come.)"""
    referral = {"referral_id": f"e2e-web-{uuid.uuid4().hex[:12]}",
                "citizen": {"cpr": RED_CITIZEN, "name": RED_CITIZEN_NAME, "phone": "+45 20 30 40 51"},
                "disease_area": "copd", "treating_organisation": GP_YDERNUMMER,
                "monitoring_organisation": NURSES_SOR, "logistics_centre": LOGISTICS_CENTRE_SOR}
    referred = as_org(local_system, "POST", "/v1/referrals", GP_YDERNUMMER, referral)
    if referred.status == 409:
        # This fixture ran before in this process (pytest-xdist hands a module's tests out one at a time, so
        # a module may come back to a process after others): end that episode and refer the citizen again.
        [open_episode] = [error["message"].removeprefix("open episode ") for error in referred.body["errors"]]
        ended = as_org(local_system, "POST", f"/v1/episodes/{open_episode}/end", GP_YDERNUMMER, {})
        assert ended.status == 204, ended.body
        referral["referral_id"] = f"e2e-web-{uuid.uuid4().hex[:12]}"
        referred = as_org(local_system, "POST", "/v1/referrals", GP_YDERNUMMER, referral)
    assert referred.status == 201, referred.body
    episode_id = referred.body["episode_id"]
    episode = as_org(local_system, "GET", f"/v1/episodes/{episode_id}", GP_YDERNUMMER)
    assert episode.status == 200, episode.body
    device = as_org(local_system, "POST", "/v1/devices", LOGISTICS_CENTRE_SOR, {
        "cpr": RED_CITIZEN, "vendor": "Nonin", "model": "3230", "serial": f"e2e-web-{uuid.uuid4().hex[:12]}",
        "measurement_types": ["spo2"]}, role="logistics")
    assert device.status == 201, device.body
    values = [*GREEN_SPO2S, RED_SPO2]
    since = datetime.fromisoformat(episode.body["thresholds"]["valid_from"])
    measurements = [{"type": "spo2", "value": value, "unit": "%", "measured_at": (since + READINGS_APART * (
                     index + 1)).isoformat(), "method": "automatic"} for index, value in enumerate(values)]
    # With the RED value, the citizen answered one question of the COPD questionnaire (GREEN)
    answered = {"question_id": "coloured_sputum", "answer": "no",
                "answered_at": (since + READINGS_APART * len(values)).isoformat()}
    sent = call("POST", f"{local_system.gateway_url}/v1/measurements", device.body["credential"],
                {"upload_id": f"e2e-web-{uuid.uuid4().hex[:12]}", "measurements": measurements,
                 "answers": [answered]})
    assert sent.status == 202, sent.body
    rows = worklist_rows(local_system, NURSES_SOR, lambda rows: any(
        row["episode_id"] == episode_id and (row["alarm"] or {}).get("colour") == "RED" for row in rows))
    [row] = [row for row in rows if row["episode_id"] == episode_id]
    return RedEpisode(episode_id, row["alarm"]["alarm_id"])


@pytest.fixture(scope="module")
def browser(local_system: LocalSystem) -> Iterator[Browser]:
    missing = missing_for_browser_tests(local_system.options.web_dist)
    if missing:
        pytest.fail("The browser tests need " + "; ".join(missing), pytrace=False)
    expect.set_options(timeout=EXPECT_MILLISECONDS)
    with chromium() as browser:
        yield browser


@pytest.fixture(scope="module")
def nurse(browser: Browser, local_system: LocalSystem) -> WatchedPage:
    """The municipality's nurse, signed in through the sign-in page, on her worklist (one page for the
    module: the tokens live in the page's memory only)."""
    watched = watched_page(browser)
    sign_in(watched.page, local_system.web_url, NURSES_SOR)
    return watched


def go(page: Page, route: str) -> None:
    """Another page of the app without reloading it (a reload would forget the tokens)."""
    page.evaluate("route => { location.hash = route; }", route)


def worklist_row(page: Page, episode_id: str) -> Locator:
    return page.locator(f'[data-testid="worklist-row"][data-episode-id="{episode_id}"]')


def refreshed_until(page: Page, holds: Callable[[], bool]) -> None:
    """Press refresh until ``holds`` (the server's worklist follows an acknowledgement behind a queue)."""
    deadline = time.monotonic() + WAIT_SECONDS
    while not holds() and time.monotonic() < deadline:
        page.get_by_test_id("refresh").click()
        page.wait_for_timeout(300)


def band_pixels(chart: Locator) -> dict[str, int]:
    """How many pixels of the chart's canvas are reddish and how many yellowish: the shaded RED and YELLOW
    bands, whatever their exact shade or opacity (the grid, axes and text are grey or black)."""
    counts: dict[str, int] = chart.locator("canvas").first.evaluate(
        """canvas => {
             const pixels = canvas.getContext('2d').getImageData(0, 0, canvas.width, canvas.height).data;
             const counts = {red: 0, yellow: 0};
             for (let i = 0; i < pixels.length; i += 4) {
               const [r, g, b, alpha] = [pixels[i], pixels[i + 1], pixels[i + 2], pixels[i + 3]];
               if (alpha === 0) continue;
               if (r > g + 20 && r > b + 20 && !(g > 180 && b < g - 30)) counts.red += 1;
               else if (r > 200 && g > 180 && b < g - 30) counts.yellow += 1;
             }
             return counts;
           }""")
    return counts


def red_band_around_red_point(chart: Locator) -> dict[str, int]:
    """How many pixels of the shaded RED band lie left and right of the RED point on the chart's canvas (more
    than a point's width away from its centre): red pixels, the band's translucent and the point's opaque."""
    counts: dict[str, int] = chart.locator("canvas").first.evaluate(
        """canvas => {
             const {width, height} = canvas;
             const pixels = canvas.getContext('2d').getImageData(0, 0, width, height).data;
             const band = [], point = [];
             for (let i = 0; i < pixels.length; i += 4) {
               const [r, g, b, alpha] = [pixels[i], pixels[i + 1], pixels[i + 2], pixels[i + 3]];
               if (alpha === 0) continue;
               const x = (i / 4) % width;
               if (r < g + 60 || g > 110) continue;  // not red: the grid, the axes, the YELLOW band
               (alpha < 128 ? band : point).push(x);  // the band is translucent, a point opaque
             }
             if (point.length === 0) return {left: 0, right: 0, point: 0};
             const centre = point.reduce((sum, x) => sum + x, 0) / point.length;
             const margin = 12 * devicePixelRatio;
             return {left: band.filter(x => x < centre - margin).length,
                     right: band.filter(x => x > centre + margin).length, point: point.length};
           }""")
    return counts


def test_the_nurse_finds_the_red_row_on_top_reads_the_chart_and_acknowledges_the_alarm(
        local_system: LocalSystem, browser: Browser, nurse: WatchedPage, red_episode: RedEpisode):
    page = nurse.page
    # Given the nurse signed in as her organisation, on her worklist
    go(page, "#/")
    expect(page.get_by_test_id("signed-in-as")).to_contain_text(NURSES_SOR)
    # When she refreshes it
    page.get_by_test_id("refresh").click()
    # Then the citizen's RED row is at the top, and the summary counts RED
    first_row = page.get_by_test_id("worklist-row").first
    expect(first_row).to_have_attribute("data-episode-id", red_episode.episode_id)
    expect(first_row).to_have_attribute("data-colour", "RED")
    expect(page.get_by_test_id("colour-counts")).to_contain_text("RØD")

    # And a nurse of another organisation, signed in as the hospital, does not see the row
    other = watched_page(browser)
    sign_in(other.page, local_system.web_url, HOSPITAL_SOR)
    expect(other.page.get_by_test_id("worklist")).to_be_visible()
    expect(worklist_row(other.page, red_episode.episode_id)).to_have_count(0)
    assert other.take_problems() == []
    other.page.context.close()

    # When the nurse opens the citizen
    first_row.get_by_test_id("open-episode").click()
    # Then the episode names the citizen, and the SpO2 chart is drawn with the RED value outside the band,
    # beside the limits of the thresholds valid then
    expect(page.get_by_test_id("citizen-name")).to_have_text(RED_CITIZEN_NAME)
    chart = page.locator('[data-testid="chart"][data-type="spo2"]')
    expect(chart.locator("canvas").first).to_be_visible()
    outside = chart.locator('[data-testid="chart-point"][data-outside-band="true"]')
    expect(outside).to_have_count(1)
    expect(outside).to_have_attribute("data-value", str(RED_SPO2))
    expect(outside).to_have_attribute("data-colour", "RED")
    assert set(SPO2_LIMITS) <= {cell.strip() for cell in outside.locator("td").all_text_contents()}
    inside = chart.locator('[data-testid="chart-point"][data-outside-band="false"]')
    expect(inside).to_have_count(len(GREEN_SPO2S))
    for index in range(len(GREEN_SPO2S)):
        expect(inside.nth(index)).to_have_attribute("data-colour", "GREEN")
    # (the bands are drawn: thousands of pixels each, where a point is a few dozen)
    drawn = band_pixels(chart)
    assert drawn["red"] > BAND_PIXELS and drawn["yellow"] > BAND_PIXELS, drawn
    # (and the RED point, measured after version 1's valid_from, is drawn inside the RED band: shaded on both
    # sides of it, as the version valid then judged it)
    around = red_band_around_red_point(chart)
    assert around["point"] > 0 and around["left"] > BAND_PIXELS and around["right"] > 0, around
    # And the questionnaire answer is listed, worded in Danish, in its colour
    answer = page.get_by_test_id("answer")
    expect(answer).to_have_count(1)
    expect(answer).to_have_attribute("data-colour", "GREEN")
    expect(answer).to_contain_text("Farvet opspyt?")

    # When she acknowledges the RED alarm with a note
    alarm = page.locator(f'[data-testid="alarm"][data-alarm-id="{red_episode.alarm_id}"]')
    expect(alarm).to_have_attribute("data-state", "open")
    expect(alarm).to_contain_text(f"{RED_SPO2} %")  # the value that raised it
    alarm.get_by_test_id("acknowledge-note").fill(NOTE)
    alarm.get_by_test_id("acknowledge").click()
    # Then the alarm shows acknowledged
    expect(alarm).to_have_attribute("data-state", "acknowledged")
    # And on her worklist the row is no longer RED (gone, or showing what else waits)
    go(page, "#/")
    row = worklist_row(page, red_episode.episode_id)
    refreshed_until(page, lambda: row.count() == 0 or row.get_attribute("data-colour") != "RED")
    assert row.count() == 0 or row.get_attribute("data-colour") != "RED"
    # And nothing was logged as an error or refused by the CSP on the way
    assert nurse.take_problems() == []


def test_signing_in_leaves_no_code_in_the_address_and_no_token_in_storage(nurse: WatchedPage):
    # Given the nurse signed in through the sign-in page (the nurse fixture)
    page = nurse.page
    # Then the code and state of the redirect are gone from the address
    assert "code=" not in page.url and "state=" not in page.url
    # And nothing is kept in the browser's storage or cookies: the token lives in the page's memory, and the
    # PKCE verifier and state only for the redirect's round trip
    assert page.evaluate("() => [localStorage.length, sessionStorage.length]") == [0, 0]
    assert page.context.cookies() == []
    assert nurse.take_problems() == []


def test_a_401_from_the_api_sends_the_nurse_to_sign_in_again(local_system: LocalSystem, browser: Browser):
    # Given a nurse signed in, whose token the API stops taking (expired, say)
    watched = watched_page(browser)
    page = watched.page
    sign_in(page, local_system.web_url, NURSES_SOR)
    page.route("**/v1/worklist*", lambda route: route.fulfill(
        status=401, content_type="application/problem+json",
        body='{"type": "about:blank", "title": "Unauthorized", "status": 401}'))
    # When the worklist is refreshed
    page.get_by_test_id("refresh").click()
    # Then the browser is at the sign-in page
    expect(page.locator('form[action="/oauth2/authorize"]')).to_be_visible()
    # And only the refused request was logged as an error
    assert [problem for problem in watched.take_problems() if "status of 401" not in problem] == []
    page.context.close()


def test_the_worklist_refreshes_itself_every_30_seconds_without_a_reload_while_shown(
        local_system: LocalSystem, browser: Browser):
    # Given a nurse on her worklist, in a browser whose clock the test moves
    watched = watched_page(browser)
    page = watched.page
    page.clock.install()
    sign_in(page, local_system.web_url, NURSES_SOR)
    expect(page.get_by_test_id("worklist")).to_be_visible()
    page.clock.pause_at(page.evaluate("() => Date.now()") + 1)  # from now on only the test moves it
    page.evaluate("() => { window.sameDocument = true; }")
    # When 30 seconds pass
    with page.expect_request(lambda request: "/v1/worklist" in request.url) as refreshed:
        page.clock.run_for(30_000)
    # Then the page asked for its worklist again, in the same document
    assert refreshed.value.method == "GET"
    assert page.evaluate("() => window.sameDocument") is True
    # And once the tab is hidden, 30 seconds more ask for nothing (each read is an access-log entry per row)
    asked: list[str] = []
    page.on("request", lambda request: asked.append(request.url) if "/v1/worklist" in request.url else None)
    set_hidden = ("hidden => { Object.defineProperty(document, 'hidden', {value: hidden,"
                  " configurable: true});"
                  " document.dispatchEvent(new Event('visibilitychange')); }")
    page.evaluate(set_hidden, True)
    page.clock.run_for(30_000)
    page.wait_for_timeout(300)
    assert asked == []
    # And showing it again asks at once
    with page.expect_request(lambda request: "/v1/worklist" in request.url):
        page.evaluate(set_hidden, False)
    assert watched.take_problems() == []
    page.context.close()


def test_only_the_treating_organisation_is_offered_a_new_threshold_version(
        local_system: LocalSystem, browser: Browser, nurse: WatchedPage, red_episode: RedEpisode):
    episode = f"#/episodes/{red_episode.episode_id}"
    # Given the citizen's episode, seen by the monitoring nurse and by the treating GP
    gp = watched_page(browser)
    sign_in(gp.page, local_system.web_url, GP_YDERNUMMER)
    for page in (nurse.page, gp.page):
        go(page, episode)
        expect(page.get_by_test_id("thresholds")).to_be_visible()
    # Then only the GP has the form for a new version
    expect(gp.page.get_by_test_id("new-threshold-version")).to_be_visible()
    expect(nurse.page.get_by_test_id("new-threshold-version")).to_have_count(0)
    assert gp.take_problems() + nurse.take_problems() == []
    gp.page.context.close()


def actions_since_last_access_log_read(page: Page, episode_id: str) -> list[str]:
    """The actions of the episode's access log page, newest first, down to the previous read of the log."""
    go(page, f"#/episodes/{episode_id}/access-log")
    entries = page.get_by_test_id("access-log-entry")
    expect(entries.first).to_be_visible()
    actions = [entries.nth(index).get_attribute("data-action") or "" for index in range(entries.count())]
    return actions[:actions.index("read_access_log")] if "read_access_log" in actions else actions


def test_the_access_log_lists_each_time_the_nurse_opened_the_episode(nurse: WatchedPage,
                                                                     red_episode: RedEpisode):
    page = nurse.page
    # Given the nurse has read the episode's access log
    actions_since_last_access_log_read(page, red_episode.episode_id)
    # When she opens the episode twice, going back to her worklist in between
    for _ in range(2):
        go(page, f"#/episodes/{red_episode.episode_id}")
        expect(page.get_by_test_id("chart").first).to_be_visible()
        expect(page.get_by_test_id("alarm").first).to_be_visible()
        go(page, "#/")
        expect(page.get_by_test_id("worklist")).to_be_visible()
    # Then the access log lists both openings: each read of the episode, its alarms and its measurements
    # (the citizen's name and CPR number were read once for the session, and shown from memory after; a
    # read an earlier page still had under way may land after the first look at the log, so at least two)
    actions = actions_since_last_access_log_read(page, red_episode.episode_id)
    for action in ("read_episode", "read_alarms", "read_measurements"):
        assert actions.count(action) >= 2, actions
    assert nurse.take_problems() == []


def test_the_language_switch_turns_the_app_english_and_back(nurse: WatchedPage):
    page = nurse.page
    worklist, language = page.get_by_test_id("worklist"), page.locator("html")
    # Given the nurse's worklist in Danish, the default
    go(page, "#/")
    expect(language).to_have_attribute("lang", "da")
    expect(worklist.locator("caption")).to_have_text("Arbejdsliste")
    # When she switches the language
    page.get_by_test_id("language-switch").click()
    # Then the page is in English, and says so to assistive technology
    expect(language).to_have_attribute("lang", "en")
    expect(worklist.locator("caption")).to_have_text("Worklist")
    # And switching again brings Danish back
    page.get_by_test_id("language-switch").click()
    expect(language).to_have_attribute("lang", "da")
    expect(worklist.locator("caption")).to_have_text("Arbejdsliste")
    assert nurse.take_problems() == []


def test_every_page_has_no_serious_or_critical_accessibility_violation(
        local_system: LocalSystem, browser: Browser, nurse: WatchedPage, red_episode: RedEpisode,
        capsys: pytest.CaptureFixture[str]):
    # Given the sign-in page, and the nurse's worklist, the citizen's episode and its access log
    visitor = watched_page(browser)
    visitor.page.goto(local_system.web_url)
    expect(visitor.page.locator("form")).to_be_visible()
    pages: list[tuple[str, Page, Callable[[], None]]] = [
        ("sign-in", visitor.page, lambda: None),
        ("worklist", nurse.page, lambda: expect(nurse.page.get_by_test_id("worklist")).to_be_visible()),
        ("episode", nurse.page, lambda: expect(nurse.page.get_by_test_id("chart").first).to_be_visible()),
        ("access-log", nurse.page, lambda: expect(nurse.page.get_by_test_id("access-log")).to_be_visible()),
    ]
    routes = {"worklist": "#/", "episode": f"#/episodes/{red_episode.episode_id}",
              "access-log": f"#/episodes/{red_episode.episode_id}/access-log"}
    blocking: dict[str, list[str]] = {}
    for name, page, shown in pages:
        if name in routes:
            go(page, routes[name])
        shown()
        # When axe-core checks the page
        violations = accessibility_violations(page)
        screenshot(page, name)
        blocking[name] = [str(found) for found in violations if found.impact in BLOCKING_IMPACTS]
        with capsys.disabled():  # the lesser ones are shown in every run, to be fixed when seen
            for found in violations:
                if found.impact not in BLOCKING_IMPACTS:
                    print(f"\naxe-core on the {name} page: {found}")  # noqa: T201
    # Then none is serious or critical
    assert blocking == {name: [] for name, _, _ in pages}
    # And nothing was logged as an error or refused by the CSP
    assert visitor.take_problems() + nurse.take_problems() == []
    visitor.page.context.close()
