// The organisation's worklist: most severe first as the API orders it, refreshed every 30 s without a reload
// while the tab is shown.
import { useEffect, useRef, useState } from "preact/hooks";
import type { WorklistRow } from "../api";
import { COLOURS, countedColours, mostSevere, sumCounts } from "../colours";
import type { ColourCounts } from "../colours";
import { formatDateTime, formatTime } from "../format";
import { translateKnown } from "../i18n";
import { episodeHref } from "../routes";
import { ColourBadge, ErrorMessage, Loading, useApp, useCitizen } from "../ui";

const REFRESH_MILLISECONDS = 30_000;

function Row({ row }: { row: WorklistRow }) {
  const { t } = useApp();
  const citizen = useCitizen(row.episode_id);
  const name = citizen === undefined ? "…" : citizen?.name ?? t("episode.unknownCitizen");
  const colour = mostSevere(row.counts) ?? row.alarm?.colour ?? null;
  return (
    <tr data-testid="worklist-row" data-episode-id={row.episode_id} data-colour={colour ?? ""} class={`row-${colour ?? "NONE"}`}>
      <td><ColourBadge colour={colour} /></td>
      <th scope="row">{name}</th>
      <td>{translateKnown(t, "diseaseArea", row.disease_area)}</td>
      <td>
        {row.alarm ? formatDateTime(row.alarm.raised_at) : t("common.none")}
        {row.late ? <span class="flag late"> {t("worklist.late")}</span> : null}
      </td>
      <td>
        {countedColours(row.counts).map(([counted, count]) => `${count} ${t(`colour.${counted}`)}`).join(", ") || t("common.none")}
      </td>
      <td>{row.last_measured_at ? formatDateTime(row.last_measured_at) : t("common.none")}</td>
      <td>
        <a data-testid="open-episode" href={episodeHref(row.episode_id)}>
          {t("worklist.open")}
          <span class="visually-hidden"> {t("worklist.openCitizen", { name })}</span>
        </a>
      </td>
    </tr>
  );
}

interface Refreshed {
  at: number;
  rows: number;
  totals: ColourCounts;
}

export function WorklistPage() {
  const { api, t } = useApp();
  const [rows, setRows] = useState<WorklistRow[] | null>(null);
  const [error, setError] = useState<unknown>(null);
  // What is announced is kept as data and worded when shown, so it follows a switch of language.
  const [refreshed, setRefreshed] = useState<Refreshed | null>(null);
  const [greenResult, setGreenResult] = useState<{ uploads: number; episodes: number } | null>(null);
  const [busy, setBusy] = useState(false);
  const lastSummary = useRef("");

  const refresh = async (announceAlways: boolean) => {
    try {
      const fresh = await api.worklist();
      setRows(fresh);
      setError(null);
      const summary = fresh.map((r) => `${r.episode_id}/${COLOURS.map((c) => r.counts[c]).join(",")}`).join(";");
      if (announceAlways || summary !== lastSummary.current) {
        setRefreshed({ at: Date.now(), rows: fresh.length, totals: sumCounts(fresh.map((row) => row.counts)) });
      }
      lastSummary.current = summary;
    } catch (failure) {
      setError(failure);
    }
  };

  useEffect(() => {
    void refresh(false);
    // A tab nobody looks at asks nothing: each worklist read is an access-log entry per row, and a list left
    // open in a hidden tab all day would bury the reads a citizen looks for. It catches up when shown again.
    const whenShown = () => {
      if (!document.hidden) void refresh(false);
    };
    const timer = setInterval(whenShown, REFRESH_MILLISECONDS);
    document.addEventListener("visibilitychange", whenShown);
    return () => {
      clearInterval(timer);
      document.removeEventListener("visibilitychange", whenShown);
    };
  }, [api]);

  const acknowledgeGreen = async () => {
    setBusy(true);
    setGreenResult(null);
    try {
      setGreenResult(await api.acknowledgeGreen());
      await refresh(true);
    } catch (failure) {
      setError(failure);
    } finally {
      setBusy(false);
    }
  };

  const totals = sumCounts((rows ?? []).map((row) => row.counts));
  return (
    <section aria-labelledby="worklist-title">
      <h1 id="worklist-title">{t("worklist.title")}</h1>
      <div class="toolbar">
        <button type="button" data-testid="refresh" onClick={() => void refresh(true)}>
          {t("worklist.refresh")}
        </button>
        <button type="button" data-testid="acknowledge-green" disabled={busy || totals.GREEN === 0} onClick={() => void acknowledgeGreen()}>
          {t("worklist.acknowledgeGreen")}
        </button>
        <span class="hint">{t("worklist.autoRefresh")}</span>
      </div>
      <p class="announcement" aria-live="polite" role="status">
        {refreshed
          ? t("worklist.refreshed", {
              time: formatTime(refreshed.at), rows: refreshed.rows, red: refreshed.totals.RED,
              yellow: refreshed.totals.YELLOW, blue: refreshed.totals.BLUE, green: refreshed.totals.GREEN,
            })
          : null}{" "}
        {greenResult ? t("worklist.acknowledgedGreen", greenResult) : null}
      </p>
      <ErrorMessage error={error} />
      <dl class="colour-counts" data-testid="colour-counts" aria-label={t("worklist.counts")}>
        {COLOURS.map((colour) => (
          <div key={colour} class={`count count-${colour}`} data-colour={colour}>
            <dt><ColourBadge colour={colour} /></dt>
            <dd>{totals[colour]}</dd>
          </div>
        ))}
      </dl>
      {rows === null ? (
        error ? null : <Loading />
      ) : (
        <table class="worklist" data-testid="worklist">
          <caption class="visually-hidden">{t("worklist.title")}</caption>
          <thead>
            <tr>
              <th scope="col">{t("worklist.colour")}</th>
              <th scope="col">{t("worklist.citizen")}</th>
              <th scope="col">{t("episode.diseaseArea")}</th>
              <th scope="col">{t("worklist.alarm")}</th>
              <th scope="col">{t("worklist.waiting")}</th>
              <th scope="col">{t("worklist.lastMeasured")}</th>
              <th scope="col"><span class="visually-hidden">{t("worklist.open")}</span></th>
            </tr>
          </thead>
          <tbody>
            {rows.length === 0 ? (
              <tr><td colSpan={7}>{t("worklist.empty")}</td></tr>
            ) : (
              rows.map((row) => <Row key={row.episode_id} row={row} />)
            )}
          </tbody>
        </table>
      )}
    </section>
  );
}
