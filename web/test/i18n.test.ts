import { test } from "node:test";
import assert from "node:assert/strict";
import { MESSAGES, translator } from "../src/i18n";

test("Given the two tables, then both have exactly the same keys", () => {
  assert.deepEqual(Object.keys(MESSAGES.en).sort(), Object.keys(MESSAGES.da).sort());
});

test("Given both tables, then no string is empty and each keeps the other's placeholders", () => {
  for (const key of Object.keys(MESSAGES.da) as (keyof typeof MESSAGES.da)[]) {
    const names = (text: string) => [...new Set([...text.matchAll(/\{(\w+)[|}]/g)].map((m) => m[1]))].sort();
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

test("Given a count, when a message words it, then one takes the singular and any other number the plural", () => {
  const counts = { time: "09:01", rows: 1, red: 1, yellow: 0, blue: 2, green: 1 };
  assert.equal(translator("da")("worklist.refreshed", counts), "Opdateret 09:01: 1 borger, 1 rød, 0 gule, 2 blå, 1 grøn.");
  assert.equal(translator("en")("worklist.refreshed", counts), "Refreshed 09:01: 1 citizen, 1 red, 0 yellow, 2 blue, 1 green.");
  assert.equal(translator("da")("worklist.refreshed", { ...counts, rows: 2, red: 2, green: 0 }),
    "Opdateret 09:01: 2 borgere, 2 røde, 0 gule, 2 blå, 0 grønne.");
  assert.equal(translator("da")("worklist.acknowledgedGreen", { uploads: 1, episodes: 1 }), "Kvitteret for 1 grøn indsendelse i 1 forløb.");
  assert.equal(translator("en")("worklist.acknowledgedGreen", { uploads: 3, episodes: 1 }), "Acknowledged 3 GREEN uploads in 1 episode.");
});
