// The episode's access log: who read or changed the citizen's data, newest first, a page at a time.
import { useEffect, useState } from "preact/hooks";
import type { AccessLogEntry } from "../api";
import { formatDateTimeSeconds } from "../format";
import { episodeHref } from "../routes";
import { translateKnown } from "../i18n";
import { ErrorMessage, Loading, useApp } from "../ui";

export function AccessLogPage({ episodeId }: { episodeId: string }) {
  const { api, t } = useApp();
  const [entries, setEntries] = useState<AccessLogEntry[] | null>(null);
  const [cursor, setCursor] = useState<string | null>(null);
  const [error, setError] = useState<unknown>(null);

  const load = async (after: string | null) => {
    try {
      const page = await api.accessLog(episodeId, after);
      setEntries((previous) => [...(after ? previous ?? [] : []), ...page.entries]);
      setCursor(page.next_cursor);
      setError(null);
    } catch (failure) {
      setError(failure);
    }
  };
  useEffect(() => {
    void load(null);
  }, [episodeId]);

  return (
    <section aria-labelledby="access-log-title">
      <p><a href={episodeHref(episodeId)}>{t("accessLog.back")}</a></p>
      <h1 id="access-log-title">{t("accessLog.title")}</h1>
      <p>{t("accessLog.intro")}</p>
      <ErrorMessage error={error} />
      {entries === null ? (
        error ? null : <Loading />
      ) : (
        <table data-testid="access-log">
          <thead>
            <tr>
              <th scope="col">{t("accessLog.time")}</th>
              <th scope="col">{t("accessLog.organisation")}</th>
              <th scope="col">{t("accessLog.role")}</th>
              <th scope="col">{t("accessLog.subject")}</th>
              <th scope="col">{t("accessLog.action")}</th>
              <th scope="col">{t("accessLog.outcome")}</th>
            </tr>
          </thead>
          <tbody>
            {entries.length === 0 ? <tr><td colSpan={6}>{t("accessLog.empty")}</td></tr> : null}
            {entries.map((entry, index) => (
              <tr key={`${entry.accessed_at}-${index}`} data-testid="access-log-entry" data-action={entry.action}>
                <td>{formatDateTimeSeconds(entry.accessed_at)}</td>
                <td>{entry.organisation ?? t("common.none")}</td>
                <td>{translateKnown(t, "role", entry.role)}</td>
                <td>{entry.subject}</td>
                <td>{translateKnown(t, "action", entry.action)}</td>
                <td>{entry.outcome ? translateKnown(t, "outcome", entry.outcome) : t("common.none")}</td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
      {cursor ? <button type="button" onClick={() => void load(cursor)}>{t("accessLog.more")}</button> : null}
    </section>
  );
}
