import { test } from "node:test";
import assert from "node:assert/strict";
import { authorizeUrl, base64url, endSessionUrl, challengeS256, jwtClaims, parseCallback, randomToken, tokenRequestBody } from "../src/pkce";

const oidc = {
  authorization_endpoint: "http://127.0.0.1:8080/oauth2/authorize",
  token_endpoint: "http://127.0.0.1:8080/oauth2/token",
  client_id: "telehub-clinician-web",
  scope: "openid",
  end_session_endpoint: null,
};

test("Given RFC 7636's example verifier, then the S256 challenge is the RFC's", async () => {
  assert.equal(await challengeS256("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"), "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM");
});

test("Given random bytes, then a token is 43 base64url characters without padding", () => {
  const token = randomToken((bytes) => bytes.fill(255));
  assert.equal(token.length, 43);
  assert.match(token, /^[A-Za-z0-9_-]+$/);
  assert.equal(base64url(new Uint8Array([251, 255])), "-_8");
});

test("Given a sign-in, then the authorize URL carries the code flow, the client, the state and the S256 challenge", () => {
  const url = new URL(authorizeUrl(oidc, { redirectUri: "http://127.0.0.1:8080/", state: "s1", challenge: "c1" }));
  assert.equal(url.origin + url.pathname, oidc.authorization_endpoint);
  assert.deepEqual(Object.fromEntries(url.searchParams), {
    response_type: "code", client_id: "telehub-clinician-web", redirect_uri: "http://127.0.0.1:8080/",
    scope: "openid", state: "s1", code_challenge: "c1", code_challenge_method: "S256",
  });
});

test("Given the provider's redirect, then the code and state, an error, or nothing are read", () => {
  assert.deepEqual(parseCallback("?code=abc&state=xyz"), { kind: "code", code: "abc", state: "xyz" });
  assert.deepEqual(parseCallback("?error=access_denied"), { kind: "error", error: "access_denied", description: null });
  assert.deepEqual(parseCallback(""), { kind: "none" });
  assert.deepEqual(parseCallback("?code=abc"), { kind: "none" });
});

test("Given a code, then the token request is the authorization_code grant with the verifier", () => {
  const body = tokenRequestBody(oidc, { code: "abc", redirectUri: "http://127.0.0.1:8080/", verifier: "v" });
  assert.equal(body.toString(), "grant_type=authorization_code&code=abc&redirect_uri=http%3A%2F%2F127.0.0.1%3A8080%2F&client_id=telehub-clinician-web&code_verifier=v");
});

test("Given a JWT, then its claims are read; given garbage, then none", () => {
  const payload = Buffer.from(JSON.stringify({ sub: "nurse-1", telehub_org: "328081000016008" })).toString("base64url");
  assert.deepEqual(jwtClaims(`h.${payload}.s`), { sub: "nurse-1", telehub_org: "328081000016008" });
  assert.deepEqual(jwtClaims("not-a-jwt"), {});
  assert.deepEqual(jwtClaims("a.!!!.c"), {});
});

test("Given an end-session endpoint, then signing out goes there with the client and the way back; without one, nowhere", () => {
  const url = new URL(endSessionUrl({ ...oidc, end_session_endpoint: "https://idp.example/logout" }, "https://app.example/", "id.tok.en")!);
  assert.deepEqual(Object.fromEntries(url.searchParams), {
    client_id: "telehub-clinician-web", post_logout_redirect_uri: "https://app.example/", id_token_hint: "id.tok.en",
  });
  assert.equal(endSessionUrl(oidc, "https://app.example/", null), null);
});

test("Given a sign-in started by a refusal, when its new token is refused at once, then that is no expiry", async () => {
  const { refusedAgain } = await import("../src/auth");
  const session = { accessToken: "a", idToken: null, subject: "s", organisation: "o", role: "clinician", signedInAt: 1_000_000, afterRefusal: true };
  assert.equal(refusedAgain(session, 1_000_000 + 5_000), true);
  assert.equal(refusedAgain(session, 1_000_000 + 3_600_000), false, "an hour later it expired");
  assert.equal(refusedAgain({ ...session, afterRefusal: false }, 1_000_000 + 5_000), false, "the first refusal signs in again");
  assert.equal(refusedAgain(null), false);
});
