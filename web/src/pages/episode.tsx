// A citizen's episode: who, the charts against the thresholds valid at each time, alarms to acknowledge,
// every questionnaire answer, the threshold versions, and handover.
import { useEffect, useMemo, useState } from "preact/hooks";
import { alarmsForDisplay } from "../alarms";
import { ApiError } from "../api";
import type { Alarm, Episode, Measurement } from "../api";
import type { ThresholdVersion } from "../bands";
import { Chart } from "../chart";
import { chartSeries, measuredValue } from "../chart-data";
import { formatCpr, formatDateTime, formatNumber } from "../format";
import { translateKnown } from "../i18n";
import type { MessageKey } from "../i18n";
import { accessLogHref } from "../routes";
import { LIMIT_NAMES, thresholdChange } from "../threshold-form";
import type { LimitName } from "../threshold-form";
import { ColourBadge, ErrorMessage, Loading, useApp, useAsync, useCitizen } from "../ui";

const PERIODS = [7, 30, 90] as const;

interface Announcement {
  key: MessageKey;
  values?: Record<string, string | number>;
}
type Announce = (announcement: Announcement) => Promise<void>;
const DAY_MILLISECONDS = 24 * 60 * 60 * 1000;

function CitizenHeader({ episode }: { episode: Episode }) {
  const { t, session } = useApp();
  const citizen = useCitizen(episode.episode_id);
  const mine = (organisation: string) => (organisation === session.organisation ? ` ${t("episode.you")}` : "");
  return (
    <header class="citizen">
      <h1 data-testid="citizen-name">{citizen === undefined ? "…" : citizen?.name ?? t("episode.unknownCitizen")}</h1>
      <dl class="facts">
        <div><dt>{t("episode.cpr")}</dt><dd>{citizen ? formatCpr(citizen.cpr) : t("common.none")}</dd></div>
        <div><dt>{t("episode.phone")}</dt><dd>{citizen?.phone ?? t("common.none")}</dd></div>
        <div><dt>{t("episode.diseaseArea")}</dt><dd>{translateKnown(t, "diseaseArea", episode.disease_area)}</dd></div>
        <div><dt>{t("episode.status")}</dt><dd>{translateKnown(t, "episode.status", episode.status)}</dd></div>
        <div><dt>{t("episode.treating")}</dt><dd>{episode.treating_organisation}{mine(episode.treating_organisation)}</dd></div>
        <div><dt>{t("episode.monitoring")}</dt><dd>{episode.monitoring_organisation}{mine(episode.monitoring_organisation)}</dd></div>
        <div><dt>{t("episode.created")}</dt><dd>{formatDateTime(episode.created_at)}</dd></div>
        {episode.note ? <div><dt>{t("episode.note")}</dt><dd>{episode.note}</dd></div> : null}
      </dl>
    </header>
  );
}

type Measured = Map<string, Measurement>;

function Charts({ episode, versions, onLoaded }: { episode: Episode; versions: ThresholdVersion[]; onLoaded: (measured: Measured) => void }) {
  const { api, t } = useApp();
  // The period ends when it was chosen, so a page left open and switched to another period shows what came since.
  const [period, setPeriod] = useState(() => ({ days: 30, to: Date.now() }));
  const { days, to } = period;
  const from = to - days * DAY_MILLISECONDS;
  const measurements = useAsync(() => api.measurements(episode.episode_id, new Date(from)), [episode.episode_id, from]);
  const series = useMemo(() => chartSeries(measurements.value ?? []), [measurements.value]);
  useEffect(() => {
    onLoaded(new Map((measurements.value ?? []).map((measurement) => [measurement.measurement_id, measurement])));
  }, [measurements.value]);
  return (
    <section aria-labelledby="charts-title">
      <h2 id="charts-title">{t("charts.title")}</h2>
      <label class="inline">
        {t("period.label")}{" "}
        <select value={String(days)} onChange={(event) => setPeriod({ days: Number((event.target as HTMLSelectElement).value), to: Date.now() })}>
          {PERIODS.map((period) => (
            <option key={period} value={String(period)}>{t("period.days", { days: period })}</option>
          ))}
        </select>
      </label>
      <ErrorMessage error={measurements.error} />
      {measurements.loading && !measurements.value ? <Loading /> : null}
      {measurements.value && series.size === 0 ? <p>{t("charts.none")}</p> : null}
      <div class="charts">
        {[...series.entries()].map(([type, points]) => (
          <Chart key={type} type={type} points={points} versions={versions} from={from} to={to} />
        ))}
      </div>
    </section>
  );
}

