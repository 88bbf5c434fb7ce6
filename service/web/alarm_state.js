// The alarms the page holds (not closed, by id) and their list items: shared by the list
// (alarms.js), the pulse on the map (alarm_pulse.js) and the popup (alarm_popup.js).
// `onemap.alarms` points here, for tests.

import {GRADES, time} from "./alarm_words.js";

export const state = {
  items: new Map(),      // alarm id → the alarm (not closed)
  closed: new Set(),     // ids seen closed: a closed alarm is final, an older copy must not return
  matched: 0,            // alarms not closed the list said there were (it shows LIMIT at most)
  loaded: false,
  connection: "connecting",
  events: 0,
  lastEventId: null,
  refreshes: 0,          // tile refreshes done (each after a change)
  animating: false,
  popupFor: null,
  error: null,
};
export const nodes = new Map();  // alarm id → its list item

// Worst grade first, then the newest raised: the order of GET /alarms.
export function ordered() {
  return [...state.items.values()].sort((a, b) =>
    GRADES.indexOf(a.grade) - GRADES.indexOf(b.grade)
    || time(b.raised_at) - time(a.raised_at) || b.id - a.id);
}
