// The overview: jobs by status, queue depth per tube, jobs finished per minute in the last hour,
// the run-time distribution, and workers by state.

import { get } from "./api.js";
import { barChart } from "./charts.js";
import { h, replace, table } from "./dom.js";

// The final statuses, stacked in this order in the throughput chart.
const FINAL = ["done", "failed", "cancelled"];

function bound(seconds) {
  if (seconds === null) return "more";
  return seconds < 1 ? `${seconds * 1000} ms` : seconds < 60 ? `${seconds} s` : seconds < 3600 ? `${seconds / 60} min` : `${seconds / 3600} h`;
}

export function render(ctx) {
  const counts = h("div", { className: "cards", id: "job-counts" });
  const tubes = h("div", { id: "queue-depths" });
  const throughput = h("div", { className: "chart-box", id: "throughput" });
  const runTimes = h("div", { className: "chart-box", id: "run-times" });
  const fleet = h("div", { id: "worker-states" });
  ctx.main.append(
    h("h1", {}, "Overview"),
    h("section", {}, h("h2", {}, "Jobs by status"), counts),
    h("div", { className: "two" },
      h("section", {}, h("h2", {}, "Finished per minute, last hour"), throughput),
      h("section", {}, h("h2", {}, "Run times"), runTimes)),
    h("div", { className: "two" },
      h("section", {}, h("h2", {}, "Queues"), tubes),
      h("section", {}, h("h2", {}, "Workers by state"), fleet)),
  );
  ctx.every(async () => {
    const o = await get("/overview");
    replace(counts, Object.entries(o.jobs).map(([status, n]) =>
      h("a", { className: `card count ${status}`, href: `#/jobs/${new URLSearchParams({ status })}` },
        h("span", { className: "n" }, n.toLocaleString()), h("span", { className: "label" }, status))));
    replace(tubes, table(["tube", "ready", "reserved", "delayed", "buried"],
      Object.entries(o.queues).map(([tube, s]) =>
        h("tr", {}, h("td", {}, tube), ["ready", "reserved", "delayed", "buried"].map((k) => h("td", { className: "num" }, s[k])))),
      { empty: "No tubes yet" }));
    const minutes = o.perMinute.map((m) => ({ label: m.minute.slice(11), parts: FINAL.map((name) => ({ name, value: m[name] || 0 })) }));
    replace(throughput, barChart(minutes, {
      title: "Jobs finished per minute, by final status",
      xLabels: (bar, i) => (i % 10 === 0 ? bar.label : ""),
    }), h("p", { className: "legend" }, FINAL.map((s) => h("span", { className: `key ${s}` }, s))));
    const buckets = o.runTimes.bounds.map((b, i) => ({ label: `≤ ${bound(b)}`, parts: [{ name: "done", value: o.runTimes.runs[i] }] }));
    replace(runTimes, barChart(buckets, { title: "How long runs took", xLabels: (bar) => bar.label.replace("≤ ", "") }));
  });
  ctx.every(async () => {
    const { workers } = await get("/workers");
    const byState = {};
    for (const w of workers) byState[w.state] = (byState[w.state] || 0) + 1;
    replace(fleet, table(["state", "workers"],
      Object.entries(byState).map(([state, n]) => h("tr", {}, h("td", {}, state), h("td", { className: "num" }, n))),
      { empty: "No live workers" }));
  }, 5000);
}