function AlarmItem({ alarm, measured, canAcknowledge, onChanged }: { alarm: Alarm; measured: Measured; canAcknowledge: boolean; onChanged: () => Promise<void> }) {
  const { api, t, language } = useApp();
  const [note, setNote] = useState("");
  const [error, setError] = useState<unknown>(null);
  const [busy, setBusy] = useState(false);
  const noteId = `note-${alarm.alarm_id}`;
  const what =
    alarm.kind === "measurement"
      ? t("alarm.kind.measurement", { type: translateKnown(t, "type", alarm.type ?? "") })
      : alarm.kind === "missed_measurement"
        ? t("alarm.kind.missed_measurement", { due: alarm.due_at ? formatDateTime(alarm.due_at) : t("common.none") })
        : t("alarm.kind.answer", { question: translateKnown(t, "question", alarm.question_id ?? "") });
  // The value that raised it, when the charts' period holds its measurement; when it was measured, if that
  // is not when the alarm was raised (a late reading).
  const measurement = alarm.measurement_id ? measured.get(alarm.measurement_id) : undefined;
  const value = measurement ? measuredValue(measurement, language) : null;
  const measuredAt = alarm.measured_at ? formatDateTime(alarm.measured_at) : null;
  const acknowledge = async (event: Event) => {
    event.preventDefault();
    setBusy(true);
    setError(null);
    try {
      await api.acknowledge(alarm.alarm_id, note);
      await onChanged();
    } catch (failure) {
      setError(failure);
    } finally {
      setBusy(false);
    }
  };
  return (
    <li class={`alarm alarm-${alarm.colour}`} data-testid="alarm" data-alarm-id={alarm.alarm_id} data-colour={alarm.colour} data-state={alarm.status}>
      <p>
        <ColourBadge colour={alarm.colour} /> <strong>{what}{value ? `: ${value}` : ""}</strong> ·{" "}
        {measuredAt && measuredAt !== formatDateTime(alarm.raised_at) ? `${t("alarm.measured", { time: measuredAt })} · ` : ""}
        {t("alarm.raised", { time: formatDateTime(alarm.raised_at) })} ·{" "}
        {translateKnown(t, "alarm.state", alarm.status)}
        {alarm.late ? <span class="flag late"> {t("alarm.late")}</span> : null}
      </p>
      {alarm.acknowledged ? (
        <p class="acknowledged">
          {t("alarm.acknowledgedBy", {
            by: alarm.acknowledged.by,
            organisation: alarm.acknowledged.organisation,
            time: formatDateTime(alarm.acknowledged.at),
            note: alarm.acknowledged.note,
          })}
        </p>
      ) : null}
      {alarm.status === "open" && canAcknowledge ? (
        <form class="acknowledge" onSubmit={acknowledge}>
          <label for={noteId}>{t("alarm.note")}</label>
          <textarea id={noteId} data-testid="acknowledge-note" rows={2} maxLength={1000} value={note}
            onInput={(event) => setNote((event.target as HTMLTextAreaElement).value)} />
          <button type="submit" data-testid="acknowledge" disabled={busy}>{t("alarm.acknowledge")}</button>
          <ErrorMessage error={error} />
        </form>
      ) : null}
    </li>
  );
}

