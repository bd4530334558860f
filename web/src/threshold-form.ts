// The "new threshold version" form's values as the API's ThresholdChange: a limit left empty is left out
// (the latest version's stays), so only what the doctor typed changes.
import { copenhagenLocalToIso } from "./format";

export const LIMIT_NAMES = ["red_low", "yellow_low", "yellow_high", "red_high"] as const;
export type LimitName = (typeof LIMIT_NAMES)[number];

export interface ThresholdChangeBody {
  thresholds: { absolute: Record<string, Partial<Record<LimitName, number | string>>> };
  valid_from?: string;
}

export function thresholdChange(type: string, limits: Record<LimitName, string>, validFromLocal: string): ThresholdChangeBody {
  const given: Partial<Record<LimitName, number | string>> = {};
  for (const name of LIMIT_NAMES) {
    const text = limits[name].trim().replace(",", ".");
    // Text that is no number goes as typed, so the API's 422 names the field (NaN would become null,
    // which removes a limit).
    if (text !== "") given[name] = Number.isFinite(Number(text)) ? Number(text) : text;
  }
  const body: ThresholdChangeBody = { thresholds: { absolute: { [type]: given } } };
  if (validFromLocal.trim() !== "") body.valid_from = copenhagenLocalToIso(validFromLocal.trim());
  return body;
}
