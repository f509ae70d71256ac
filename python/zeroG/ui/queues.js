// The queues: one row per tube with its entries by state, a kick for buried entries, and a peek
// at the next entry in a state.

import { get, post } from "./api.js";
import { confirmed, h, jobLink, replace, table } from "./dom.js";

const STATES = ["ready", "reserved", "delayed", "buried"];
const PEEKABLE = ["ready", "delayed", "buried"];

export function render(ctx) {
  const rows = h("div", { id: "tubes" });
  const peeked = h("div", { id: "peeked" });
  ctx.main.append(h("h1", {}, "Queues"), rows, peeked);

  const peek = async (tube, state) => {
    try {
      const e = await get(`/queues/${encodeURIComponent(tube)}/peek?state=${state}`);
      let uuid = null;
      try {
        uuid = JSON.parse(e.body);
      } catch {
        // not a zeroG job's body
      }
      replace(peeked, h("section", { className: "card" },
        h("h2", {}, `Next ${state} entry of ${tube}: #${e.id}`),
        typeof uuid === "string" ? h("p", {}, "Job ", jobLink(uuid)) : null,
        h("h3", {}, "Body"), h("pre", { className: "doc", id: "peeked-body" }, e.body),
        e.stats ? [h("h3", {}, "Stats"), h("pre", { className: "doc" }, JSON.stringify(e.stats, null, 2))] : null));
    } catch (err) {
      if (err.status === 404) replace(peeked, h("p", { className: "muted" }, err.message));
      else ctx.fail(err);
    }
  };

  const kick = async (tube, n) => {
    if (!confirmed(`Kick ${n} entr${n === 1 ? "y" : "ies"} of ${tube} back to ready?`)) return;
    try {
      const done = await post(`/queues/${encodeURIComponent(tube)}/kick?n=${n}`);
      ctx.show(`Kicked ${done.kicked} in ${tube}`);
    } catch (err) {
      ctx.fail(err);
    }
  };

  ctx.every(async () => {
    const { tubes } = await get("/queues");
    replace(rows, table([...["tube"], ...STATES, ""],
      Object.entries(tubes).map(([tube, s]) => {
        const which = h("select", { "aria-label": `state to peek in ${tube}` }, PEEKABLE.map((st) => h("option", { value: st }, st)));
        return h("tr", { "data-tube": tube },
          h("td", {}, tube), STATES.map((k) => h("td", { className: "num" }, s[k])),
          h("td", { className: "row-actions" },
            h("button", { type: "button", className: "kick", disabled: s.buried + s.delayed === 0, onclick: () => kick(tube, s.buried || s.delayed) }, "Kick"),
            which, h("button", { type: "button", className: "peek", onclick: () => peek(tube, which.value) }, "Peek")));
      }),
      { empty: "No tubes yet" }));
  });
}
