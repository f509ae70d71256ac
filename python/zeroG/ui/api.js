// Talking to zerog-server: JSON routes with the API token, and a job's /watch stream.
//
// The token is kept in this tab's session storage: it goes with every request as a bearer
// header and never into a URL, so it is not in the history, a log or a Referer. It is gone
// when the tab closes.

const TOKEN_KEY = "zerog-api-token";

export class NeedsToken extends Error {
  constructor(refused) {
    super(refused ? "The token was refused" : "This server needs its API token");
    this.refused = refused;
  }
}

export class ApiError extends Error {
  constructor(status, message) {
    super(message);
    this.status = status;
  }
}

export function token() {
  return sessionStorage.getItem(TOKEN_KEY);
}

export function setToken(value) {
  sessionStorage.setItem(TOKEN_KEY, value);
}

export function forgetToken() {
  sessionStorage.removeItem(TOKEN_KEY);
}

function headers(extra) {
  const h = { Accept: "application/json", ...extra };
  const t = token();
  if (t) h.Authorization = `Bearer ${t}`;
  return h;
}

// `sent`: the token the request carried. A 401 to a request that carried one means that token
// was refused (asked now, the token may already be forgotten by another request's answer).
async function answer(response, sent) {
  if (response.status === 401) throw new NeedsToken(Boolean(sent));
  let body = null;
  try {
    body = await response.json();
  } catch {
    // not JSON: a proxy's error page, say
  }
  if (!response.ok) {
    throw new ApiError(response.status, (body && body.error) || `${response.status} ${response.statusText}`);
  }
  return body;
}

export async function get(path) {
  const sent = token();
  return answer(await fetch(path, { headers: headers(), cache: "no-store" }), sent);
}

export async function post(path) {
  const sent = token();
  return answer(await fetch(path, { method: "POST", headers: headers() }), sent);
}

// Follows GET /watch/{uuid} (Server-Sent Events) and calls onEvent(name, data) for each event
// until the job ends or stop() is called. EventSource cannot send a header, so the stream is read
// through fetch, which can.
export function watch(uuid, onEvent, onError) {
  const control = new AbortController();
  (async () => {
    const response = await fetch(`/watch/${encodeURIComponent(uuid)}`, {
      headers: headers({ Accept: "text/event-stream" }),
      signal: control.signal,
    });
    if (!response.ok) {
      await answer(response, token());
      return;
    }
    const reader = response.body.getReader();
    const decoder = new TextDecoder();
    let buffered = "";
    for (;;) {
      const { value, done } = await reader.read();
      if (done) return;
      buffered += decoder.decode(value, { stream: true });
      let end;
      while ((end = buffered.indexOf("\n\n")) >= 0) {
        const block = buffered.slice(0, end);
        buffered = buffered.slice(end + 2);
        let name = "message";
        const data = [];
        for (const line of block.split("\n")) {
          if (line.startsWith("event: ")) name = line.slice(7);
          else if (line.startsWith("data: ")) data.push(line.slice(6));
        }
        if (data.length) onEvent(name, JSON.parse(data.join("\n")));
      }
    }
  })().catch((e) => {
    if (e.name !== "AbortError") onError(e);
  });
  return () => control.abort();
}
