// Inline SVG charts: stacked bars for the reports, a sparkline for live metrics.
// Colours come from CSS classes (series-0 ... series-6, series-other), so they follow
// the light and dark themes and need no inline styles (the CSP forbids them).

import { h } from "./dom.mjs";

const SVG = "http://www.w3.org/2000/svg";

function s(tag, attrs = {}, ...children) {
  const el = document.createElementNS(SVG, tag);
  for (const [name, value] of Object.entries(attrs)) el.setAttribute(name, String(value));
  for (const child of children) el.append(child instanceof Node ? child : String(child));
  return el;
}

function niceMax(value) {
  if (value <= 0) return 1;
  const magnitude = 10 ** Math.floor(Math.log10(value));
  const step = [1, 2, 2.5, 5, 10].find((m) => m * magnitude >= value);
  return step * magnitude;
}

export function seriesClass(index, isOther) {
  return isOther ? "series-other" : `series-${index % 7}`;
}

/**
 * A stacked bar chart: one bar per label, one stacked segment per series.
 * {title, labels, series: [{name, values}], format(value) -> text, formatLabel(label) -> text}.
 * The figure carries the title and a legend; each segment has a <title> tooltip. The
 * same numbers are always shown in a table next to it (the accessible form of the data).
 */
export function barChart({ title, labels, series, format, formatLabel = (l) => l }) {
  const width = 720;
  const height = 240;
  const pad = { top: 12, right: 12, bottom: 28, left: 64 };
  const plotW = width - pad.left - pad.right;
  const plotH = height - pad.top - pad.bottom;
  const totals = labels.map((_, i) => series.reduce((sum, ser) => sum + ser.values[i], 0));
  const max = niceMax(Math.max(0, ...totals));
  const slot = plotW / Math.max(1, labels.length);
  const barW = Math.max(2, Math.min(48, slot * 0.7));
  const y = (v) => pad.top + plotH - (v / max) * plotH;

  const titleId = `chart-${Math.random().toString(36).slice(2)}`;
  const svg = s("svg", {
    viewBox: `0 0 ${width} ${height}`,
    role: "img",
    "aria-labelledby": titleId,
    class: "chart",
    preserveAspectRatio: "xMidYMid meet",
  });
  svg.append(s("title", { id: titleId }, title));

  for (const fraction of [0, 0.5, 1]) {
    const value = max * fraction;
    svg.append(
      s("line", { x1: pad.left, x2: width - pad.right, y1: y(value), y2: y(value), class: "grid" }),
      s("text", { x: pad.left - 6, y: y(value) + 4, "text-anchor": "end", class: "axis" }, format(value)),
    );
  }

  const every = Math.ceil(labels.length / 12);
  labels.forEach((label, i) => {
    const x = pad.left + slot * i + (slot - barW) / 2;
    let base = 0;
    series.forEach((ser, k) => {
      const value = ser.values[i];
      if (value <= 0) return;
      const top = y(base + value);
      const rect = s("rect", {
        x: x.toFixed(1),
        y: top.toFixed(1),
        width: barW.toFixed(1),
        height: Math.max(0.5, y(base) - top).toFixed(1),
        class: seriesClass(k, ser.other),
      });
      rect.append(s("title", {}, `${formatLabel(label)} · ${ser.name}: ${format(value)}`));
      svg.append(rect);
      base += value;
    });
    if (i % every === 0) {
      svg.append(
        s("text", { x: (x + barW / 2).toFixed(1), y: height - 8, "text-anchor": "middle", class: "axis" }, formatLabel(label)),
      );
    }
  });

  const legend = h(
    "ul",
    { class: "legend" },
    series.map((ser, k) => h("li", {}, h("span", { class: `swatch ${seriesClass(k, ser.other)}`, "aria-hidden": "true" }), ser.name)),
  );
  return h("figure", { class: "chart-figure" }, svg, series.length > 1 ? legend : null);
}

/** A small line of the last values (newest right), for the live metrics cards. */
export function sparkline(values, label) {
  const width = 160;
  const height = 36;
  const max = Math.max(1e-9, ...values);
  const step = values.length > 1 ? width / (values.length - 1) : width;
  const points = values.map((v, i) => `${(i * step).toFixed(1)},${(height - 2 - (v / max) * (height - 4)).toFixed(1)}`);
  return s(
    "svg",
    { viewBox: `0 0 ${width} ${height}`, preserveAspectRatio: "none", class: "sparkline", role: "img", "aria-label": label },
    s("polyline", { points: points.join(" "), class: "spark", "vector-effect": "non-scaling-stroke" }),
  );
}
