// Telehub's public API, called with the signed-in clinician's token from memory. Errors arrive as
// problem+json (docs/api.md#errors); a 401 means the token is gone or expired, so the user signs in again.
import type { Colour, ColourCounts } from "./colours";
import type { ThresholdVersion } from "./bands";

export interface FieldProblem {
  field: string;
  message: string;
}

export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string | null,
    readonly detail: string | null,
    readonly fields: FieldProblem[],
  ) {
    super(detail ?? `HTTP ${status}`);
  }
}

/** The problem+json body of a refused request, whatever shape it arrived in. */
export function problemFrom(status: number, body: unknown): ApiError {
  const problem = typeof body === "object" && body !== null ? (body as Record<string, unknown>) : {};
  const errors = Array.isArray(problem.errors) ? problem.errors : [];
  const fields = errors
    .filter((e): e is Record<string, unknown> => typeof e === "object" && e !== null)
    .map((e) => ({ field: String(e.field ?? ""), message: String(e.message ?? "") }));
  return new ApiError(
    status,
    typeof problem.code === "string" ? problem.code : null,
    typeof problem.detail === "string" ? problem.detail : null,
    fields,
  );
}

export interface AlarmSummary {
  alarm_id: string;
  colour: Colour;
  raised_at: string;
  late: boolean;
}

export interface WorklistRow {
  episode_id: string;
  patient_id: string;
  disease_area: string;
  alarm: AlarmSummary | null;
  counts: ColourCounts;
  last_measured_at: string | null;
  late: boolean;
}

export interface Page {
  next_cursor: string | null;
}

export interface Handover {
  to_organisation: string;
  offered_by: string;
  offered_at: string;
}

export interface Episode {
  episode_id: string;
  patient_id: string;
  disease_area: string;
  status: string;
  treating_organisation: string;
  monitoring_organisation: string;
  logistics_centre: string;
  schedule: Record<string, unknown>;
  note: string | null;
  device_ids: string[];
  handover: Handover | null;
  created_at: string;
  ended_at: string | null;
  thresholds: ThresholdVersion;
  threshold_history: ThresholdVersion[];
  threshold_history_next_cursor: string | null;
}

export interface Component {
  type: string;
  value: number;
  unit: string;
}

export interface Measurement {
  measurement_id: string;
  type: string;
  value: number | null;
  unit: string | null;
  components: Component[] | null;
  measured_at: string;
  received_at: string;
  method: string;
  late: boolean;
  colour: Colour | null;
  threshold_version: number | null;
  invalidated: { by: string; organisation: string; at: string; reason: string } | null;
  alarm_id: string | null;
}

export interface Alarm {
  alarm_id: string;
  episode_id: string;
  kind: "measurement" | "missed_measurement" | "answer";
  colour: Colour;
  raised_colour: Colour;
  status: "open" | "acknowledged" | "lowered" | "invalidated";
  raised_at: string;
  late: boolean;
  measurement_id: string | null;
  type: string | null;
  measured_at: string | null;
  due_at: string | null;
  question_id: string | null;
  answer: string | null;
  answered_at: string | null;
  acknowledged: { by: string; organisation: string; at: string; note: string } | null;
}

/** A questionnaire answer of one sitting, with the colour the disease area's template gives it. */
export interface QuestionnaireAnswer {
  answer_id: string;
  question_id: string;
  answer: string;
  answered_at: string;
  colour: Colour;
  late: boolean;
  alarm_id: string | null;
}

export interface AccessLogEntry {
  accessed_at: string;
  organisation: string | null;
  role: string;
  subject: string;
  action: string;
  endpoint: string | null;
  outcome: string | null;
  episode_id: string | null;
}

export interface Citizen {
  cpr: string;
  name: string;
  phone: string;
}

type Query = Record<string, string | number | null | undefined>;

export interface ApiOptions {
  token: () => string | null;
  onUnauthorized: () => void;
  fetch?: typeof fetch;
}

export class Api {
  private readonly send: typeof fetch;

  constructor(private readonly options: ApiOptions) {
    this.send = options.fetch ?? ((input, init) => fetch(input, init));
  }

