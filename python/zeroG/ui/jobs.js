// The jobs list: filtered by status and type, a search by uuid, a page at a time, refreshed
// live. The filters live in the address (#/jobs/status=failed&type=x), so a view can be shared.

import { get } from "./api.js";
import { badge, h, jobLink, progressBar, replace, table, when } from "./dom.js";

const PAGE = 50;
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

export function render(ctx) {
  const filters = new URLSearchParams(ctx.arg);
  const status = h("select", { id: "status-filter", name: "status" }, h("option", { value: "" }, "any status"));
  const type = h("input", { id: "type-filter", name: "type", placeholder: "job type", value: filters.get("type") || "" });
  const search = h("input", { id: "uuid-search", name: "uuid", placeholder: "uuid", size: 36 });
  const rows = h("div", { id: "job-list" });
  const pager = h("p", { className: "pager" });
  // The cursors of the pages before this one: "Previous" pops one.
  const cursors = [];
  let cursor = null;

  const apply = () => {
    const next = new URLSearchParams();
    if (status.value) next.set("status", status.value);
    if (type.value.trim()) next.set("type", type.value.trim());
    location.hash = `#/jobs/${next}`;
  };
  status.addEventListener("change", apply);
  const form = h("form", { className: "filters" }, status, type, h("button", { type: "submit" }, "Filter"));
  form.addEventListener("submit", (e) => {
    e.preventDefault();
    apply();
  });
  const find = h("form", { className: "filters" }, search, h("button", { type: "submit" }, "Open"));
  find.addEventListener("submit", (e) => {
    e.preventDefault();
    const uuid = search.value.trim();
    if (UUID.test(uuid)) location.hash = `#/job/${uuid.toLowerCase()}`;
    else ctx.show(`Not a uuid: ${uuid}`);
  });
  ctx.main.append(h("h1", {}, "Jobs"), h("div", { className: "toolbar" }, form, find), rows, pager);

  const load = async () => {
    const q = new URLSearchParams({ limit: PAGE });
    for (const k of ["status", "type"]) if (filters.get(k)) q.set(k, filters.get(k));
    if (cursor) q.set("cursor", cursor);
    const [page, overview] = await Promise.all([get(`/jobs?${q}`), status.options.length > 1 ? null : get("/overview")]);
    if (overview) {
      // The statuses the store counts: the filter offers exactly those.
      for (const s of Object.keys(overview.jobs)) status.append(h("option", { value: s, selected: s === filters.get("status") }, s));
    }
    replace(rows, table(["uuid", "type", "status", "progress", "result", "attempts", "updated"],
      page.jobs.map((d) => h("tr", {},
        h("td", {}, jobLink(d.uuid)), h("td", {}, d.jobType), h("td", {}, badge(d.status)),
        h("td", {}, progressBar(d.completeness, d.status)), h("td", { className: "num" }, d.resultCode),
        h("td", { className: "num" }, d.attempts), h("td", {}, when(d.updatedAt)))),
      { empty: "No jobs match" }));
    replace(pager,
      cursors.length ? h("button", { type: "button", onclick: () => { cursor = cursors.pop(); load().catch(ctx.fail); } }, "Previous page") : null,
      page.next ? h("button", { type: "button", id: "next-page", onclick: () => { cursors.push(cursor); cursor = page.next; load().catch(ctx.fail); } }, "Next page") : null);
  };
  ctx.every(load);
}
