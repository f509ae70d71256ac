// The fleet: live workers grouped by host, each with its state, time in state, running job and
// memory, and drain, undrain and retire for one worker or a whole host.

import { get, post } from "./api.js";
import { confirmed, duration, h, jobLink, mib, replace, table } from "./dom.js";

const ACTIONS = ["drain", "undrain", "retire"];

export function render(ctx) {
  const hosts = h("div", { id: "hosts" });
  ctx.main.append(h("h1", {}, "Workers"), hosts);

  const steer = async (path, action, what) => {
    // Retiring cannot be undone: the processes exit once idle.
    const question = action === "retire" ? `Retire ${what}? Its processes exit once idle and are not replaced.` : `${action[0].toUpperCase() + action.slice(1)} ${what}?`;
    if (!confirmed(question)) return;
    try {
      await post(path);
      ctx.show(`${action}: sent to ${what}`);
    } catch (e) {
      ctx.fail(e);
    }
  };
  const buttons = (base, what) => ACTIONS.map((a) =>
    h("button", { type: "button", className: `steer ${a}`, "data-action": a, onclick: () => steer(`${base}/${a}`, a, what) }, a));

  ctx.every(async () => {
    const { workers } = await get("/workers");
    const byHost = new Map();
    for (const w of workers) byHost.set(w.host, [...(byHost.get(w.host) || []), w]);
    if (!byHost.size) {
      replace(hosts, h("p", { className: "muted" }, "No live workers. Start some with zerog-worker."));
      return;
    }
    replace(hosts, [...byHost].map(([host, ws]) => h("section", { className: "host", "data-host": host },
      h("h2", {}, `Host ${host}`, " ", h("span", { className: "row-actions" }, buttons(`/hosts/${encodeURIComponent(host)}`, `every worker on ${host}`))),
      table(["worker", "state", "in state", "job", "memory used", ""],
        ws.map((w) => h("tr", { "data-worker": w.workerId },
          h("td", { className: "mono" }, w.workerId), h("td", {}, w.state + (w.retiring ? " (retiring)" : "")),
          h("td", {}, duration(w.mem && w.mem.inStateSeconds)), h("td", {}, jobLink(w.runningJobUuid)),
          h("td", { className: "num" }, mib(w.mem && w.mem.used)),
          h("td", { className: "row-actions" }, buttons(`/workers/${encodeURIComponent(w.workerId)}`, w.workerId))))))));
  }, 3000);
}
