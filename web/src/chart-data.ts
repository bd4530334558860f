// An episode's measurements as one series of points per charted type. A blood pressure is charted as its
// systolic and diastolic components, each against its own limits; a cuff's pulse stays with its panel.
import type { Measurement } from "./api";
import { bandSteps } from "./bands";
import type { BandStep, ThresholdVersion } from "./bands";
import type { Colour } from "./colours";
import { displayUnit, formatNumber } from "./format";
import type { Language } from "./i18n";

export interface Point {
  measurementId: string;
  time: number;
  value: number;
  unit: string;
  colour: Colour | null;
  late: boolean;
  invalidated: boolean;
}

/** The catalogue's order (docs/api.md), so charts keep their places whatever was measured first. */
export const CHART_ORDER = [
  "spo2", "pulse", "systolic", "diastolic", "weight", "temperature", "respiration_rate",
  "fev1", "fev6", "fev1_fev6_ratio", "cat_score", "mrc_score", "sit_to_stand", "blood_glucose",
] as const;

const BLOOD_PRESSURE_CHARTS = new Set(["systolic", "diastolic"]);

export function chartSeries(measurements: readonly Measurement[]): Map<string, Point[]> {
  const series = new Map<string, Point[]>();
  const add = (type: string, measurement: Measurement, value: number, unit: string) => {
    const points = series.get(type) ?? [];
    points.push({
      measurementId: measurement.measurement_id,
      time: Date.parse(measurement.measured_at),
      value,
      unit,
      colour: measurement.colour,
      late: measurement.late,
      invalidated: measurement.invalidated !== null,
    });
    series.set(type, points);
  };
  for (const measurement of measurements) {
    if (measurement.components) {
      for (const component of measurement.components) {
        if (BLOOD_PRESSURE_CHARTS.has(component.type)) add(component.type, measurement, component.value, component.unit);
      }
    } else if (measurement.value !== null) {
      add(measurement.type, measurement, measurement.value, measurement.unit ?? "");
    }
  }
  for (const points of series.values()) points.sort((a, b) => a.time - b.time);
  const rank = (type: string) => {
    const index = (CHART_ORDER as readonly string[]).indexOf(type);
    return index < 0 ? CHART_ORDER.length : index;
  };
  return new Map([...series.entries()].sort(([a], [b]) => rank(a) - rank(b) || a.localeCompare(b)));
}

/** A measurement's value as a reader writes it: "84 %", "37,8 °C", a blood pressure "125/73 mmHg". */
export function measuredValue(measurement: Measurement, language: Language): string | null {
  const unit = (raw: string | null | undefined) => (displayUnit(raw ?? "") ? ` ${displayUnit(raw ?? "")}` : "");
  const systolic = measurement.components?.find((component) => component.type === "systolic");
  const diastolic = measurement.components?.find((component) => component.type === "diastolic");
  if (systolic && diastolic) {
    return `${formatNumber(systolic.value, language)}/${formatNumber(diastolic.value, language)}${unit(systolic.unit)}`;
  }
  return measurement.value === null ? null : `${formatNumber(measurement.value, language)}${unit(measurement.unit)}`;
}

const MINUTE_MILLISECONDS = 60_000;

/**
 * The time a chart spans: the chosen period, but not before the first thing it has to show (the first
 * reading, or the first threshold version), so a new episode's few hours fill the chart and its bands are
 * seen, nor ending before its last reading (measured by the server's clock, which the browser's may be
 * behind); with a little room at the end, and at the start unless the chart starts at a version's
 * valid_from: before it there is nothing to show, and from it the band fills the chart from its left edge,
 * so that readings a moment later are seen inside it.
 */
export function chartTimeRange(pointTimes: readonly number[], versionStarts: readonly number[], from: number, to: number): [number, number] {
  const end = Math.max(to, ...pointTimes);
  const firstVersion = Math.min(...versionStarts);
  const start = Math.max(from, Math.min(end, ...pointTimes, firstVersion));
  const pad = Math.max(end - start, 10 * MINUTE_MILLISECONDS) * 0.03;
  return [start === firstVersion ? start : start - pad, end + pad];
}

export interface ChartLayout {
  start: number;
  end: number;
  /** The bands to shade: the limits of the version valid over each stretch of [start, end). */
  steps: BandStep[];
}

/**
 * Where a chart's readings and bands go on its time axis, in epoch milliseconds (uPlot's time scale is in
 * seconds: the chart divides both by 1000). Each reading measured while a version with limits for the type
 * was valid lies within that version's step, as the evaluator judged it.
 */
export function chartLayout(type: string, points: readonly Point[], versions: readonly ThresholdVersion[], from: number, to: number): ChartLayout {
  const [start, end] = chartTimeRange(points.map((p) => p.time), versions.map((v) => Date.parse(v.valid_from)), from, to);
  return { start, end, steps: bandSteps(versions, type, start, end) };
}
