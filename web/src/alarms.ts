// The order an episode's alarms are shown in: those still waiting first, most severe first among them, and
// otherwise the API's order (newest raised first), so what needs acting on is at the top.
import type { Alarm } from "./api";
import { severity } from "./colours";

export function alarmsForDisplay(alarms: readonly Alarm[]): Alarm[] {
  const rank = (alarm: Alarm) => (alarm.status === "open" ? severity(alarm.colour) : 10);
  return alarms
    .map((alarm, index) => ({ alarm, index }))
    .sort((a, b) => rank(a.alarm) - rank(b.alarm) || a.index - b.index)
    .map(({ alarm }) => alarm);
}
