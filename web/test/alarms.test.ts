import { test } from "node:test";
import assert from "node:assert/strict";
import { alarmsForDisplay } from "../src/alarms";
import type { Alarm } from "../src/api";

const alarm = (alarm_id: string, colour: Alarm["colour"], status: Alarm["status"]) => ({ alarm_id, colour, status }) as Alarm;

test("Given alarms newest first, then the open ones come first, most severe first, the rest keep their order", () => {
  const shown = alarmsForDisplay([
    alarm("a", "YELLOW", "acknowledged"),
    alarm("b", "YELLOW", "open"),
    alarm("c", "GREEN", "lowered"),
    alarm("d", "RED", "open"),
    alarm("e", "RED", "acknowledged"),
  ]);
  assert.deepEqual(shown.map((a) => a.alarm_id), ["d", "b", "a", "c", "e"]);
});
