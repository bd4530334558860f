import { test } from "node:test";
import assert from "node:assert/strict";
import { versionAt } from "../src/bands";
import type { ThresholdVersion } from "../src/bands";
import { chartLayout } from "../src/chart-data";
import type { ChartLayout, Point } from "../src/chart-data";
import type { Colour } from "../src/colours";

const at = (iso: string) => Date.parse(iso);
const DAY = 86_400_000;

function point(iso: string, value: number, colour: Colour | null): Point {
  return { measurementId: iso, time: at(iso), value, unit: "%", colour, late: false, invalidated: false };
}

function version(number: number, validFrom: string, redLow: number, yellowLow: number): ThresholdVersion {
  return { version: number, valid_from: validFrom, thresholds: { absolute: { spo2: { red_low: redLow, yellow_low: yellowLow } } } };
}

/** The version whose band is drawn at the time, or null where no band is drawn. */
function bandVersionAt(layout: ChartLayout, time: number): number | null {
  return layout.steps.find((step) => step.from <= time && time < step.to)?.version ?? null;
}

/** Each point is on the chart, inside the band of the version valid when it was measured (none before the first). */
function assertEachPointInItsBand(layout: ChartLayout, points: Point[], versions: ThresholdVersion[]) {
  for (const p of points) {
    assert.ok(layout.start <= p.time && p.time <= layout.end, `${p.measurementId} is on the chart`);
    assert.equal(bandVersionAt(layout, p.time), versionAt(versions, p.time)?.version ?? null, `${p.measurementId}'s band`);
  }
}

test("Given readings a moment after the referral, then each is drawn inside version 1's band, which starts at its valid_from", () => {
  // The demo's: the server's valid_from to the microsecond, the readings to the millisecond 60 ms later
  const versions = [version(1, "2026-11-28T03:13:37.055951Z", 88, 92)];
  const points = [point("2026-11-28T03:13:37.116Z", 93, "GREEN"), point("2026-11-28T03:13:37.135Z", 84, "RED")];
  const opened = at("2026-11-28T03:13:40Z");
  const layout = chartLayout("spo2", points, versions, opened - 30 * DAY, opened);
  assertEachPointInItsBand(layout, points, versions);
  assert.equal(layout.steps[0]?.from, at("2026-11-28T03:13:37.055Z"));
  assert.equal(layout.start, layout.steps[0]?.from, "the band starts at the chart's left edge, before both readings");
  assert.equal(layout.steps[0]?.to, layout.end, "the band reaches the chart's end");
  // and it is seen: the chart starts near the referral, not 30 days before it
  assert.ok((layout.end - layout.steps[0]!.from) / (layout.end - layout.start) > 0.5, "the band fills most of the chart");
});

test("Given a new version between readings, then each reading is inside the band of the version valid at its time", () => {
  const versions = [version(2, "2026-11-20T08:30:00.250Z", 85, 88), version(1, "2026-11-10T09:00:00Z", 88, 92)];
  const points = [
    point("2026-11-15T07:00:00Z", 90, "YELLOW"),
    point("2026-11-20T08:30:00.249Z", 87, "RED"), // a millisecond before version 2: version 1 judged it
    point("2026-11-20T08:30:00.250Z", 87, "YELLOW"), // at version 2's valid_from: version 2 judged it
    point("2026-11-25T07:00:00Z", 90, "GREEN"),
  ];
  const opened = at("2026-11-28T12:00:00Z");
  for (const days of [7, 30, 90]) {
    assertEachPointInItsBand(chartLayout("spo2", points, versions, opened - days * DAY, opened), points.filter((p) => p.time >= opened - days * DAY), versions);
  }
});

test("Given a browser clock behind the server's, then a reading measured after the period's end is still inside its band", () => {
  const versions = [version(1, "2026-11-28T11:00:00Z", 88, 92)];
  const points = [point("2026-11-28T11:30:00Z", 93, "GREEN"), point("2026-11-28T12:02:00Z", 84, "RED")];
  const opened = at("2026-11-28T12:00:00Z"); // by the browser's clock, two minutes slow
  assertEachPointInItsBand(chartLayout("spo2", points, versions, opened - 30 * DAY, opened), points, versions);
});

test("Given a reading before the first version, then it is on the chart with no band, and the next one inside version 1's", () => {
  const versions = [version(1, "2026-11-28T11:00:00Z", 88, 92)];
  const points = [point("2026-11-28T10:59:59.999Z", 93, null), point("2026-11-28T11:00:00Z", 84, "RED")];
  const opened = at("2026-11-28T12:00:00Z");
  const layout = chartLayout("spo2", points, versions, opened - 30 * DAY, opened);
  assertEachPointInItsBand(layout, points, versions);
  assert.ok(layout.start < points[0]!.time, "with room before the first reading, which is not on the edge");
});
