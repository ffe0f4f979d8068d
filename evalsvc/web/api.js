// REST calls with the bearer token; errors carry the server's problem `code`, `field`
// and `errors` (RFC 9457 documents, docs/api.md) for the Chinese dictionary to word.

export class ApiError extends Error {
  constructor(status, problem) {
    super(problem.code || "internal_error");
    this.status = status;
    this.code = problem.code || (status === 401 ? "unauthenticated" : "internal_error");
    this.field = problem.field || null;
    this.errors = problem.errors || [];
  }
}

let token = "";

export function setToken(t) {
  token = t;
}

export function getToken() {
  return token;
}

export async function api(method, path, { body, headers = {}, text = false } = {}) {
  const h = { Authorization: `Bearer ${token}`, ...headers };
  const init = { method, headers: h };
  if (body !== undefined) {
    h["Content-Type"] = "application/json";
    init.body = JSON.stringify(body);
  }
  let r;
  try {
    r = await fetch(path, init);
  } catch {
    throw new ApiError(0, { code: "network" });
  }
  const type = r.headers.get("Content-Type") || "";
  if (!r.ok) {
    const problem = type.includes("json") ? await r.json().catch(() => ({})) : {};
    throw new ApiError(r.status, problem);
  }
  if (text) return r.text();
  return type.includes("json") ? r.json() : r.text();
}

export const get = (path) => api("GET", path);
