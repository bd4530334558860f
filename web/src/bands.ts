// The RED and YELLOW threshold bands of the version valid at each time. A measurement is judged by the
// version valid when it was measured (functions/shared/thresholds.thresholds_at), so a chart's bands are
// steps that change at each version's valid_from.

export interface Limits {
  red_low?: number | null;
  yellow_low?: number | null;
  yellow_high?: number | null;
  red_high?: number | null;
}

export interface ThresholdVersion {
  version: number;
  valid_from: string;
  set_by?: string;
  set_at?: string;
  thresholds: { absolute?: Record<string, Limits>; relative?: Record<string, unknown> };
}

/** One stretch of time, [from, to) in epoch milliseconds, during which one version's limits hold. */
export interface BandStep {
  from: number;
  to: number;
  version: number;
  limits: Limits;
}

export type BandColour = "RED" | "YELLOW";

/** A rectangle to shade: between two times and two values. */
export interface BandRegion {
  from: number;
  to: number;
  low: number;
  high: number;
  colour: BandColour;
}

function byValidFrom(versions: readonly ThresholdVersion[]): ThresholdVersion[] {
  return [...versions].sort((a, b) => Date.parse(a.valid_from) - Date.parse(b.valid_from) || a.version - b.version);
}

/** The version valid at a time: the last whose valid_from is not after it; null before the first. */
export function versionAt(versions: readonly ThresholdVersion[], time: number): ThresholdVersion | null {
  let valid: ThresholdVersion | null = null;
  for (const version of byValidFrom(versions)) {
    if (Date.parse(version.valid_from) <= time) valid = version;
  }
  return valid;
}

export function limitsAt(versions: readonly ThresholdVersion[], type: string, time: number): Limits | null {
  return versionAt(versions, time)?.thresholds.absolute?.[type] ?? null;
}

function given(value: number | null | undefined): value is number {
  return typeof value === "number" && Number.isFinite(value);
}

/**
 * Whether a value lies outside the GREEN range of these limits: below the higher of the low limits or above
 * the lower of the high limits. A value equal to a limit does not alarm, so it is inside.
 */
export function isOutsideBand(limits: Limits | null, value: number): boolean {
  if (!limits) return false;
  const low = given(limits.yellow_low) ? limits.yellow_low : limits.red_low;
  const high = given(limits.yellow_high) ? limits.yellow_high : limits.red_high;
  return (given(low) && value < low) || (given(high) && value > high);
}

/** The steps of one type's limits over [from, to): one per version valid within it, in time order. */
export function bandSteps(versions: readonly ThresholdVersion[], type: string, from: number, to: number): BandStep[] {
  const ordered = byValidFrom(versions);
  const steps: BandStep[] = [];
  ordered.forEach((version, index) => {
    const start = Math.max(Date.parse(version.valid_from), from);
    const next = ordered[index + 1];
    const end = Math.min(next ? Date.parse(next.valid_from) : to, to);
    const limits = version.thresholds.absolute?.[type];
    if (limits && start < end) steps.push({ from: start, to: end, version: version.version, limits });
  });
  return steps;
}

/**
 * The regions to shade for the steps, within the chart's value range [floor, ceiling]: RED beyond the red
 * limits, YELLOW between a red and a yellow limit (or beyond a yellow limit with no red limit on that side).
 */
export function bandRegions(steps: readonly BandStep[], floor: number, ceiling: number): BandRegion[] {
  const regions: BandRegion[] = [];
  const add = (step: BandStep, low: number, high: number, colour: BandColour) => {
    const clippedLow = Math.max(low, floor);
    const clippedHigh = Math.min(high, ceiling);
    if (clippedLow < clippedHigh) regions.push({ from: step.from, to: step.to, low: clippedLow, high: clippedHigh, colour });
  };
  for (const step of steps) {
    const { red_low, yellow_low, yellow_high, red_high } = step.limits;
    if (given(red_low)) add(step, floor, red_low, "RED");
    if (given(yellow_low)) add(step, given(red_low) ? red_low : floor, yellow_low, "YELLOW");
    if (given(yellow_high)) add(step, yellow_high, given(red_high) ? red_high : ceiling, "YELLOW");
    if (given(red_high)) add(step, red_high, ceiling, "RED");
  }
  return regions;
}

/** The limits' values, to keep them within a chart's value range. */
export function limitValues(steps: readonly BandStep[]): number[] {
  return steps.flatMap((step) =>
    [step.limits.red_low, step.limits.yellow_low, step.limits.yellow_high, step.limits.red_high].filter(given),
  );
}
