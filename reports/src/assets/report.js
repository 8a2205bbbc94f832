// The report's interactive layer: hover an op for its whole record, zoom and pan the
// timeline, jump from a violation to its op, filter by process, node or f. It reads the
// page's own data (#ops-data, #timeline-geometry), fetches nothing, and writes every
// value as text, never as markup.
(function () {
  "use strict";
  const box = document.getElementById("timeline");
  const dataEl = document.getElementById("ops-data");
  const geoEl = document.getElementById("timeline-geometry");
  if (!box || !dataEl || !geoEl) return;
  const svg = box.querySelector("svg");
  const tip = document.getElementById("tip");
  const ops = JSON.parse(dataEl.textContent);
  const g = JSON.parse(geoEl.textContent);
  const plotW = g.width - g.left - g.right;
  const xOf = (ns) => g.left + (ns / g.endNs) * plotW;
  const byIndex = new Map(ops.map((o) => [o.i, o]));
  const byRow = new Map();
  for (const o of ops) {
    if (!byRow.has(o.row)) byRow.set(o.row, []);
    byRow.get(o.row).push(o);
  }
  const full = { x: 0, y: 0, w: g.width, h: g.height };
  let view = Object.assign({}, full);
  const shownHeight = svg.getBoundingClientRect().height;
  svg.style.height = shownHeight + "px";
  svg.setAttribute("preserveAspectRatio", "xMinYMin meet");
  const apply = () =>
    svg.setAttribute("viewBox", `${view.x} ${view.y} ${view.w} ${view.h}`);
  apply();

  const secs = (ns) => (ns / 1e9).toFixed(3) + " s";
  function describe(o) {
    const lines = [
      `index=${o.i}  process ${o.p}  ${o.f}  ${o.o}`,
      `value: ${o.v}`,
      `${secs(o.s)} to ${secs(o.e)} (${((o.e - o.s) / 1e6).toFixed(1)} ms)`,
    ];
    if (o.node) lines.push(`node: ${o.node}`);
    if (o.token !== null && o.token !== undefined) lines.push(`token: ${o.token}`);
    if (o.err) lines.push(`error: ${o.err}`);
    return lines.join("\n");
  }
  function showTip(o, clientX, clientY) {
    tip.textContent = describe(o);
    tip.hidden = false;
    tip.style.left = clientX + window.scrollX + 14 + "px";
    tip.style.top = clientY + window.scrollY + 14 + "px";
  }
  function toSvg(clientX, clientY) {
    const r = svg.getBoundingClientRect();
    return {
      x: view.x + ((clientX - r.left) * view.w) / r.width,
      y: view.y + ((clientY - r.top) * view.h) / r.height,
    };
  }
  // The op under the pointer: among the row's ops whose interval holds that instant the
  // shortest; else the nearest within two units (ops too short to hit exactly).
  function opAt(p) {
    const row = Math.floor((p.y - g.top) / g.rowPx);
    const list = byRow.get(row) || [];
    const slack = (2 * g.endNs) / plotW;
    const ns = ((p.x - g.left) / plotW) * g.endNs;
    let inside = null;
    let near = null;
    let nearGap = Infinity;
    for (const o of list) {
      if (ns >= o.s && ns <= o.e) {
        if (!inside || o.e - o.s < inside.e - inside.s) inside = o;
        continue;
      }
      const gap = ns < o.s ? o.s - ns : ns - o.e;
      if (gap <= slack && gap < nearGap) {
        near = o;
        nearGap = gap;
      }
    }
    return inside || near;
  }
  let drag = null;
  svg.addEventListener("mousemove", (ev) => {
    if (drag) {
      const r = svg.getBoundingClientRect();
      view.x = drag.x - ((ev.clientX - drag.cx) * view.w) / r.width;
      view.y = drag.y - ((ev.clientY - drag.cy) * view.h) / r.height;
      apply();
      return;
    }
    const o = opAt(toSvg(ev.clientX, ev.clientY));
    if (o) showTip(o, ev.clientX, ev.clientY);
    else tip.hidden = true;
  });
  svg.addEventListener("mouseleave", () => (tip.hidden = true));
  svg.addEventListener("mousedown", (ev) => {
    drag = { cx: ev.clientX, cy: ev.clientY, x: view.x, y: view.y };
    ev.preventDefault();
  });
  window.addEventListener("mouseup", () => (drag = null));
  function zoom(factor, at) {
    const w = Math.min(full.w, Math.max(full.w / 256, view.w * factor));
    const h = (w * full.h) / full.w;
    const c = at || { x: view.x + view.w / 2, y: view.y + view.h / 2 };
    view.x = c.x - ((c.x - view.x) * w) / view.w;
    view.y = c.y - ((c.y - view.y) * h) / view.h;
    view.w = w;
    view.h = h;
    if (w >= full.w) view = Object.assign({}, full);
    apply();
  }
  svg.addEventListener(
    "wheel",
    (ev) => {
      ev.preventDefault();
      zoom(ev.deltaY < 0 ? 0.8 : 1.25, toSvg(ev.clientX, ev.clientY));
    },
    { passive: false }
  );
  const on = (id, f) => {
    const el = document.getElementById(id);
    if (el) el.addEventListener("click", f);
  };
  on("zoom-in", () => zoom(0.5));
  on("zoom-out", () => zoom(2));
  on("zoom-reset", () => {
    view = Object.assign({}, full);
    apply();
  });

  const ns = svg.namespaceURI;
  let focus = null;
  function focusOn(o) {
    if (focus) focus.remove();
    const x0 = xOf(o.s);
    const x1 = Math.max(xOf(o.e), x0 + 2);
    focus = document.createElementNS(ns, "rect");
    focus.setAttribute("x", x0 - 2);
    focus.setAttribute("y", g.top + o.row * g.rowPx);
    focus.setAttribute("width", x1 - x0 + 4);
    focus.setAttribute("height", g.rowPx);
    focus.setAttribute("fill", "none");
    focus.setAttribute("stroke", "#d00000");
    focus.setAttribute("stroke-width", "3");
    svg.appendChild(focus);
    const w = Math.min(full.w, Math.max(120, (x1 - x0) * 8));
    view.w = w;
    view.h = (w * full.h) / full.w;
    view.x = (x0 + x1) / 2 - w / 2;
    view.y = Math.max(0, g.top + o.row * g.rowPx - view.h / 2);
    if (w >= full.w) view = Object.assign({}, full);
    apply();
    box.dataset.focus = String(o.i);
  }
  document.querySelectorAll("a.jump").forEach((a) =>
    a.addEventListener("click", (ev) => {
      ev.preventDefault();
      const o = byIndex.get(Number(a.dataset.op));
      box.scrollIntoView({ block: "center" });
      if (!o) {
        tip.textContent = `index=${a.dataset.op}: not among the ops this page carries`;
        tip.hidden = false;
        return;
      }
      focusOn(o);
      const r = svg.getBoundingClientRect();
      showTip(o, r.left + r.width / 2, r.top + r.height / 2);
    })
  );

  // The linearizability page's step buttons walk its linearization, one op at a time.
  const steps = Array.from(document.querySelectorAll("a.jump[data-step]"));
  let current = -1;
  function step(by) {
    if (!steps.length) return;
    current = Math.min(steps.length - 1, Math.max(0, current + by));
    document
      .querySelectorAll("tr.current")
      .forEach((tr) => tr.classList.remove("current"));
    const link = steps[current];
    link.closest("tr").classList.add("current");
    link.click();
    const at = document.getElementById("step-at");
    if (at) at.textContent = `step ${current + 1} of ${steps.length}`;
  }
  on("step-next", () => step(1));
  on("step-prev", () => step(-1));

  const filter = document.getElementById("filter");
  let dim = null;
  if (filter)
    filter.addEventListener("input", () => {
      const q = filter.value.trim();
      box.dataset.filter = q;
      if (dim) dim.remove();
      dim = null;
      if (!q) return;
      const hit = (o) =>
        String(o.p) === q || `process ${o.p}` === q || o.node === q || o.f === q;
      dim = document.createElementNS(ns, "g");
      let drawn = 0;
      for (const o of ops) {
        if (hit(o) || drawn > 20000) continue;
        const r = document.createElementNS(ns, "rect");
        const x0 = xOf(o.s);
        r.setAttribute("x", x0);
        r.setAttribute("y", g.top + o.row * g.rowPx);
        r.setAttribute("width", Math.max(1, xOf(o.e) - x0));
        r.setAttribute("height", g.rowPx);
        r.setAttribute("fill", "white");
        r.setAttribute("fill-opacity", "0.8");
        dim.appendChild(r);
        drawn += 1;
      }
      svg.appendChild(dim);
    });
})();
