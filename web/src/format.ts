// Dates as Danish clinicians read them (dd.mm.yyyy HH:MM), always in Danish time whatever the browser's zone.
import type { Language } from "./i18n";

export const TIME_ZONE = "Europe/Copenhagen";

const dateTimeParts = new Intl.DateTimeFormat("en-GB", {
  timeZone: TIME_ZONE,
  year: "numeric",
  month: "2-digit",
  day: "2-digit",
  hour: "2-digit",
  minute: "2-digit",
  second: "2-digit",
  hourCycle: "h23",
});

function partsOf(instant: Date): Record<string, string> {
  const parts: Record<string, string> = {};
  for (const part of dateTimeParts.formatToParts(instant)) parts[part.type] = part.value;
  return parts;
}

function toDate(instant: string | number | Date): Date {
  return instant instanceof Date ? instant : new Date(instant);
}

/** "25.11.2026 09:01" for 2026-11-25T08:01:00Z. */
export function formatDateTime(instant: string | number | Date): string {
  const p = partsOf(toDate(instant));
  return `${p.day}.${p.month}.${p.year} ${p.hour}:${p.minute}`;
}

/** "25.11.2026 09:01:05": where reads a moment apart must be told apart (the access log). */
export function formatDateTimeSeconds(instant: string | number | Date): string {
  const p = partsOf(toDate(instant));
  return `${formatDateTime(instant)}:${p.second}`;
}

/** "25.11.2026". */
export function formatDate(instant: string | number | Date): string {
  const p = partsOf(toDate(instant));
  return `${p.day}.${p.month}.${p.year}`;
}

/** "25.11." for a chart's axis. */
export function formatDayMonth(instant: string | number | Date): string {
  const p = partsOf(toDate(instant));
  return `${p.day}.${p.month}.`;
}

/** "09:01". */
export function formatTime(instant: string | number | Date): string {
  const p = partsOf(toDate(instant));
  return `${p.hour}:${p.minute}`;
}

const numberFormats: Record<Language, Intl.NumberFormat> = {
  da: new Intl.NumberFormat("da-DK", { maximumFractionDigits: 2 }),
  en: new Intl.NumberFormat("en-GB", { maximumFractionDigits: 2 }),
};

/** A measured value in the language's notation: "37,8" in Danish, "37.8" in English. */
export function formatNumber(value: number, language: Language): string {
  return numberFormats[language].format(value);
}

/** A datetime-local input's value ("2026-12-01T08:00", Danish time) as an instant with its offset. */
export function copenhagenLocalToIso(local: string): string {
  const match = /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2})$/.exec(local);
  if (!match) throw new RangeError(`not a local date and time: ${local}`);
  const [year, month, day, hour, minute] = match.slice(1).map(Number) as [number, number, number, number, number];
  const asUtc = Date.UTC(year, month - 1, day, hour, minute);
  // The zone's offset at that wall time: format the UTC guess in Copenhagen and compare; twice settles DST.
  let instant = asUtc;
  for (let i = 0; i < 2; i++) {
    const p = partsOf(new Date(instant));
    const shown = Date.UTC(+p.year!, +p.month! - 1, +p.day!, +p.hour!, +p.minute!);
    instant += asUtc - shown;
  }
  return new Date(instant).toISOString();
}

/** A CPR number as Danes write it, "070761-4285"; anything not ten digits is shown as it came. */
export function formatCpr(cpr: string): string {
  const digits = cpr.replace("-", "");
  return /^\d{10}$/.test(digits) ? `${digits.slice(0, 6)}-${digits.slice(6)}` : cpr;
}

// Catalogue units as a reader writes them; a score or a count has none.
const UNIT_DISPLAY: Record<string, string> = { Cel: "°C", score: "", count: "", ratio: "" };

export function displayUnit(unit: string): string {
  return UNIT_DISPLAY[unit] ?? unit;
}
