// The app's start: read the configuration, finish a sign-in the identity provider just answered, or go
// and sign in; then show the page the hash names.
import "uplot/dist/uPlot.min.css";
import "./styles.css";
import { render } from "preact";
import { useEffect, useMemo, useState } from "preact/hooks";
import { Api } from "./api";
import { accessToken, completeSignIn, currentSession, refusedAgain, signIn, signOut } from "./auth";
import type { Session } from "./auth";
import { CitizenCache } from "./citizens";
import { loadConfig } from "./config";
import type { AppConfig } from "./config";
import { LANGUAGES, translator } from "./i18n";
import type { Language } from "./i18n";
import { parseRoute } from "./routes";
import { AppContext } from "./ui";
import { WorklistPage } from "./pages/worklist";
import { EpisodePage } from "./pages/episode";
import { AccessLogPage } from "./pages/access-log";

function useRoute() {
  const [hash, setHash] = useState(location.hash);
  useEffect(() => {
    const changed = () => setHash(location.hash);
    addEventListener("hashchange", changed);
    return () => removeEventListener("hashchange", changed);
  }, []);
  return parseRoute(hash);
}

function App({ config, initialError }: { config: AppConfig; initialError: string | null }) {
  const [language, setLanguage] = useState<Language>("da");
  const [session, setSession] = useState<Session | null>(currentSession());
  const [refusedByApi, setRefusedByApi] = useState(false);
  const route = useRoute();
  const t = useMemo(() => translator(language), [language]);
  const api = useMemo(
    () =>
      new Api({
        token: accessToken,
        onUnauthorized: () => {
          const refused = currentSession();
          signOut();
          if (refusedAgain(refused)) {
            setRefusedByApi(true);
            setSession(null);
          } else {
            void signIn(config.oidc, true);
          }
        },
      }),
    [config],
  );
  const citizens = useMemo(() => new CitizenCache(api), [api]);

  useEffect(() => {
    document.documentElement.lang = language;
    // The page's kind only: a citizen's name would reach the browser's history.
    const page = { worklist: "worklist.title", episode: "episode.title", "access-log": "accessLog.title", "not-found": "notFound.title" } as const;
    document.title = `${t(page[route.page])} – ${t("app.title")}`;
  }, [language, t, route.page]);
  useEffect(() => {
    // A new page puts the focus on its content, so a keyboard or screen reader user starts there.
    document.getElementById("main")?.focus();
  }, [route.page]);

  // The stage's config.json lists the languages offered; the app has tables for Danish and English.
  const other = LANGUAGES.find((candidate) => candidate !== language && (config.languages ?? LANGUAGES).includes(candidate));
  const switchLanguage = other ? (
    <button type="button" class="link-button" data-testid="language-switch" lang={other}
      aria-label={t("language.switch.label")} onClick={() => setLanguage(other)}>
      {t("language.switch")}
    </button>
  ) : null;

  if (!session) {
    return (
      <main id="main" tabIndex={-1} class="signed-out">
        <h1>{t("app.title")}</h1>
        {initialError ? (
          <p role="alert" class="error">{t("session.failed", { reason: initialError })}</p>
        ) : refusedByApi ? (
          <p role="alert" class="error">{t("session.refused")}</p>
        ) : (
          <p>{t("session.signedOut")}</p>
        )}
        <p>
          <button type="button" class="primary" onClick={() => void signIn(config.oidc)}>{t("session.signIn")}</button>
        </p>
        <p>{switchLanguage}</p>
      </main>
    );
  }

  return (
    <AppContext.Provider value={{ api, citizens, session, language, t }}>
      <a class="skip-link" href="#main" onClick={(event) => { event.preventDefault(); document.getElementById("main")?.focus(); }}>
        {t("app.skip")}
      </a>
      <header class="top">
        <nav aria-label={t("nav.main")}>
          <a class="brand" href="#/">{t("app.title")}</a>
          <a href="#/" aria-current={route.page === "worklist" ? "page" : undefined}>{t("nav.worklist")}</a>
        </nav>
        <div class="who">
          <span data-testid="signed-in-as">
            {t("session.signedInAs", { subject: session.subject, organisation: session.organisation ?? "—" })}
          </span>
          {switchLanguage}
          <button type="button" class="link-button" onClick={() => {
            const endSession = signOut(config.oidc);
            if (endSession) location.assign(endSession);
            else setSession(null);
          }}>
            {t("session.signOut")}
          </button>
        </div>
      </header>
      <main id="main" tabIndex={-1}>
        {session.role !== "clinician" ? (
          <p role="alert" class="error">{t("session.notClinician")}</p>
        ) : route.page === "worklist" ? (
          <WorklistPage />
        ) : route.page === "episode" ? (
          <EpisodePage key={route.episodeId} episodeId={route.episodeId} />
        ) : route.page === "access-log" ? (
          <AccessLogPage key={route.episodeId} episodeId={route.episodeId} />
        ) : (
          <section>
            <h1>{t("notFound.title")}</h1>
            <p><a href="#/">{t("notFound.back")}</a></p>
          </section>
        )}
      </main>
    </AppContext.Provider>
  );
}

async function start(): Promise<void> {
  const root = document.getElementById("app")!;
  let config: AppConfig;
  try {
    config = await loadConfig();
  } catch (error) {
    render(<main id="main"><h1>Telehub</h1><p role="alert">Telehub kan ikke starte / cannot start: {String(error)}</p></main>, root);
    return;
  }
  let initialError: string | null = null;
  try {
    await completeSignIn(config.oidc);
  } catch (error) {
    initialError = error instanceof Error ? error.message : String(error);
  }
  if (!currentSession() && !initialError) {
    await signIn(config.oidc);
    return;
  }
  render(<App config={config} initialError={initialError} />, root);
}

void start();
