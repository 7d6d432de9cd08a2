// Small SVG charts drawn by our own code (no library, no CDN: the inbox
// works offline): bars per day with a reference line, and a histogram.
// Colours are SVG presentation attributes, never style attributes (the
// Content-Security-Policy allows no inline styles).

const NS = "http://www.w3.org/2000/svg";

function el(tag, attrs = {}, ...children) {
  const node = document.createElementNS(NS, tag);
  for (const [k, v] of Object.entries(attrs)) if (v !== null && v !== undefined) node.setAttribute(k, String(v));
  for (const c of children) if (c) node.append(c);
  return node;
}

function text(x, y, s, attrs = {}) {
  const node = el("text", { x, y, "font-size": 11, fill: "#6b7385", ...attrs });
  node.textContent = s;
  return node;
}

/**
 * Vertical bars, one per item `{label, value, title?, tone?}` (value in
 * 0..max, or null for "no data"), an optional dashed reference line at
 * `ref` with its `refLabel`, y ticks formatted by `fmt`.
 */
export function barChart({ items, max = 1, ref = null, refLabel = "", fmt = (v) => String(v), width = 640, height = 220, className = "" }) {
  const pad = { l: 40, r: 12, t: 14, b: 28 };
  const w = width - pad.l - pad.r;
  const hgt = height - pad.t - pad.b;
  const svgEl = el("svg", { viewBox: `0 0 ${width} ${height}`, class: `chart ${className}`.trim(), role: "img", width, height, preserveAspectRatio: "xMidYMid meet" });
  const y = (v) => pad.t + hgt - (Math.max(0, Math.min(max, v)) / max) * hgt;
  for (let i = 0; i <= 4; i++) {
    const v = (max * i) / 4;
    svgEl.append(el("line", { x1: pad.l, x2: width - pad.r, y1: y(v), y2: y(v), stroke: "#e6e8ee", "stroke-width": 1 }));
    svgEl.append(text(pad.l - 6, y(v) + 4, fmt(v), { "text-anchor": "end" }));
  }
  const n = Math.max(1, items.length);
  const slot = w / n;
  const bw = Math.max(2, Math.min(36, slot * 0.62));
  const every = Math.ceil(n / Math.max(1, Math.floor(w / 56)));
  items.forEach((it, i) => {
    const cx = pad.l + slot * i + slot / 2;
    if (it.value !== null && it.value !== undefined) {
      const top = y(it.value);
      const bar = el("rect", {
        x: cx - bw / 2, y: top, width: bw, height: Math.max(0, pad.t + hgt - top), rx: 3,
        fill: it.tone === "bad" ? "#e5484d" : it.tone === "warn" ? "#f0a020" : "#3d5afe",
        class: "bar", "data-label": it.label, "data-value": it.value,
      });
      if (it.title) bar.append(Object.assign(el("title"), { textContent: it.title }));
      svgEl.append(bar);
    } else {
      svgEl.append(el("rect", { x: cx - bw / 2, y: pad.t + hgt - 2, width: bw, height: 2, fill: "#d5d9e2", class: "bar empty", "data-label": it.label }));
    }
    if (i % every === 0) svgEl.append(text(cx, height - 10, it.label, { "text-anchor": "middle" }));
  });
  if (ref !== null && ref !== undefined) {
    svgEl.append(el("line", { x1: pad.l, x2: width - pad.r, y1: y(ref), y2: y(ref), stroke: "#1f9d55", "stroke-width": 1.5, "stroke-dasharray": "5 4", class: "ref" }));
    svgEl.append(text(width - pad.r, y(ref) - 5, refLabel, { "text-anchor": "end", fill: "#1f9d55", "font-weight": 600 }));
  }
  svgEl.append(el("line", { x1: pad.l, x2: width - pad.r, y1: pad.t + hgt, y2: pad.t + hgt, stroke: "#9aa1b1", "stroke-width": 1 }));
  return svgEl;
}

/** A histogram: adjacent bars `{label, value, tone?}` with counts above them. */
export function histogram({ items, width = 640, height = 220, className = "" }) {
  // Whole-number ticks: the top is the next multiple of four.
  const max = Math.max(4, Math.ceil(Math.max(...items.map((i) => i.value)) / 4) * 4);
  return barChart({ items, max, width, height, className: `histogram ${className}`, fmt: (v) => String(Math.round(v)) });
}
