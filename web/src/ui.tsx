// What every page shares: the app's context, the colour badge, error messages and loading.
import { createContext } from "preact";
import { useCallback, useContext, useEffect, useState } from "preact/hooks";
import type { Api, Citizen } from "./api";
import type { CitizenCache } from "./citizens";
import type { Colour } from "./colours";
import type { Language, Translate } from "./i18n";
import type { Session } from "./auth";
import { describeError } from "./errors";

export interface AppContextValue {
  api: Api;
  citizens: CitizenCache;
  session: Session;
  language: Language;
  t: Translate;
}

export const AppContext = createContext<AppContextValue | null>(null);

export function useApp(): AppContextValue {
  const value = useContext(AppContext);
  if (!value) throw new Error("AppContext is not provided");
  return value;
}

/** The colour as text and colour together: colour is never the only signal. */
export function ColourBadge({ colour }: { colour: Colour | null }) {
  const { t } = useApp();
  return <span class={`badge badge-${colour ?? "NONE"}`}>{colour ? t(`colour.${colour}`) : t("colour.none")}</span>;
}

export function ErrorMessage({ error }: { error: unknown }) {
  const { t } = useApp();
  if (!error) return null;
  const lines = describeError(error, t);
  return (
    <div class="error" role="alert">
      <p class="error-title">{t("error.title")}</p>
      <ul>
        {lines.map((line) => (
          <li key={line}>{line}</li>
        ))}
      </ul>
    </div>
  );
}

export function Loading() {
  const { t } = useApp();
  return (
    <p class="loading" role="status">
      {t("app.loading")}
    </p>
  );
}

export interface Async<T> {
  value: T | undefined;
  error: unknown;
  loading: boolean;
  reload: () => Promise<void>;
}

/** Loads with the function given whenever a dependency changes; reload() loads again in place. */
export function useAsync<T>(load: () => Promise<T>, dependencies: unknown[]): Async<T> {
  const [state, setState] = useState<{ value: T | undefined; error: unknown; loading: boolean }>({
    value: undefined,
    error: null,
    loading: true,
  });
  const run = useCallback(async () => {
    setState((previous) => ({ ...previous, loading: true }));
    try {
      const value = await load();
      setState({ value, error: null, loading: false });
    } catch (error) {
      setState((previous) => ({ ...previous, error, loading: false }));
    }
  }, dependencies);
  useEffect(() => {
    void run();
  }, [run]);
  return { ...state, reload: run };
}

/** The episode's citizen from the session's cache: undefined while asked, null when the API refused. */
export function useCitizen(episodeId: string): Citizen | null | undefined {
  const { citizens } = useApp();
  const [citizen, setCitizen] = useState<Citizen | null | undefined>(undefined);
  useEffect(() => {
    let current = true;
    void citizens.get(episodeId).then((found) => current && setCitizen(found));
    return () => {
      current = false;
    };
  }, [episodeId, citizens]);
  return citizen;
}