  async request<T>(method: string, path: string, query: Query = {}, body?: unknown): Promise<T> {
    const params = new URLSearchParams();
    for (const [name, value] of Object.entries(query)) if (value != null) params.set(name, String(value));
    const url = params.size ? `${path}?${params}` : path;
    const headers: Record<string, string> = { Accept: "application/json" };
    const token = this.options.token();
    if (token) headers.Authorization = `Bearer ${token}`;
    if (body !== undefined) headers["Content-Type"] = "application/json";
    const response = await this.send(url, {
      method,
      headers,
      body: body === undefined ? null : JSON.stringify(body),
      cache: "no-store",
    });
    if (response.status === 401) this.options.onUnauthorized();
    const text = await response.text();
    const parsed: unknown = text ? safeJson(text) : null;
    if (!response.ok) throw problemFrom(response.status, parsed);
    return parsed as T;
  }

  /** Every page of a list, following next_cursor, up to a bound so a runaway list cannot hang the page. */
  async all<T, K extends string>(path: string, key: K, query: Query = {}, maxPages = 20): Promise<T[]> {
    const items: T[] = [];
    let cursor: string | null = null;
    for (let page = 0; page < maxPages; page++) {
      const reply: Page & Record<K, T[]> = await this.request("GET", path, { ...query, limit: 100, cursor });
      items.push(...reply[key]);
      cursor = reply.next_cursor;
      if (!cursor) break;
    }
    return items;
  }

  worklist(): Promise<WorklistRow[]> {
    return this.all<WorklistRow, "rows">("/v1/worklist", "rows");
  }

  acknowledgeGreen(): Promise<{ uploads: number; episodes: number }> {
    return this.request("POST", "/v1/worklist/acknowledge-green", {}, {});
  }

  /** The episode with every page of its threshold history. */
  async episode(episodeId: string): Promise<Episode> {
    const path = `/v1/episodes/${encodeURIComponent(episodeId)}`;
    const episode: Episode = await this.request("GET", path, { history_limit: 100 });
    let cursor = episode.threshold_history_next_cursor;
    for (let page = 0; cursor && page < 20; page++) {
      const next: Episode = await this.request("GET", path, { history_limit: 100, history_cursor: cursor });
      episode.threshold_history.push(...next.threshold_history);
      cursor = next.threshold_history_next_cursor;
    }
    return episode;
  }

  citizen(episodeId: string): Promise<Citizen> {
    return this.request("GET", `/v1/episodes/${encodeURIComponent(episodeId)}/citizen`);
  }

  measurements(episodeId: string, from: Date): Promise<Measurement[]> {
    return this.all<Measurement, "measurements">(`/v1/episodes/${encodeURIComponent(episodeId)}/measurements`, "measurements", {
      from: from.toISOString(),
    });
  }

  alarms(episodeId: string): Promise<Alarm[]> {
    return this.all<Alarm, "alarms">(`/v1/episodes/${encodeURIComponent(episodeId)}/alarms`, "alarms");
  }

  /** Every questionnaire answer of the episode (of the last 35 days: the API keeps no older), newest first. */
  answers(episodeId: string): Promise<QuestionnaireAnswer[]> {
    return this.all<QuestionnaireAnswer, "answers">(`/v1/episodes/${encodeURIComponent(episodeId)}/answers`, "answers");
  }

  acknowledge(alarmId: string, note: string): Promise<Alarm> {
    return this.request("POST", `/v1/alarms/${encodeURIComponent(alarmId)}/acknowledge`, {}, { note });
  }

  newThresholdVersion(episodeId: string, change: { thresholds: unknown; valid_from?: string }): Promise<ThresholdVersion> {
    return this.request("PUT", `/v1/episodes/${encodeURIComponent(episodeId)}/thresholds`, {}, change);
  }

  offerHandover(episodeId: string, toOrganisation: string): Promise<Episode> {
    return this.request("POST", `/v1/episodes/${encodeURIComponent(episodeId)}/handover`, {}, { to_organisation: toOrganisation });
  }

  withdrawHandover(episodeId: string): Promise<void> {
    return this.request("DELETE", `/v1/episodes/${encodeURIComponent(episodeId)}/handover`);
  }

  acceptHandover(episodeId: string): Promise<Episode> {
    return this.request("POST", `/v1/episodes/${encodeURIComponent(episodeId)}/handover/accept`, {}, {});
  }

  declineHandover(episodeId: string): Promise<void> {
    return this.request("POST", `/v1/episodes/${encodeURIComponent(episodeId)}/handover/decline`, {}, {});
  }

  accessLog(episodeId: string, cursor: string | null): Promise<Page & { entries: AccessLogEntry[] }> {
    return this.request("GET", `/v1/episodes/${encodeURIComponent(episodeId)}/access-log`, { limit: 50, cursor });
  }
}

function safeJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return null;
  }
}