function Alarms({ alarms, measured, canAcknowledge, onChanged }: { alarms: Alarm[]; measured: Measured; canAcknowledge: boolean; onChanged: () => Promise<void> }) {
  const { t } = useApp();
  return (
    <section aria-labelledby="alarms-title">
      <h2 id="alarms-title">{t("alarms.title")}</h2>
      {alarms.length === 0 ? <p>{t("alarms.none")}</p> : null}
      <ul class="alarms">
        {alarmsForDisplay(alarms).map((alarm) => (
          <AlarmItem key={alarm.alarm_id} alarm={alarm} measured={measured} canAcknowledge={canAcknowledge} onChanged={onChanged} />
        ))}
      </ul>
    </section>
  );
}

function Answers({ episodeId }: { episodeId: string }) {
  const { api, t } = useApp();
  const answers = useAsync(() => api.answers(episodeId), [episodeId]);
  return (
    <section aria-labelledby="answers-title">
      <h2 id="answers-title">{t("answers.title")}</h2>
      <ErrorMessage error={answers.error} />
      {answers.loading && !answers.value ? <Loading /> : null}
      {answers.value?.length === 0 ? <p>{t("answers.none")}</p> : null}
      {answers.value?.length ? (
        <table>
          <thead>
            <tr>
              <th scope="col">{t("answers.answeredAt")}</th>
              <th scope="col">{t("answers.question")}</th>
              <th scope="col">{t("answers.answer")}</th>
              <th scope="col">{t("chart.colour")}</th>
            </tr>
          </thead>
          <tbody>
            {answers.value.map((answer) => (
              <tr key={answer.answer_id} data-testid="answer" data-colour={answer.colour}>
                <td>{formatDateTime(answer.answered_at)}</td>
                <td>{translateKnown(t, "question", answer.question_id)}</td>
                <td>
                  {translateKnown(t, "answer", answer.answer)}
                  {answer.late ? <span class="flag late"> {t("answers.late")}</span> : null}
                  {answer.alarm_id ? <span class="flag"> {t("answers.alarm")}</span> : null}
                </td>
                <td><ColourBadge colour={answer.colour} /></td>
              </tr>
            ))}
          </tbody>
        </table>
      ) : null}
    </section>
  );
}

function limitsText(version: ThresholdVersion, labels: Record<LimitName, string>, format: (value: number) => string,
  typeName: (type: string) => string): string {
  return Object.entries(version.thresholds.absolute ?? {})
    .map(([type, limits]) => {
      const given = LIMIT_NAMES.filter((name) => typeof limits[name] === "number").map((name) => `${labels[name]} ${format(limits[name] as number)}`);
      return `${typeName(type)}: ${given.join(", ")}`;
    })
    .join("; ");
}

function useLimitLabels(): Record<LimitName, string> {
  const { t } = useApp();
  return { red_low: t("chart.redLow"), yellow_low: t("chart.yellowLow"), yellow_high: t("chart.yellowHigh"), red_high: t("chart.redHigh") };
}

function NewThresholdVersion({ episode, onSaved }: { episode: Episode; onSaved: Announce }) {
  const { api, t } = useApp();
  const types = Object.keys(episode.thresholds.thresholds.absolute ?? {});
  const [type, setType] = useState(types[0] ?? "");
  const [limits, setLimits] = useState<Record<LimitName, string>>({ red_low: "", yellow_low: "", yellow_high: "", red_high: "" });
  const [validFrom, setValidFrom] = useState("");
  const [error, setError] = useState<unknown>(null);
  const [busy, setBusy] = useState(false);
  const labels = useLimitLabels();
  const submit = async (event: Event) => {
    event.preventDefault();
    setBusy(true);
    setError(null);
    try {
      const saved = await api.newThresholdVersion(episode.episode_id, thresholdChange(type, limits, validFrom));
      setLimits({ red_low: "", yellow_low: "", yellow_high: "", red_high: "" });
      await onSaved({ key: "thresholds.saved", values: { version: saved.version } });
    } catch (failure) {
      setError(failure);
    } finally {
      setBusy(false);
    }
  };
  return (
    <form class="threshold-form" data-testid="new-threshold-version" onSubmit={submit}>
      <fieldset>
        <legend>{t("thresholds.new")}</legend>
        <p class="hint">{t("thresholds.keep")}</p>
        <label>
          {t("thresholds.type")}
          <select value={type} onChange={(event) => setType((event.target as HTMLSelectElement).value)}>
            {types.map((name) => (
              <option key={name} value={name}>{translateKnown(t, "type", name)}</option>
            ))}
          </select>
        </label>
        {LIMIT_NAMES.map((name) => (
          <label key={name}>
            {labels[name]}
            <input type="text" inputMode="decimal" name={name} value={limits[name]}
              onInput={(event) => setLimits({ ...limits, [name]: (event.target as HTMLInputElement).value })} />
          </label>
        ))}
        <label>
          {t("thresholds.validFrom")} <span class="hint">{t("thresholds.validFromHint")}</span>
          <input type="datetime-local" name="valid_from" value={validFrom} onInput={(event) => setValidFrom((event.target as HTMLInputElement).value)} />
        </label>
        <button type="submit" disabled={busy || !type}>{t("thresholds.save")}</button>
      </fieldset>
      <ErrorMessage error={error} />
    </form>
  );
}

