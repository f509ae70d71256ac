// The dashboard's frame: the router (#/, #/jobs, #/job/<uuid>, #/queues, #/workers), the token
// prompt, and what every page shares (refreshing every few seconds, stopping when it is left,
// and showing errors).

import { forgetToken, NeedsToken, setToken, token } from "./api.js";
import { h, replace } from "./dom.js";
import * as job from "./job.js";
import * as jobs from "./jobs.js";
import * as overview from "./overview.js";
import * as queues from "./queues.js";
import * as workers from "./workers.js";

const PAGES = { overview, jobs, job, queues, workers };
//: How often a page asks the server again.
export const REFRESH_MS = 2000;

const main = document.getElementById("main");
const notice = document.getElementById("notice");
let leave = () => {};

function route() {
  const [name, ...rest] = location.hash.replace(/^#\/?/, "").split("/");
  const page = name || "overview";
  return { page: PAGES[page] ? page : "overview", arg: rest.map(decodeURIComponent).join("/") };
}

function show(message) {
  notice.hidden = !message;
  notice.textContent = message || "";
}

function askForToken(refused) {
  leave();
  leave = () => {};
  const input = h("input", { type: "password", id: "token", name: "token", autocomplete: "off", required: true });
  const form = h(
    "form",
    { id: "token-form", className: "card narrow" },
    h("h1", {}, "API token"),
    h("p", {}, "This server needs its API token (ZEROG_API_TOKEN). It is kept in this tab only, never in a link."),
    refused ? h("p", { id: "token-error", className: "error", role: "alert" }, "The token was refused.") : null,
    h("label", { for: "token" }, "Token"),
    input,
    h("button", { type: "submit" }, "Use token"),
  );
  form.addEventListener("submit", (e) => {
    e.preventDefault();
    setToken(input.value);
    render();
  });
  replace(main, form);
  input.focus();
}

function fail(e) {
  if (e instanceof NeedsToken) {
    // The page's other requests fail the same way: the prompt is drawn once.
    if (document.getElementById("token-form")) return;
    if (e.refused) forgetToken();
    askForToken(e.refused);
  } else {
    show(`Error: ${e.message}`);
  }
}

function render() {
  leave();
  show("");
  document.getElementById("forget-token").hidden = !token();
  const { page, arg } = route();
  for (const a of document.querySelectorAll("nav a")) {
    a.classList.toggle("current", a.dataset.page === page || (page === "job" && a.dataset.page === "jobs"));
  }
  const timers = [];
  const stops = [];
  const ctx = {
    main,
    arg,
    fail,
    show,
    rerender: render,
    // Runs fn now and every ms until the page is left; a failure stops the refreshing
    // only when it is the token's.
    every(fn, ms = REFRESH_MS) {
      const tick = () => Promise.resolve(fn()).then(() => show(""), fail);
      tick();
      timers.push(setInterval(tick, ms));
    },
    onLeave(stop) {
      stops.push(stop);
    },
  };
  replace(main);
  leave = () => {
    timers.forEach(clearInterval);
    stops.forEach((s) => s());
  };
  PAGES[page].render(ctx);
}

document.getElementById("forget-token").addEventListener("click", () => {
  forgetToken();
  render();
});
window.addEventListener("hashchange", render);
render();
