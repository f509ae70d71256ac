// Building the page. Everything a job or a worker says (its type, events, errors, document) is
// put in as text, never as markup: h() makes text nodes of strings, and nothing here sets
// innerHTML. A job whose events hold <script> shows those characters and runs nothing.

export function h(tag, attrs, ...children) {
  const el = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs || {})) {
    if (value === null || value === undefined || value === false) continue;
    if (name.startsWith("on")) el.addEventListener(name.slice(2), value);
    else if (name === "className") el.className = value;
    else el.setAttribute(name, value === true ? "" : String(value));
  }
  append(el, children);
  return el;
}

function append(el, children) {
  for (const child of children.flat()) {
    if (child === null || child === undefined || child === false) continue;
    el.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
}

export function replace(el, ...children) {
  el.replaceChildren();
  append(el, children);
  return el;
}

export function table(headers, rows, opts = {}) {
  return h(
    "div",
    { className: "scroll" },
    h(
      "table",
      { id: opts.id },
      h("thead", {}, h("tr", {}, headers.map((t) => h("th", {}, t)))),
      h("tbody", {}, rows.length ? rows : h("tr", {}, h("td", { colspan: headers.length, className: "muted" }, opts.empty || "None"))),
    ),
  );
}

export function progressBar(completeness, status) {
  const pct = Math.max(0, Math.min(100, Math.round((Number(completeness) || 0) * 100)));
  const fill = h("span", { className: `fill ${status || ""}` });
  fill.style.width = `${pct}%`;
  return h(
    "span",
    { className: "bar", role: "progressbar", "aria-valuemin": 0, "aria-valuemax": 100, "aria-valuenow": pct },
    fill,
    h("span", { className: "pct" }, `${pct}%`),
  );
}

export function badge(status) {
  return h("span", { className: `badge ${status || "unknown"}` }, status || "unknown");
}

export function jobLink(uuid) {
  return uuid ? h("a", { href: `#/job/${encodeURIComponent(uuid)}`, className: "mono" }, uuid) : "-";
}

export function when(iso) {
  if (!iso) return "-";
  const t = new Date(iso);
  return Number.isNaN(t.getTime()) ? String(iso) : t.toLocaleString();
}

export function mib(bytes) {
  return typeof bytes === "number" ? `${Math.round(bytes / 2 ** 20)} MiB` : "-";
}

export function duration(seconds) {
  if (typeof seconds !== "number") return "-";
  const hours = Math.floor(seconds / 3600);
  const minutes = Math.floor((seconds % 3600) / 60);
  if (hours) return `${hours}h ${String(minutes).padStart(2, "0")}m`;
  return minutes ? `${minutes}m ${String(seconds % 60).padStart(2, "0")}s` : `${seconds}s`;
}

// Asks first: every action that changes a job or a worker is confirmed.
export function confirmed(question) {
  return window.confirm(question);
}
