// The running system's configuration, served beside the app (GET /config.json, no auth).
import type { OidcConfig } from "./pkce";
import type { Language } from "./i18n";

export interface AppConfig {
  stage: string;
  oidc: OidcConfig;
  languages: Language[];
}

export async function loadConfig(): Promise<AppConfig> {
  const response = await fetch("/config.json", { cache: "no-store" });
  if (!response.ok) throw new Error(`config.json: HTTP ${response.status}`);
  return (await response.json()) as AppConfig;
}
