import { test } from "node:test";
import assert from "node:assert/strict";
import { countedColours, mostSevere, severity, sumCounts } from "../src/colours";
import { parseRoute } from "../src/routes";
import { chartSeries, chartTimeRange, measuredValue } from "../src/chart-data";
import type { Measurement } from "../src/api";
import { thresholdChange } from "../src/threshold-form";

test("Given counts, then the most severe colour is RED before YELLOW before BLUE before GREEN", () => {
  assert.deepEqual(["GREEN", "RED", "BLUE", "YELLOW"].map((c) => severity(c as "RED")), [3, 0, 2, 1]);
  assert.equal(mostSevere({ RED: 0, YELLOW: 2, BLUE: 1, GREEN: 3 }), "YELLOW");
  assert.equal(mostSevere({ RED: 0, YELLOW: 0, BLUE: 0, GREEN: 0 }), null);
  assert.deepEqual(sumCounts([{ RED: 1, GREEN: 2 }, { RED: 1, BLUE: 1 }]), { RED: 2, YELLOW: 0, BLUE: 1, GREEN: 2 });
});

test("Given hashes, then the worklist, an episode and its access log are routed; anything else is not found", () => {
  assert.deepEqual(parseRoute(""), { page: "worklist" });
  assert.deepEqual(parseRoute("#/"), { page: "worklist" });
  assert.deepEqual(parseRoute("#/episodes/epi_1"), { page: "episode", episodeId: "epi_1" });
  assert.deepEqual(parseRoute("#/episodes/epi_1/access-log"), { page: "access-log", episodeId: "epi_1" });
  assert.deepEqual(parseRoute("#/episodes/../x"), { page: "not-found" });
});

const measurement = (overrides: Partial<Measurement>): Measurement => ({
  measurement_id: "msr_1", type: "spo2", value: 91, unit: "%", components: null, measured_at: "2026-11-25T08:00:00Z",
  received_at: "2026-11-25T08:00:01Z", method: "automatic", late: false, colour: "YELLOW", threshold_version: 1,
  invalidated: null, alarm_id: null, ...overrides,
});

test("Given measurements newest first, then each type's points are oldest first and blood pressure is two charts", () => {
  const series = chartSeries([
    measurement({ measurement_id: "msr_3", type: "blood_pressure", value: null, unit: null, colour: "RED",
      components: [{ type: "systolic", value: 190, unit: "mmHg" }, { type: "diastolic", value: 95, unit: "mmHg" }, { type: "pulse", value: 80, unit: "/min" }] }),
    measurement({ measurement_id: "msr_2", measured_at: "2026-11-25T09:00:00Z" }),
    measurement({ measurement_id: "msr_1" }),
  ]);
  assert.deepEqual([...series.keys()], ["spo2", "systolic", "diastolic"]);
  assert.deepEqual(series.get("spo2")!.map((p) => p.measurementId), ["msr_1", "msr_2"]);
  assert.deepEqual(series.get("systolic")!.map((p) => [p.value, p.colour]), [[190, "RED"]]);
});

test("Given the threshold form, then empty limits are left out, a comma is a decimal point and text goes as typed", () => {
  assert.deepEqual(thresholdChange("spo2", { red_low: "85", yellow_low: "89,5", yellow_high: "", red_high: "x" }, ""), {
    thresholds: { absolute: { spo2: { red_low: 85, yellow_low: 89.5, red_high: "x" } } },
  });
  assert.equal(thresholdChange("spo2", { red_low: "", yellow_low: "", yellow_high: "", red_high: "" }, "2026-12-01T08:00").valid_from,
    "2026-12-01T07:00:00.000Z");
});

test("Given a new episode's readings, then the chart spans from its first threshold version or reading to now", () => {
  const now = Date.parse("2026-11-28T12:00:00Z");
  const monthAgo = now - 30 * 86_400_000;
  const [start, end] = chartTimeRange([now - 60_000], [now - 3_600_000], monthAgo, now);
  assert.equal(start, now - 3_600_000, "starts at the version's valid_from: nothing comes before it");
  assert.ok(end > now && end < now + 3_600_000);
});

test("Given a version older than the period, then the chart spans the whole period", () => {
  const now = Date.parse("2026-11-28T12:00:00Z");
  const weekAgo = now - 7 * 86_400_000;
  const [start] = chartTimeRange([now - 86_400_000], [now - 60 * 86_400_000], weekAgo, now);
  assert.ok(start < weekAgo && start > weekAgo - 86_400_000);
});

test("Given a row's counts, then what waits is each colour with anything counted, most severe first", () => {
  assert.deepEqual(countedColours({ RED: 1, YELLOW: 0, BLUE: 0, GREEN: 3 }), [["RED", 1], ["GREEN", 3]]);
  assert.deepEqual(countedColours({ RED: 0, YELLOW: 0, BLUE: 0, GREEN: 0 }), []);
});

test("Given the measurement that raised an alarm, then its value is written as a reader writes it", () => {
  assert.equal(measuredValue(measurement({ value: 84, unit: "%" }), "da"), "84 %");
  assert.equal(measuredValue(measurement({ type: "temperature", value: 37.8, unit: "Cel" }), "da"), "37,8 °C");
  assert.equal(measuredValue(measurement({ type: "cat_score", value: 24, unit: "score" }), "en"), "24");
  assert.equal(measuredValue(measurement({ type: "blood_pressure", value: null, unit: null, components: [
    { type: "systolic", value: 125, unit: "mmHg" }, { type: "diastolic", value: 73, unit: "mmHg" },
    { type: "pulse", value: 72, unit: "/min" }] }), "da"), "125/73 mmHg");
});
