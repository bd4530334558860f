import { test } from "node:test";
import assert from "node:assert/strict";
import { MESSAGES, translator } from "../src/i18n";

test("Given the two tables, then both have exactly the same keys", () => {
  assert.deepEqual(Object.keys(MESSAGES.en).sort(), Object.keys(MESSAGES.da).sort());
});

test("Given both tables, then no string is empty and each keeps the other's placeholders", () => {
  for (const key of Object.keys(MESSAGES.da) as (keyof typeof MESSAGES.da)[]) {
    const names = (text: string) => [...text.matchAll(/\{(\w+)\}/g)].map((m) => m[1]).sort();
    assert.ok(MESSAGES.da[key].length > 0 && MESSAGES.en[key].length > 0, key);
    assert.deepEqual(names(MESSAGES.en[key]), names(MESSAGES.da[key]), key);
  }
});

test("Given a colour, when translated, then Danish names it in Danish and English in English", () => {
  assert.equal(translator("da")("colour.RED"), "RØD");
  assert.equal(translator("en")("colour.RED"), "RED");
});

test("Given values, when a message has placeholders, then they are filled in", () => {
  assert.equal(translator("en")("period.days", { days: 7 }), "7 days");
});
