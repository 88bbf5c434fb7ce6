// One alarm in a popup at its point: what it is, why, who did what, and its history
// (GET /alarms/{id}); kept up to date while it is open.

import {bilingual, escapeHTML, getJSON, page, say} from "./app.js";
import {nodes, state} from "./alarm_state.js";
import {EVENT_NAMES, GRADE_NAMES, GRADE_SHORT, KIND_NAMES, amount, clock, colour, district,
  names, peak, stateBadge} from "./alarm_words.js";

function badge(grade) {
  return `<span class="grade-badge alarm-${escapeHTML(grade)}" `
    + `style="background:${escapeHTML(colour(grade))}">`
    + `${escapeHTML(names(GRADE_NAMES, grade).join(" · "))}</span>`;
}

function row(label, value) {
  return value ? `<tr><th>${bilingual(label)}</th><td>${value}</td></tr>` : "";
}

function historyHTML(history) {
  if (!history?.length) return "";
  return `<h4>${bilingual(["经过", "History"])}</h4><ol class="alarm-history">${history.map((h) =>
    `<li><time>${escapeHTML(clock(h.at))}</time> <b>${bilingual(names(EVENT_NAMES, h.event))}</b>`
    + `${h.grade_from ? ` ${escapeHTML(names(GRADE_SHORT, h.grade_from)[0])} → ` : " "}`
    + `<span class="dot" style="background:${escapeHTML(colour(h.grade))}"></span>`
    + `${escapeHTML(names(GRADE_SHORT, h.grade)[0])}`
    + `${h.value !== null && h.value !== undefined ? ` · ${escapeHTML(amount(h.value))}` : ""}`
    + `${h.actor ? ` · ${escapeHTML(h.actor)}` : ""}`
    + `${h.note ? `<br><span class="note">${escapeHTML(h.note)}</span>` : ""}</li>`)
    .join("")}</ol>`;
}

function alarmHTML(a, history) {
  const [kindZh, kindEn] = names(KIND_NAMES, a.kind);
  const last = a.last_value !== null && a.last_value !== undefined
    ? `${escapeHTML(amount(a.last_value, a.unit))} · ${escapeHTML(clock(a.last_reading_at))}` : "";
  const acknowledged = a.acknowledged_at ? `${escapeHTML(clock(a.acknowledged_at))}`
    + `${a.acknowledged_by ? ` · ${escapeHTML(a.acknowledged_by)}` : ""}` : "";
  const closed = a.closed_at ? `${escapeHTML(clock(a.closed_at))}`
    + `${a.closed_by ? ` · ${escapeHTML(a.closed_by)}` : ""}` : "";
  return `<div class="popup alarm-popup"><h3>${escapeHTML(a.point_code ?? "")} `
    + `${escapeHTML(kindZh)} <span class="en">${escapeHTML(kindEn)}</span></h3>`
    + `<p class="layer-name">${escapeHTML(a.point_name ?? "")}</p>`
    + `<p>${badge(a.grade)} ${stateBadge(a)}</p>`
    + (a.reason ? `<div class="why">${escapeHTML(a.reason)}</div>` : "")
    + `<table>`
    + row(["最不利值", "Worst reading"], escapeHTML(amount(peak(a), a.unit)))
    + row(["开启读数", "Opening reading"], a.value !== peak(a)
      ? escapeHTML(amount(a.value, a.unit)) : "")
    + row(["最新读数", "Last reading"], last)
    + row(["区县", "District"], escapeHTML(district(a)))
    + row(["发布", "Raised"], escapeHTML(clock(a.raised_at, true)))
    + row(["升级", "Escalated"], a.escalated_at ? escapeHTML(clock(a.escalated_at, true)) : "")
    + row(["确认", "Acknowledged"], acknowledged)
    + row(["关闭", "Closed"], closed)
    + row(["备注", "Note"], a.note ? escapeHTML(a.note) : "")
    + `</table>${historyHTML(history)}</div>`;
}

// The alarm in a popup at its point: `open` a new popup (flying there when `fly`), else bring
// the one open up to date; its history follows.
export async function showAlarm(id, {open = false, fly = false} = {}) {
  const map = page.map;
  const alarm = state.items.get(id);
  let popup = page.popup;
  if (open) {
    if (!alarm) return;
    page.popup?.remove();
    // offset: the pulsing point stays in sight under the popup's tip
    popup = new page.maplibregl.Popup({maxWidth: "360px", focusAfterOpen: false, offset: 14});
    page.popup = popup;
    state.popupFor = id;
    popup.on("close", () => {
      if (state.popupFor === id && page.popup === popup) state.popupFor = null;
      nodes.get(id)?.classList.remove("selected");
    });
    popup.setLngLat([alarm.lon, alarm.lat]).setHTML(alarmHTML(alarm)).addTo(map);
    for (const [key, item] of nodes) item.classList.toggle("selected", key === id);
    if (fly) {
      map.flyTo({center: [alarm.lon, alarm.lat], zoom: Math.max(map.getZoom(), 15),
        duration: 900, essential: true});
    }
  } else if (!popup?.isOpen() || state.popupFor !== id) {
    return;
  }
  try {
    const full = await getJSON(`alarms/${encodeURIComponent(id)}`);
    if (page.popup !== popup || !popup.isOpen()) return;
    popup.setHTML(alarmHTML(full, full.history));
  } catch (error) {
    say("alarm", `预警详情读取失败 · Could not read the alarm: ${escapeHTML(error.message)}`,
      "warning");
  }
}
