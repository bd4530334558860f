// Triage colours, most severe first, as the API orders the worklist (docs/alarms.md).
export const COLOURS = ["RED", "YELLOW", "BLUE", "GREEN"] as const;
export type Colour = (typeof COLOURS)[number];
export type ColourCounts = Record<Colour, number>;

export function isColour(value: unknown): value is Colour {
  return typeof value === "string" && (COLOURS as readonly string[]).includes(value);
}

/** Lower is more severe: RED 0, YELLOW 1, BLUE 2, GREEN 3. */
export function severity(colour: Colour): number {
  return COLOURS.indexOf(colour);
}

/** The most severe colour with anything counted, or null when nothing is. */
export function mostSevere(counts: Partial<ColourCounts>): Colour | null {
  return COLOURS.find((colour) => (counts[colour] ?? 0) > 0) ?? null;
}

/** The colours with anything counted, most severe first: what waits, without the colours where nothing does. */
export function countedColours(counts: Partial<ColourCounts>): [Colour, number][] {
  return COLOURS.filter((colour) => (counts[colour] ?? 0) > 0).map((colour) => [colour, counts[colour] ?? 0]);
}

export function sumCounts(all: Partial<ColourCounts>[]): ColourCounts {
  const total: ColourCounts = { RED: 0, YELLOW: 0, BLUE: 0, GREEN: 0 };
  for (const counts of all) for (const colour of COLOURS) total[colour] += counts[colour] ?? 0;
  return total;
}