function Thresholds({ episode, versions, onSaved }: { episode: Episode; versions: ThresholdVersion[]; onSaved: Announce }) {
  const { t, language, session } = useApp();
  const treating = session.organisation === episode.treating_organisation && episode.status !== "ended";
  const labels = useLimitLabels();
  return (
    <section aria-labelledby="thresholds-title" data-testid="thresholds">
      <h2 id="thresholds-title">{t("thresholds.title")}</h2>
      <p>{t("thresholds.current", { version: episode.thresholds.version, from: formatDateTime(episode.thresholds.valid_from) })}</p>
      <table>
        <caption>{t("thresholds.history")}</caption>
        <thead>
          <tr>
            <th scope="col">{t("thresholds.version")}</th>
            <th scope="col">{t("thresholds.validFrom")}</th>
            <th scope="col">{t("thresholds.setBy")}</th>
            <th scope="col">{t("thresholds.limits")}</th>
          </tr>
        </thead>
        <tbody>
          {versions.map((version) => (
            <tr key={version.version}>
              <th scope="row">{version.version}</th>
              <td>{formatDateTime(version.valid_from)}</td>
              <td>{version.set_by ?? t("common.none")}</td>
              <td>{limitsText(version, labels, (value) => formatNumber(value, language), (type) => translateKnown(t, "type", type))}</td>
            </tr>
          ))}
        </tbody>
      </table>
      {treating ? <NewThresholdVersion episode={episode} onSaved={onSaved} /> : <p class="hint">{t("thresholds.onlyTreating")}</p>}
    </section>
  );
}

function Handover({ episode, onChanged }: { episode: Episode; onChanged: Announce }) {
  const { api, t, session } = useApp();
  const [to, setTo] = useState("");
  const [error, setError] = useState<unknown>(null);
  const [busy, setBusy] = useState(false);
  const monitoring = session.organisation === episode.monitoring_organisation;
  const offeredToUs = episode.handover?.to_organisation === session.organisation;
  const act = async (action: () => Promise<unknown>, key: MessageKey) => {
    setBusy(true);
    setError(null);
    try {
      await action();
      await onChanged({ key });
    } catch (failure) {
      setError(failure);
    } finally {
      setBusy(false);
    }
  };
  if (episode.status === "ended") return null;
  return (
    <section aria-labelledby="handover-title">
      <h2 id="handover-title">{t("handover.title")}</h2>
      <p>
        {episode.handover
          ? t("handover.pending", { organisation: episode.handover.to_organisation, time: formatDateTime(episode.handover.offered_at) })
          : t("handover.none")}
      </p>
      {monitoring && !episode.handover ? (
        <form class="handover-offer" onSubmit={(event) => { event.preventDefault(); void act(() => api.offerHandover(episode.episode_id, to.trim()), "handover.offered"); }}>
          <label for="handover-to">{t("handover.to")}</label>
          <input id="handover-to" name="to_organisation" type="text" inputMode="numeric" autoComplete="off" value={to}
            onInput={(event) => setTo((event.target as HTMLInputElement).value)} />
          <button type="submit" data-testid="handover-offer" disabled={busy}>{t("handover.offer")}</button>
        </form>
      ) : null}
      {monitoring && episode.handover ? (
        <button type="button" data-testid="handover-withdraw" disabled={busy}
          onClick={() => void act(() => api.withdrawHandover(episode.episode_id), "handover.withdrawn")}>
          {t("handover.withdraw")}
        </button>
      ) : null}
      {offeredToUs ? (
        <div class="toolbar">
          <p>{t("handover.offeredToYou")}</p>
          <button type="button" class="primary" data-testid="handover-accept" disabled={busy}
            onClick={() => void act(() => api.acceptHandover(episode.episode_id), "handover.accepted")}>
            {t("handover.accept")}
          </button>
          <button type="button" data-testid="handover-decline" disabled={busy}
            onClick={() => void act(() => api.declineHandover(episode.episode_id), "handover.declined")}>
            {t("handover.decline")}
          </button>
        </div>
      ) : null}
      <ErrorMessage error={error} />
    </section>
  );
}

