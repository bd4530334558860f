import { test } from "node:test";
import assert from "node:assert/strict";
import { copenhagenLocalToIso, displayUnit, formatCpr, formatDate, formatDateTime, formatDateTimeSeconds, formatNumber } from "../src/format";

test("Given a winter instant, then it is shown in Danish time (UTC+1) as dd.mm.yyyy HH:MM", () => {
  assert.equal(formatDateTime("2026-11-25T08:01:00Z"), "25.11.2026 09:01");
});

test("Given a summer instant, then Danish summer time (UTC+2) applies", () => {
  assert.equal(formatDateTime("2026-07-01T22:30:00Z"), "02.07.2026 00:30");
  assert.equal(formatDate("2026-07-01T22:30:00Z"), "02.07.2026");
});

test("Given a number, then Danish writes a decimal comma and English a point", () => {
  assert.equal(formatNumber(37.8, "da"), "37,8");
  assert.equal(formatNumber(37.8, "en"), "37.8");
});

test("Given a local Danish time from a form, then it becomes the instant with the zone's offset", () => {
  assert.equal(copenhagenLocalToIso("2026-12-01T08:00"), "2026-12-01T07:00:00.000Z");
  assert.equal(copenhagenLocalToIso("2026-07-01T08:00"), "2026-07-01T06:00:00.000Z");
  assert.throws(() => copenhagenLocalToIso("tomorrow"), RangeError);
});

test("Given a CPR number, then it is shown with the hyphen after the birth date", () => {
  assert.equal(formatCpr("0707614285"), "070761-4285");
  assert.equal(formatCpr("070761-4285"), "070761-4285");
  assert.equal(formatCpr("unknown"), "unknown");
});

test("Given catalogue units, then Celsius reads °C, a score none, and others as they are", () => {
  assert.deepEqual(["Cel", "score", "%", "mmHg"].map(displayUnit), ["°C", "", "%", "mmHg"]);
});

test("Given two reads a few seconds apart in one minute, then the access log's times tell them apart", () => {
  assert.equal(formatDateTimeSeconds("2026-11-25T08:01:05.250Z"), "25.11.2026 09:01:05");
  assert.equal(formatDateTimeSeconds("2026-11-25T08:01:41Z"), "25.11.2026 09:01:41");
});
