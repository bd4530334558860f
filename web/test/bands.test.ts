import { test } from "node:test";
import assert from "node:assert/strict";
import { bandRegions, bandSteps, isOutsideBand, limitsAt, versionAt } from "../src/bands";
import type { ThresholdVersion } from "../src/bands";

const at = (iso: string) => Date.parse(iso);
const versions: ThresholdVersion[] = [
  { version: 2, valid_from: "2026-11-20T00:00:00Z", thresholds: { absolute: { spo2: { red_low: 85, yellow_low: 88 } } } },
  { version: 1, valid_from: "2026-11-10T00:00:00Z", thresholds: { absolute: { spo2: { red_low: 88, yellow_low: 92 } } } },
];

test("Given two versions, when asking for a time between them, then the earlier one is valid", () => {
  assert.equal(versionAt(versions, at("2026-11-15T00:00:00Z"))?.version, 1);
  assert.equal(versionAt(versions, at("2026-11-20T00:00:00Z"))?.version, 2);
  assert.equal(versionAt(versions, at("2026-11-01T00:00:00Z")), null);
});

test("Given the version valid at a measurement, then its limits judge the value", () => {
  const before = limitsAt(versions, "spo2", at("2026-11-15T00:00:00Z"));
  const after = limitsAt(versions, "spo2", at("2026-11-25T00:00:00Z"));
  assert.equal(isOutsideBand(before, 90), true, "90 is below version 1's yellow_low 92");
  assert.equal(isOutsideBand(after, 90), false, "90 is above version 2's yellow_low 88");
});

test("Given a value equal to a limit, then it is inside the band (a limit does not alarm)", () => {
  assert.equal(isOutsideBand({ yellow_low: 92, yellow_high: 100 }, 92), false);
  assert.equal(isOutsideBand({ red_high: 40 }, 40.1), true);
  assert.equal(isOutsideBand(null, 10), false);
});

test("Given versions, when stepping over a period, then each step ends where the next version begins", () => {
  const steps = bandSteps(versions, "spo2", at("2026-11-15T00:00:00Z"), at("2026-11-30T00:00:00Z"));
  assert.deepEqual(
    steps.map((s) => [s.version, new Date(s.from).toISOString(), new Date(s.to).toISOString()]),
    [
      [1, "2026-11-15T00:00:00.000Z", "2026-11-20T00:00:00.000Z"],
      [2, "2026-11-20T00:00:00.000Z", "2026-11-30T00:00:00.000Z"],
    ],
  );
  assert.deepEqual(bandSteps(versions, "weight", at("2026-11-15T00:00:00Z"), at("2026-11-30T00:00:00Z")), []);
});

test("Given a step's limits, then RED lies beyond the red limits and YELLOW between red and yellow", () => {
  const [step] = bandSteps(
    [{ version: 1, valid_from: "2026-11-01T00:00:00Z", thresholds: { absolute: { pulse: { red_low: 40, yellow_low: 50, yellow_high: 110, red_high: 130 } } } }],
    "pulse", 0, at("2026-12-01T00:00:00Z"),
  );
  const regions = bandRegions([step!], 30, 150).map((r) => [r.colour, r.low, r.high]);
  assert.deepEqual(regions, [["RED", 30, 40], ["YELLOW", 40, 50], ["YELLOW", 110, 130], ["RED", 130, 150]]);
});

test("Given a yellow limit without a red one, then YELLOW reaches the chart's edge", () => {
  const regions = bandRegions([{ from: 0, to: 1, version: 1, limits: { yellow_high: 38 } }], 35, 41);
  assert.deepEqual(regions.map((r) => [r.colour, r.low, r.high]), [["YELLOW", 38, 41]]);
});
