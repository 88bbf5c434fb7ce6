// How alarms are named and shown: grade, state, event and kind names (Chinese with English
// beside), colours from the page's palette, times and amounts. Shared by the alarm list
// (alarms.js), the pulse on the map (alarm_pulse.js) and the popup (alarm_popup.js).

import {bilingual, districtName, escapeHTML, page} from "./app.js";

export const GRADES = ["red", "orange", "yellow", "blue"];
// Warning levels (突发事件应对法 Art. 42), not the risk grades' names of the legend.
export const GRADE_NAMES = {
  red: ["红色预警", "Red · level I"], orange: ["橙色预警", "Orange · level II"],
  yellow: ["黄色预警", "Yellow · level III"], blue: ["蓝色预警", "Blue · level IV"],
};
export const GRADE_SHORT = {red: ["红", "Red"], orange: ["橙", "Orange"], yellow: ["黄", "Yellow"],
  blue: ["蓝", "Blue"]};
export const STATE_NAMES = {open: ["未处置", "open"], acknowledged: ["已确认", "acknowledged"],
  closed: ["已关闭", "closed"]};
export const EVENT_NAMES = {opened: ["发布", "opened"], escalated: ["升级", "escalated"],
  acknowledged: ["确认", "acknowledged"], closed: ["关闭", "closed"]};
export const KIND_NAMES = {
  gas: ["燃气", "Gas"], water_supply: ["供水", "Water supply"], drainage: ["排水防涝", "Drainage"],
  heating: ["供热", "Heating"], bridge: ["桥梁", "Bridge"], power: ["电力", "Power"],
};
export function names(table, key) {
  return table[key] ?? [key ?? "–", key ?? "–"];
}

export function colour(grade) {
  return page.palette[grade] ?? "#7D8A96";
}

export function outline(grade) {
  const entry = (page.style?.metadata?.["onemap:legend"] ?? []).find((e) => e.grade === grade);
  return entry?.outline ?? colour(grade);
}

export const time = (value) => (value ? Date.parse(value) : NaN);

const pad = (n) => String(n).padStart(2, "0");

// Local time, short: "17:04" today, "11-23 17:04" before, the year when not this one.
export function clock(value, full = false) {
  const at = new Date(time(value));
  if (Number.isNaN(at.getTime())) return "–";
  const now = new Date();
  const hm = `${pad(at.getHours())}:${pad(at.getMinutes())}`;
  const md = `${pad(at.getMonth() + 1)}-${pad(at.getDate())}`;
  if (full || at.getFullYear() !== now.getFullYear()) return `${at.getFullYear()}-${md} ${hm}`;
  return at.toDateString() === now.toDateString() ? hm : `${md} ${hm}`;
}

export function amount(value, unit) {
  if (value === null || value === undefined) return "–";
  const text = Number(value).toLocaleString("zh-CN", {maximumFractionDigits: 2});
  return unit ? `${text} ${unit}` : text;
}

export function district(alarm) {
  if (!alarm.district_code) return alarm.district_name ?? "–";
  const named = districtName(alarm.district_code);  // "碑林区 · Beilin" once app.js has them
  return named === String(alarm.district_code) ? (alarm.district_name ?? named) : named;
}

export function stateBadge(alarm) {
  const [zh, en] = names(STATE_NAMES, alarm.state);
  const by = alarm.state === "acknowledged" && alarm.acknowledged_by
    ? ` · ${escapeHTML(alarm.acknowledged_by)}` : "";
  return `<span class="state ${escapeHTML(alarm.state)}">${escapeHTML(zh)} `
    + `<span class="en">${escapeHTML(en)}</span>${by}</span>`;
}

// The worst value reached (highest, or lowest for falling kinds such as water pressure: what
// the grade answers to), and the latest reading when the point has moved on since.
export function peak(a) {
  return a.peak_value ?? a.value;
}

export function latest(a) {
  const moved = a.last_value !== null && a.last_value !== undefined && a.last_value !== peak(a);
  return moved ? `${bilingual(["现值", "now"])} ${escapeHTML(amount(a.last_value, a.unit))}` : "";
}
