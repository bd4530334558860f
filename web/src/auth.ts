// Sign-in by authorization code with PKCE. The tokens live in this module's memory only: a reload signs in
// again. Only the verifier, the state and the route to return to cross the redirect, in sessionStorage, and
// are removed as soon as the app is back.
import { authorizeUrl, challengeS256, endSessionUrl, jwtClaims, parseCallback, randomToken, tokenRequestBody } from "./pkce";
import type { OidcConfig } from "./pkce";

const PENDING_KEY = "telehub.signin";

export interface Session {
  accessToken: string;
  idToken: string | null;
  subject: string;
  organisation: string | null;
  role: string | null;
  signedInAt: number;
  /** Whether this sign-in was started by the API refusing the token before. */
  afterRefusal: boolean;
}

// A new token refused within this time of a sign-in that a refusal started is not an expired one: the identity
// provider and the stage disagree (another client id, issuer or audience), and signing in again would loop.
const FRESH_MILLISECONDS = 60_000;

export function refusedAgain(refused: Session | null, now = Date.now()): boolean {
  return refused !== null && refused.afterRefusal && now - refused.signedInAt < FRESH_MILLISECONDS;
}

let session: Session | null = null;

export function currentSession(): Session | null {
  return session;
}

export function accessToken(): string | null {
  return session?.accessToken ?? null;
}

/** Forgets the tokens; returns where to end the provider's session too, if it has an end-session endpoint. */
export function signOut(oidc?: OidcConfig): string | null {
  const idToken = session?.idToken ?? null;
  session = null;
  return oidc ? endSessionUrl(oidc, redirectUri(), idToken) : null;
}

function redirectUri(): string {
  return `${location.origin}/`;
}

export async function signIn(oidc: OidcConfig, afterRefusal = false): Promise<void> {
  const verifier = randomToken();
  const state = randomToken();
  const returnTo = location.hash || "#/";
  sessionStorage.setItem(PENDING_KEY, JSON.stringify({ verifier, state, returnTo, afterRefusal }));
  location.assign(authorizeUrl(oidc, { redirectUri: redirectUri(), state, challenge: await challengeS256(verifier) }));
}

export class SignInError extends Error {}

/**
 * Completes a sign-in when the identity provider has just redirected back with ?code=&state=. Returns false
 * when the URL carries no answer (nothing to complete).
 */
export async function completeSignIn(oidc: OidcConfig): Promise<boolean> {
  const callback = parseCallback(location.search);
  if (callback.kind === "none") return false;
  const pending = sessionStorage.getItem(PENDING_KEY);
  sessionStorage.removeItem(PENDING_KEY);
  const stored = pending
    ? (JSON.parse(pending) as { verifier: string; state: string; returnTo: string; afterRefusal?: boolean })
    : null;
  history.replaceState(null, "", `/${stored?.returnTo ?? "#/"}`);
  if (callback.kind === "error") throw new SignInError(callback.description ?? callback.error);
  if (!stored || stored.state !== callback.state) throw new SignInError("the answer does not belong to this sign-in (state)");
  const response = await fetch(oidc.token_endpoint, {
    method: "POST",
    headers: { "Content-Type": "application/x-www-form-urlencoded", Accept: "application/json" },
    body: tokenRequestBody(oidc, { code: callback.code, redirectUri: redirectUri(), verifier: stored.verifier }),
    cache: "no-store",
  });
  const tokens = (await response.json().catch(() => ({}))) as Record<string, unknown>;
  if (!response.ok || typeof tokens.access_token !== "string") {
    throw new SignInError(String(tokens.error_description ?? tokens.error ?? `HTTP ${response.status}`));
  }
  const claims = jwtClaims(tokens.access_token);
  session = {
    accessToken: tokens.access_token,
    idToken: typeof tokens.id_token === "string" ? tokens.id_token : null,
    subject: String(claims.sub ?? ""),
    organisation: typeof claims.telehub_org === "string" ? claims.telehub_org : null,
    role: typeof claims.telehub_role === "string" ? claims.telehub_role : null,
    signedInAt: Date.now(),
    afterRefusal: stored.afterRefusal === true,
  };
  return true;
}
