// The overview's two charts, drawn as SVG: finished jobs per minute (stacked by final status)
// and the run-time distribution. Both are plain bar charts over at most 60 bars, which a few
// dozen lines draw; a chart library would add more code to ship, read and keep up to date than
// it saves here. Colours come from the stylesheet (classes), so they follow dark mode.

const NS = "http://www.w3.org/2000/svg";

function svg(tag, attrs, text) {
  const el = document.createElementNS(NS, tag);
  for (const [k, v] of Object.entries(attrs)) el.setAttribute(k, String(v));
  if (text !== undefined) el.textContent = text;
  return el;
}

// The smallest of 2, 4, 5, 10, 20, 40, 50, 100, ... at or above n: an even top, so the middle
// grid line is a whole number too.
function niceCeiling(n) {
  let scale = 1;
  for (;;) {
    for (const step of [2, 4, 5, 10]) if (n <= step * scale) return step * scale;
    scale *= 10;
  }
}

// bars: [{label, parts: [{name, value}]}]; the parts of a bar are stacked in order.
export function barChart(bars, { title, height = 160, xLabels = () => "" } = {}) {
  const width = 600;
  const pad = { top: 10, right: 8, bottom: 22, left: 36 };
  const max = niceCeiling(Math.max(...bars.map((b) => b.parts.reduce((s, p) => s + p.value, 0))));
  const chart = svg("svg", {
    viewBox: `0 0 ${width} ${height}`,
    role: "img",
    "aria-label": title,
    class: "chart",
    preserveAspectRatio: "none",
  });
  chart.append(svg("title", {}, title));
  const inner = { w: width - pad.left - pad.right, h: height - pad.top - pad.bottom };
  const step = inner.w / Math.max(1, bars.length);
  for (const frac of [0, 0.5, 1]) {
    const y = pad.top + inner.h * (1 - frac);
    chart.append(svg("line", { x1: pad.left, x2: width - pad.right, y1: y, y2: y, class: "grid" }));
    chart.append(svg("text", { x: pad.left - 4, y: y + 4, class: "axis", "text-anchor": "end" }, String(Math.round(max * frac))));
  }
  bars.forEach((bar, i) => {
    let y = pad.top + inner.h;
    for (const part of bar.parts) {
      if (!part.value) continue;
      const hgt = (part.value / max) * inner.h;
      y -= hgt;
      const rect = svg("rect", { x: pad.left + i * step + step * 0.1, y, width: step * 0.8, height: hgt, class: `part ${part.name}` });
      rect.append(svg("title", {}, `${bar.label}: ${part.value} ${part.name}`));
      chart.append(rect);
    }
    const label = xLabels(bar, i);
    if (label) chart.append(svg("text", { x: pad.left + i * step + step / 2, y: height - 6, class: "axis", "text-anchor": "middle" }, label));
  });
  return chart;
}
