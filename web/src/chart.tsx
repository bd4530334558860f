// One measurement type's chart: uPlot on a canvas, the RED and YELLOW bands of the version valid at each
// time shaded behind the points, each point in its colour; and the same data as an accessible table.
import { useEffect, useRef } from "preact/hooks";
import uPlot from "uplot";
import type { ThresholdVersion } from "./bands";
import { bandRegions, isOutsideBand, limitValues, limitsAt, versionAt } from "./bands";
import { chartLayout } from "./chart-data";
import type { Point } from "./chart-data";
import type { Colour } from "./colours";
import { displayUnit, formatDateTime, formatDayMonth, formatNumber, formatTime } from "./format";
import { translateKnown } from "./i18n";
import { ColourBadge, useApp } from "./ui";

// Canvas colours (the CSS's badge colours); the bands are light so the points stay readable on them.
const POINT_COLOURS: Record<Colour, string> = { RED: "#b00020", YELLOW: "#8a6d00", BLUE: "#0d47a1", GREEN: "#1b5e20" };
const BAND_COLOURS = { RED: "rgba(211, 47, 47, 0.18)", YELLOW: "rgba(255, 193, 7, 0.28)" };
const POINT_GROUPS: (Colour | null)[] = ["GREEN", "YELLOW", "RED", "BLUE", null];

/** A label the tick before already shows is left blank (minutes repeat on an episode a few minutes old). */
function distinctLabels(labels: string[]): string[] {
  return labels.map((label, index) => (index > 0 && labels[index - 1] === label ? "" : label));
}

function valueRange(points: readonly Point[], limits: number[]): [number, number] {
  const values = [...points.map((p) => p.value), ...limits];
  let low = Math.min(...values);
  let high = Math.max(...values);
  const pad = (high - low || Math.abs(high) || 1) * 0.1;
  low -= pad;
  high += pad;
  return [low, high];
}

function Plot({ type, points, versions, from, to }: { type: string; points: Point[]; versions: ThresholdVersion[]; from: number; to: number }) {
  const { language } = useApp();
  const holder = useRef<HTMLDivElement>(null);
  useEffect(() => {
    const element = holder.current;
    if (!element) return;
    const { start, end, steps } = chartLayout(type, points, versions, from, to);
    // Within a day and a half the hours tell the readings apart; beyond it the days do.
    const tick = end - start < 36 * 60 * 60 * 1000 ? formatTime : formatDayMonth;
    const [floor, ceiling] = valueRange(points, limitValues(steps));
    const regions = bandRegions(steps, floor, ceiling);
    const times = points.map((p) => p.time / 1000);
    const data: uPlot.AlignedData = [
      times,
      points.map((p) => p.value),
      ...POINT_GROUPS.map((group) => points.map((p) => (p.colour === group ? p.value : null))),
    ];
    const plot = new uPlot(
      {
        width: Math.max(element.clientWidth, 280),
        height: 220,
        legend: { show: false },
        cursor: { show: false },
        scales: { x: { time: true, range: () => [start / 1000, end / 1000] }, y: { range: () => [floor, ceiling] } },
        axes: [
          { values: (_u, splits) => distinctLabels(splits.map((s) => tick(s * 1000))) },
          { values: (_u, splits) => splits.map((s) => formatNumber(s, language)), size: 56 },
        ],
        series: [
          {},
          { stroke: "#5f6b7a", width: 1.5, points: { show: false } },
          ...POINT_GROUPS.map((group) => ({
            stroke: group ? POINT_COLOURS[group] : "#444",
            fill: group ? POINT_COLOURS[group] : "#444",
            paths: () => null,
            points: { show: true, size: 9, fill: group ? POINT_COLOURS[group] : "#fff" },
          })),
        ],
        hooks: {
          drawClear: [
            (u) => {
              const { ctx } = u;
              ctx.save();
              ctx.beginPath();
              ctx.rect(u.bbox.left, u.bbox.top, u.bbox.width, u.bbox.height);
              ctx.clip();
              for (const region of regions) {
                const x0 = u.valToPos(region.from / 1000, "x", true);
                const x1 = u.valToPos(region.to / 1000, "x", true);
                const y0 = u.valToPos(region.high, "y", true);
                const y1 = u.valToPos(region.low, "y", true);
                ctx.fillStyle = BAND_COLOURS[region.colour];
                ctx.fillRect(x0, y0, x1 - x0, y1 - y0);
              }
              ctx.restore();
            },
          ],
        },
      },
      data,
      element,
    );
    const resize = () => plot.setSize({ width: Math.max(element.clientWidth, 280), height: 220 });
    addEventListener("resize", resize);
    return () => {
      removeEventListener("resize", resize);
      plot.destroy();
    };
  }, [type, points, versions, from, to, language]);
  return <div class="plot" ref={holder} aria-hidden="true" />;
}

export function Chart({ type, points, versions, from, to }: { type: string; points: Point[]; versions: ThresholdVersion[]; from: number; to: number }) {
  const { t, language } = useApp();
  const title = translateKnown(t, "type", type);
  const unit = displayUnit(points[0]?.unit ?? "");
  const limit = (value: number | null | undefined) => (typeof value === "number" ? formatNumber(value, language) : t("common.none"));
  return (
    <figure class="chart" data-testid="chart" data-type={type}>
      <figcaption>
        <h3>{title}{unit ? ` (${unit})` : ""}</h3>
        <p class="hint">{t("chart.legend")}</p>
      </figcaption>
      <Plot type={type} points={points} versions={versions} from={from} to={to} />
      <details>
        <summary>{t("chart.showTable")}</summary>
        <div class="table-scroll" role="region" tabIndex={0} aria-label={t("chart.caption", { type: title })}>
        <table data-testid="chart-table">
          <caption>{t("chart.caption", { type: title })}</caption>
          <thead>
            <tr>
              <th scope="col">{t("chart.measuredAt")}</th>
              <th scope="col">{t("chart.value")}</th>
              <th scope="col">{t("chart.colour")}</th>
              <th scope="col">{t("chart.outside")}</th>
              <th scope="col">{t("chart.redLow")}</th>
              <th scope="col">{t("chart.yellowLow")}</th>
              <th scope="col">{t("chart.yellowHigh")}</th>
              <th scope="col">{t("chart.redHigh")}</th>
              <th scope="col">{t("chart.version")}</th>
            </tr>
          </thead>
          <tbody>
            {points.map((point) => {
              const limits = limitsAt(versions, type, point.time);
              const outside = isOutsideBand(limits, point.value);
              return (
                <tr key={point.measurementId} data-testid="chart-point" data-colour={point.colour ?? ""} data-value={String(point.value)}
                  data-outside-band={String(outside)}>
                  <th scope="row">{formatDateTime(point.time)}</th>
                  <td>
                    {formatNumber(point.value, language)}
                    {point.late ? ` (${t("chart.late")})` : ""}
                    {point.invalidated ? ` (${t("chart.invalidated")})` : ""}
                  </td>
                  <td><ColourBadge colour={point.colour} /></td>
                  <td>{outside ? t("common.yes") : t("common.no")}</td>
                  <td>{limit(limits?.red_low)}</td>
                  <td>{limit(limits?.yellow_low)}</td>
                  <td>{limit(limits?.yellow_high)}</td>
                  <td>{limit(limits?.red_high)}</td>
                  <td>{versionAt(versions, point.time)?.version ?? t("common.none")}</td>
                </tr>
              );
            })}
          </tbody>
        </table>
        </div>
      </details>
    </figure>
  );
}
