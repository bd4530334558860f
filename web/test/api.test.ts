import { test } from "node:test";
import assert from "node:assert/strict";
import { Api, ApiError, problemFrom } from "../src/api";
import { describeError } from "../src/errors";
import { translator } from "../src/i18n";

const reply = (status: number, body: unknown) =>
  new Response(body === null ? null : JSON.stringify(body), { status, headers: { "Content-Type": "application/problem+json" } });

test("Given a token in memory, when calling, then it is the bearer and the reply is parsed", async () => {
  const seen: { url: string; init: RequestInit }[] = [];
  const api = new Api({
    token: () => "t0k3n",
    onUnauthorized: () => assert.fail("not a 401"),
    fetch: async (url, init) => {
      seen.push({ url: String(url), init: init! });
      return reply(200, { rows: [], next_cursor: null });
    },
  });
  assert.deepEqual(await api.worklist(), []);
  assert.equal(seen[0]!.url, "/v1/worklist?limit=100");
  assert.equal((seen[0]!.init.headers as Record<string, string>).Authorization, "Bearer t0k3n");
});

test("Given a 401, when calling, then the user is sent to sign in again", async () => {
  let signIns = 0;
  const api = new Api({ token: () => "old", onUnauthorized: () => signIns++, fetch: async () => reply(401, { code: "unauthorized" }) });
  await assert.rejects(api.worklist(), (error: unknown) => error instanceof ApiError && error.status === 401);
  assert.equal(signIns, 1);
});

test("Given a 422 naming a field, then the user is told the field and the message", async () => {
  const api = new Api({
    token: () => "t",
    onUnauthorized: () => undefined,
    fetch: async () => reply(422, { code: "invalid_input", detail: "see errors", errors: [{ field: "note", message: "String should have at least 1 character" }] }),
  });
  const error = await api.acknowledge("alm_1", "").catch((e: unknown) => e);
  assert.deepEqual(describeError(error, translator("en")), ["note: String should have at least 1 character"]);
});

test("Given other refusals, then each status has its sentence and a body that is no problem still becomes one", () => {
  const en = translator("en");
  assert.deepEqual(describeError(problemFrom(403, { code: "forbidden" }), en), ["You have no access to this."]);
  assert.match(describeError(problemFrom(409, { detail: "acknowledged by nurse-1" }), en)[0]!, /acknowledged by nurse-1/);
  assert.deepEqual(describeError(problemFrom(502, "<html>"), en), ["Error 502: "]);
  assert.deepEqual(describeError(new TypeError("fetch failed"), en), ["No connection to Telehub."]);
});
