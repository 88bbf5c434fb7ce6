// The pulse on the map: points with an open alarm send out a ripple in their grade's colour,
// acknowledged ones keep a steady ring (a GeoJSON source fed from the alarms held). The
// ripple stops while the tab is hidden or less motion is wanted.

import {page} from "./app.js";
import {state, ordered} from "./alarm_state.js";
import {GRADES, colour, outline} from "./alarm_words.js";

export const SOURCE = "onemap-alarm-pulse";
const PULSE_MS = 1600;         // one ripple of an open alarm
const FRAME_MS = 50;           // ~20 frames a second is smooth enough and spares the CPU
const BUSY_MS = 400;           // the ripple's pace while the map moves or loads tiles

let frame = null;
let pending = null;  // cancels the wait for the ripple's next frame

const isOpen = ["==", ["get", "state"], "open"];
const NO_TRANSITION = {duration: 0, delay: 0};
const gradeColour = () => ["match", ["get", "grade"], ...GRADES.flatMap((g) => [g, colour(g)]),
  "#7D8A96"];
const gradeOutline = () => ["match", ["get", "grade"], ...GRADES.flatMap((g) => [g, outline(g)]),
  "#4E5963"];

export function addLayers() {
  const map = page.map;
  map.addSource(SOURCE, {type: "geojson", data: {type: "FeatureCollection", features: []}});
  // a steady ring: someone has acknowledged the alarm
  map.addLayer({id: `${SOURCE}-ring`, type: "circle", source: SOURCE,
    filter: ["==", ["get", "state"], "acknowledged"],
    paint: {"circle-color": gradeColour(), "circle-stroke-color": gradeOutline(),
      "circle-radius": 12, "circle-opacity": 0.18, "circle-stroke-width": 2,
      "circle-stroke-opacity": 0.9}});
  // a ripple: open, nobody has answered yet. Only constants change at each frame: a changed
  // data-driven value would make MapLibre lay the source out again, and a style transition
  // would keep the map from ever being idle (and the page from saying it is ready).
  map.addLayer({id: `${SOURCE}-ripple`, type: "circle", source: SOURCE,
    filter: ["==", ["get", "state"], "open"],
    paint: {"circle-color": gradeColour(), "circle-stroke-color": gradeOutline(),
      "circle-stroke-width": 2.5, "circle-radius-transition": NO_TRANSITION,
      "circle-opacity-transition": NO_TRANSITION,
      "circle-stroke-opacity-transition": NO_TRANSITION}});
  // the point itself, at every zoom (the `alarms` layer starts at zoom 9), on a dark edge
  // that keeps a red point apart from the red cells of the risk units below it
  map.addLayer({id: `${SOURCE}-edge`, type: "circle", source: SOURCE,
    paint: {"circle-color": "#1F2933", "circle-opacity": 0.6,
      "circle-radius": ["interpolate", ["linear"], ["zoom"], 8, 8, 16, 10.5]}});
  map.addLayer({id: `${SOURCE}-core`, type: "circle", source: SOURCE,
    paint: {"circle-color": gradeColour(),
      "circle-radius": ["interpolate", ["linear"], ["zoom"], 8, 5.5, 16, 8],
      "circle-stroke-color": ["case", isOpen, "#FFFFFF", "#263238"],
      "circle-stroke-width": 2}});
  paintPulse(null);
}

export function drawPulse() {
  const source = page.map?.getSource(SOURCE);
  if (!source) return;
  source.setData({type: "FeatureCollection", features: ordered().reverse().map((a) => ({
    type: "Feature", id: a.id,
    properties: {id: a.id, grade: a.grade, state: a.state, code: a.point_code},
    geometry: {type: "Point", coordinates: [a.lon, a.lat]},
  }))});
  animate();
}

// `phase` in [0, 1) of the ripple; null: still (the tab hidden, or less motion wanted).
function paintPulse(phase) {
  const map = page.map;
  const t = phase ?? 0.4;
  const ease = 1 - (1 - t) ** 2;  // fast out, slowing as it fades
  map.setPaintProperty(`${SOURCE}-ripple`, "circle-radius", 7 + 22 * ease);
  map.setPaintProperty(`${SOURCE}-ripple`, "circle-opacity", 0.4 * (1 - t));
  map.setPaintProperty(`${SOURCE}-ripple`, "circle-stroke-opacity", 1 - t);
}

const lessMotion = window.matchMedia?.("(prefers-reduced-motion: reduce)");

export function animate() {
  const wanted = !document.hidden && !lessMotion?.matches
    && [...state.items.values()].some((a) => a.state === "open");
  if (wanted && !state.animating) {
    state.animating = true;
    frame = requestAnimationFrame(step);
  } else if (!wanted && state.animating) {
    state.animating = false;
    cancelAnimationFrame(frame);
    pending?.();
    paintPulse(null);
  }
}

// One frame of the ripple. The next waits until the map has drawn this one and could call
// itself idle (the page's readiness and anyone waiting for "idle" need such a moment: on a
// slow GPU, a new frame at every tick would never leave one), or a while when it is busy
// moving or loading tiles.
function step() {
  if (!state.animating) return;
  const map = page.map;
  const painted = performance.now();
  paintPulse((painted % PULSE_MS) / PULSE_MS);
  let timer = null;
  const next = () => {
    map.off("idle", next);
    clearTimeout(timer);
    pending = null;
    if (!state.animating) return;
    const wait = Math.max(0, FRAME_MS - (performance.now() - painted));
    timer = setTimeout(() => { frame = requestAnimationFrame(step); }, wait);
    pending = () => { clearTimeout(timer); pending = null; };
  };
  map.once("idle", next);
  timer = setTimeout(next, BUSY_MS);
  pending = () => { map.off("idle", next); clearTimeout(timer); pending = null; };
}
