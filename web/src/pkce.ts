// OAuth 2.0 authorization code with PKCE (RFC 7636, S256): the pure parts, tested without a browser.

export interface OidcConfig {
  authorization_endpoint: string;
  token_endpoint: string;
  client_id: string;
  scope: string;
  end_session_endpoint: string | null;
}

export function base64url(bytes: Uint8Array): string {
  let binary = "";
  for (const byte of bytes) binary += String.fromCharCode(byte);
  return btoa(binary).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
}

/** A random string of 43 base64url characters (32 bytes), for the code verifier and the state. */
export function randomToken(random: (bytes: Uint8Array) => Uint8Array = (b) => crypto.getRandomValues(b)): string {
  return base64url(random(new Uint8Array(32)));
}

export async function challengeS256(verifier: string): Promise<string> {
  const digest = await crypto.subtle.digest("SHA-256", new TextEncoder().encode(verifier));
  return base64url(new Uint8Array(digest));
}

export function authorizeUrl(
  oidc: OidcConfig,
  request: { redirectUri: string; state: string; challenge: string },
): string {
  const url = new URL(oidc.authorization_endpoint);
  url.search = new URLSearchParams({
    response_type: "code",
    client_id: oidc.client_id,
    redirect_uri: request.redirectUri,
    scope: oidc.scope,
    state: request.state,
    code_challenge: request.challenge,
    code_challenge_method: "S256",
  }).toString();
  return url.toString();
}

export type Callback =
  | { kind: "code"; code: string; state: string }
  | { kind: "error"; error: string; description: string | null }
  | { kind: "none" };

/** What the identity provider's redirect to the app's root carries in its query. */
export function parseCallback(search: string): Callback {
  const params = new URLSearchParams(search);
  const error = params.get("error");
  if (error) return { kind: "error", error, description: params.get("error_description") };
  const code = params.get("code");
  const state = params.get("state");
  if (code && state) return { kind: "code", code, state };
  return { kind: "none" };
}

export function tokenRequestBody(
  oidc: OidcConfig,
  grant: { code: string; redirectUri: string; verifier: string },
): URLSearchParams {
  return new URLSearchParams({
    grant_type: "authorization_code",
    code: grant.code,
    redirect_uri: grant.redirectUri,
    client_id: oidc.client_id,
    code_verifier: grant.verifier,
  });
}

/** A JWT's claims, read without verifying (the API verifies; the app only shows who is signed in). */
export function jwtClaims(token: string): Record<string, unknown> {
  const payload = token.split(".")[1];
  if (!payload) return {};
  try {
    const padded = payload.replace(/-/g, "+").replace(/_/g, "/").padEnd(Math.ceil(payload.length / 4) * 4, "=");
    const bytes = Uint8Array.from(atob(padded), (c) => c.charCodeAt(0));
    const claims: unknown = JSON.parse(new TextDecoder().decode(bytes));
    return typeof claims === "object" && claims !== null ? (claims as Record<string, unknown>) : {};
  } catch {
    return {};
  }
}

/**
 * Where to send the browser to end the provider's session too (OpenID Connect RP-initiated logout), or null
 * when the provider names no end-session endpoint.
 */
export function endSessionUrl(oidc: OidcConfig, postLogoutRedirectUri: string, idToken: string | null): string | null {
  if (!oidc.end_session_endpoint) return null;
  const url = new URL(oidc.end_session_endpoint);
  url.searchParams.set("client_id", oidc.client_id);
  url.searchParams.set("post_logout_redirect_uri", postLogoutRedirectUri);
  if (idToken) url.searchParams.set("id_token_hint", idToken);
  return url.toString();
}
