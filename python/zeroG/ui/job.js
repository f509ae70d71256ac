// One job: a progress bar and a timeline that move live (fed by /watch), its attempts, result
// and whole document, and the actions cancel and run again, each confirmed first.

import { get, post, watch } from "./api.js";
import { badge, confirmed, h, progressBar, replace, when } from "./dom.js";

const FINAL = ["done", "failed", "cancelled"];
const LOGS = [["events", "event"], ["warnings", "warning"], ["errors", "error"]];

function entry(kind, e) {
  const code = kind === "error" && e.errorCode !== undefined ? ` ${e.errorCode}` : "";
  return h("li", { className: `entry ${kind}`, "data-time": e.timeStamp || "" },
    h("time", {}, when(e.timeStamp)), h("span", { className: "kind" }, kind + code),
    h("span", { className: "msg" }, typeof e.msg === "string" ? e.msg : JSON.stringify(e.msg)));
}

// Keeps the timeline in time order as entries arrive from three lists.
function insert(list, item) {
  for (const placeholder of list.querySelectorAll(".muted")) placeholder.remove();
  const t = item.dataset.time;
  const later = [...list.children].find((li) => li.dataset.time > t);
  list.insertBefore(item, later || null);
}

export function render(ctx) {
  const uuid = ctx.arg;
  const head = h("div", { className: "job-head" });
  const bar = h("div", { id: "job-progress" });
  const facts = h("dl", { className: "facts", id: "job-facts" });
  const actions = h("div", { className: "actions", id: "job-actions" });
  const timeline = h("ol", { className: "timeline", id: "timeline" });
  const whole = h("pre", { id: "document", className: "doc" });
  ctx.main.append(
    h("h1", {}, "Job ", h("span", { className: "mono" }, uuid)), head, bar, actions,
    h("div", { className: "two" },
      h("section", {}, h("h2", {}, "Timeline"), timeline),
      h("section", {}, h("h2", {}, "Details"), facts)),
    h("details", {}, h("summary", {}, "Whole document"), whole),
  );

  const act = async (path, question) => {
    if (!confirmed(question)) return;
    try {
      await post(path);
      await refresh();
      if (path.startsWith("/run-again/")) follow();
    } catch (e) {
      ctx.fail(e);
    }
  };

  const showProgress = (p) => {
    replace(bar, progressBar(p.completeness, p.status));
    replace(head, h("span", {}, jobType), " ", badge(p.status));
  };
  let jobType = "";

  const refresh = async () => {
    // The whole document, its log lists included (/dump leaves them out unless asked).
    const doc = await get(`/dump/${encodeURIComponent(uuid)}?showLogs=true`);
    jobType = doc.jobType;
    showProgress({ completeness: doc.completeness, status: doc.status });
    const fact = (k, v) => [h("dt", {}, k), h("dd", {}, v === undefined || v === null ? "-" : String(v))];
    replace(facts,
      fact("status", doc.status), fact("result", doc.resultCode), fact("attempts", doc.attempts),
      fact("retries", doc.retries), fact("errors", (doc.errors || []).length), fact("tube", doc.queueName),
      fact("created", when(doc.createdAt)), fact("started", when(doc.startedAt)),
      fact("finished", when(doc.finishedAt)), fact("worker", doc.workerId));
    replace(timeline);
    for (const [list, kind] of LOGS) for (const e of doc[list] || []) insert(timeline, entry(kind, e));
    if (!timeline.children.length) timeline.append(h("li", { className: "muted" }, "Nothing logged yet"));
    whole.textContent = JSON.stringify(doc, null, 2);
    const final = FINAL.includes(doc.status);
    replace(actions,
      !final ? h("button", { type: "button", id: "cancel", className: "danger", onclick: () => act(`/cancel/${uuid}`, `Cancel job ${uuid}?`) }, "Cancel") : null,
      ["failed", "cancelled"].includes(doc.status)
        ? h("button", { type: "button", id: "run-again", onclick: () => act(`/run-again/${uuid}`, `Run job ${uuid} again?`) }, "Run again")
        : null);
    return doc;
  };

  let stop = () => {};
  const follow = () => {
    stop();
    // The stream starts with every entry so far: it refills the timeline.
    replace(timeline);
    stop = watch(uuid, (name, data) => {
      if (name === "progress") showProgress(data);
      else if (name === "end" || name === "gone") refresh().catch(ctx.fail);
      else if (["event", "warning", "error"].includes(name)) insert(timeline, entry(name, data));
    }, ctx.fail);
  };
  ctx.onLeave(() => stop());
  refresh().then((doc) => { if (!FINAL.includes(doc.status)) follow(); }, ctx.fail);
}