export function EpisodePage({ episodeId }: { episodeId: string }) {
  const { api, t, session } = useApp();
  const episode = useAsync(() => api.episode(episodeId), [episodeId]);
  const [alarms, setAlarms] = useState<Alarm[] | null>(null);
  const [alarmsError, setAlarmsError] = useState<unknown>(null);
  const [measured, setMeasured] = useState<Measured>(() => new Map());
  // Kept as a key and worded when shown, so it follows a switch of language.
  const [announced, setAnnounced] = useState<Announcement | null>(null);
  const message = announced ? t(announced.key, announced.values) : "";
  const monitoring = episode.value?.monitoring_organisation === session.organisation;
  const treatingOrMonitoring = monitoring || episode.value?.treating_organisation === session.organisation;

  const loadAlarms = async () => {
    try {
      setAlarms(await api.alarms(episodeId));
      setAlarmsError(null);
    } catch (failure) {
      setAlarmsError(failure);
    }
  };
  useEffect(() => {
    // An organisation only offered the episode reads the episode, not its alarms or measurements.
    if (treatingOrMonitoring) void loadAlarms();
  }, [episodeId, treatingOrMonitoring]);

  const changed: Announce = async (announcement) => {
    setAnnounced(announcement);
    await Promise.all([episode.reload(), treatingOrMonitoring ? loadAlarms() : Promise.resolve()]);
  };
  const versions = useMemo(() => episode.value?.threshold_history ?? [], [episode.value]);

  // A 403 after the page was shown means the organisation's relation ended (it declined the offer): what
  // it did is said, and nothing of the episode stays on the screen.
  const refused = episode.error instanceof ApiError && episode.error.status === 403;
  if ((episode.error && !episode.value) || refused) {
    return (
      <section>
        <h1>{t("episode.title")}</h1>
        {message ? <p role="status">{message}</p> : <ErrorMessage error={episode.error} />}
        <p><a href="#/">{t("episode.back")}</a></p>
      </section>
    );
  }
  if (!episode.value) return <Loading />;
  return (
    <article class="episode">
      <p><a href="#/">{t("episode.back")}</a></p>
      <CitizenHeader episode={episode.value} />
      <p class="announcement" role="status" aria-live="polite">{message}</p>
      {episode.error ? <ErrorMessage error={episode.error} /> : null}
      {monitoring ? <p><a href={accessLogHref(episodeId)}>{t("episode.accessLog")}</a></p> : null}
      {treatingOrMonitoring ? (
        <>
          {alarms === null && !alarmsError ? <Loading /> : (
            <Alarms alarms={alarms ?? []} measured={measured} canAcknowledge={monitoring} onChanged={() => changed({ key: "alarm.acknowledged" })} />
          )}
          <ErrorMessage error={alarmsError} />
          <Charts episode={episode.value} versions={versions} onLoaded={setMeasured} />
          <Answers episodeId={episodeId} />
        </>
      ) : null}
      <Thresholds episode={episode.value} versions={versions} onSaved={changed} />
      <Handover episode={episode.value} onChanged={changed} />
    </article>
  );
}
